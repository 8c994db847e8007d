"""L2 sparsity: the derived neuron cost, the tight example's factorisation, spectrum and costs."""
import numpy as np
import sympy as sp
from hypothesis import given, settings, strategies as st

from lazyrich.theory import l2_sparsity as T
from lazyrich.theory.derived import derive


@settings(max_examples=30, deadline=None)
@given(st.floats(1e-3, 1e3), st.floats(1e-3, 1e3), st.floats(1e-2, 1e2))
def test_neuron_cost_is_the_least_rescaled_norm(na, nw, c):
    least = float(T.neuron_cost().subs({T.norm_a: na, T.norm_w: nw}))
    assert np.isclose(least, 2 * na * nw, rtol=1e-12)
    assert c ** 2 * nw ** 2 + na ** 2 / c ** 2 >= least * (1 - 1e-12)  # any other scale costs more


@settings(max_examples=5, deadline=None)
@given(st.sampled_from([2, 4, 6, 8, 10]))
def test_tight_example_factorisation_spectrum_and_cost(n):
    Y = T.tight_targets(n)
    vectors = T.tight_factorisation(n)
    assert len(vectors) == n * n // 4 == T.tight_cost()[1].subs(T.N, n)
    spectrum = {sp.sympify(k).subs(T.N, n): sp.sympify(v).subs(T.N, n) for k, v in T.tight_spectrum().items()}
    spectrum = {k: v for k, v in spectrum.items() if v > 0}
    assert Y.eigenvals() == spectrum
    # the edge neurons cost exactly the nuclear-norm bound 2 |Y|_* = 2 tr Y
    assert 2 * Y.trace() == T.tight_cost()[0].subs(T.N, n) == sum(2 * (v.T * v)[0] for v in vectors)


def test_tight_targets_refuse_odd_sizes():
    for n in (1, 3, 5):
        try:
            T.tight_targets(n)
        except ValueError as exc:
            assert "even" in str(exc)
        else:
            raise AssertionError(f"N = {n} accepted")


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([2, 4, 6, 8]), st.floats(1e-6, 0.4))
def test_finite_lambda_cost_is_the_soft_thresholded_nuclear_norm(n, lam):
    """Soft-threshold the eigenvalues of Y_N numerically and compare with the derived (and compiled) value."""
    Y = np.array(T.tight_targets(n), dtype=float)
    s, U = np.linalg.eigh(Y)
    t = np.where(s > 1e-9, s - lam * n, 0.0)  # the proximal map of 2 lam N |.|_* at Y
    F = (U * t) @ U.T
    assert np.isclose(2 * t.sum(), float(T.finite_lambda_cost().subs({T.N: n, T.lam: lam})), rtol=1e-12)
    compiled = derive("l2-representation-cost").compile("numpy", "finite")
    assert np.isclose(compiled(N=n, **{"lambda": lam}), 2 * t.sum(), rtol=1e-12)
    # F minimises (1/N)|F - Y|^2 + 2 lam |F|_*: no random PSD step lowers it
    obj = lambda M: ((M - Y) ** 2).sum() / n + 2 * lam * np.abs(np.linalg.eigvalsh(M)).sum()  # noqa: E731
    rng = np.random.default_rng(n)
    for _ in range(5):
        D = rng.standard_normal((n, n)) * 1e-3
        assert obj(F + D + D.T) >= obj(F) - 1e-12


def test_limit_and_bounds():
    assert sp.limit(T.finite_lambda_cost(), T.lam, 0) == T.N ** 2
    assert T.neuron_bounds() == (T.N * (T.N + 1), T.N + 1)
