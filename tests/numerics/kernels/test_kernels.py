"""Kernels: analytic against mpmath and Monte Carlo, closed form against torch.func, compressed coordinates."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lazyrich.numerics import ntk as K
from lazyrich.numerics.data import make
from lazyrich.theory import derive


def _inputs(seed, p, d, spread=True):
    """Points off the unit sphere: random directions with norms from 0.05 to 20 (the bias matters)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((p, d))
    if spread:
        X *= np.exp(rng.uniform(np.log(0.05), np.log(20.0), (p, 1))) / np.linalg.norm(X, axis=1, keepdims=True)
    return X


def _params(h, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*s, generator=g, dtype=torch.float64) for s in ((h, d), (h,), (h,)))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10 ** 6), d=st.integers(1, 8), kind=st.sampled_from(K.KINDS))
def test_analytic_kernel_against_mpmath_quadrature(seed, d, kind):
    X = _inputs(seed, 3, d)
    X[2] = 1.7 * X[0]  # collinear: the same augmented direction only if the bias agrees, which it does not
    Kt = K.analytic_kernel(X, kind=kind).numpy()
    for i, j in ((0, 1), (0, 2), (1, 1), (2, 0)):
        exact = float(K.analytic_kernel_mp(X[i], X[j], kind=kind, dps=30))
        assert abs(Kt[i, j] - exact) < 1e-12 * max(1.0, abs(exact))


@pytest.mark.parametrize("kind,name,label", [("ntk", "ntk-infinite", "Theta"), ("nngp", "nngp", "K")])
def test_analytic_kernel_is_the_derived_object(kind, name, label):
    X, Xp = _inputs(1, 20, 4), _inputs(2, 15, 4)
    ours = K.analytic_kernel(X, Xp, kind=kind).numpy()
    for backend in ("numpy", "torch"):
        derived = derive(name).compile(backend, label)
        args = {"x": X, "xp": Xp} if backend == "numpy" else {"x": torch.as_tensor(X), "xp": torch.as_tensor(Xp)}
        value = derived(**args)
        value = value.numpy() if backend == "torch" else value
        assert np.allclose(value, ours, rtol=1e-12, atol=1e-12)
    # and the arccos form found in the literature, away from parallel inputs
    d = X.shape[1]
    s = np.sqrt((X ** 2).sum(1) / d + 1)[:, None] * np.sqrt((Xp ** 2).sum(1) / d + 1)[None]
    Sigma = X @ Xp.T / d + 1
    theta = np.arccos(np.clip(Sigma / s, -1, 1))
    w = 2 if kind == "ntk" else 1
    assert np.allclose(ours, (s * np.sin(theta) + w * (np.pi - theta) * Sigma) / (2 * np.pi), rtol=1e-10)


def test_analytic_diagonal_is_exact():
    """Theta(x, x) = s^2 = |x|^2/d + 1 and K(x, x) = s^2/2, to rounding, also for huge and tiny |x|."""
    X = _inputs(3, 50, 6)
    s2 = (X ** 2).sum(1) / 6 + 1
    assert np.allclose(np.diag(K.analytic_kernel(X).numpy()), s2, rtol=1e-14)
    assert np.allclose(np.diag(K.analytic_kernel(X, kind="nngp").numpy()), s2 / 2, rtol=1e-14)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10 ** 6), d=st.integers(1, 6), p=st.integers(1, 9), q=st.integers(1, 7),
       h=st.integers(1, 40), tile=st.integers(1, 10))
def test_closed_form_agrees_with_torch_func_and_derived(seed, d, p, q, h, tile):
    X, Xp = _inputs(seed, p, d), _inputs(seed + 1, q, d)
    omega, b, beta = _params(h, d, seed)
    params = {"omega": omega, "b": b, "beta": beta}
    gram = K.empirical_ntk(omega, b, beta, X, tile=tile)
    cross = K.empirical_ntk(omega, b, beta, X, Xp, tile=tile)
    assert torch.allclose(gram, K.jacobian_ntk(K.ntk_parametrization, params, X), rtol=0, atol=1e-10)
    assert torch.allclose(cross, K.jacobian_ntk(K.ntk_parametrization, params, X, Xp), rtol=0, atol=1e-10)
    assert torch.allclose(gram, K.ntk_vector_products(K.ntk_parametrization, params, X, chunk_size=3),
                          rtol=0, atol=1e-10)
    derived = h * derive("ntk-finite").compile("torch", "Theta")(
        omega=omega, b=b, beta=beta, x=torch.as_tensor(X), xp=torch.as_tensor(Xp))
    assert torch.allclose(cross, derived, rtol=0, atol=1e-10)
    assert torch.equal(gram, gram.T)


def test_kernels_are_symmetric_positive_semidefinite():
    X = make("sphere", 120, 4, seed=0).X * 3
    for Km in (K.analytic_kernel(X), K.analytic_kernel(X, kind="nngp"), K.empirical_ntk(*_params(64, 4), X)):
        assert torch.equal(Km, Km.T)
        assert torch.linalg.eigvalsh(Km)[0] > -1e-10 * Km.diagonal().max()


def test_tiles_write_into_a_memmap(tmp_path):
    X = _inputs(5, 37, 3)
    params = _params(16, 3)
    out = np.lib.format.open_memmap(tmp_path / "K.npy", mode="w+", dtype=np.float64, shape=(37, 37))
    K.empirical_ntk(*params, X, tile=8, out=out)
    out.flush()
    assert np.allclose(np.load(tmp_path / "K.npy"), K.empirical_ntk(*params, X, tile=100).numpy(), rtol=1e-13, atol=1e-14)
    an = np.lib.format.open_memmap(tmp_path / "A.npy", mode="w+", dtype=np.float64, shape=(37, 37))
    K.analytic_kernel(X, tile=5, out=an)
    assert np.allclose(an, K.analytic_kernel(X).numpy(), rtol=1e-13, atol=1e-14)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10 ** 6), d=st.integers(1, 6))
def test_empirical_converges_to_analytic_like_h_to_the_minus_half(seed, d):
    X = torch.as_tensor(_inputs(seed, 5, d))
    exact = K.analytic_kernel(X)
    # one wide network: every entry within 5 Monte Carlo standard errors of the limit
    omega, b, beta = _params(20000, d, seed)
    terms = K.neuron_terms(omega, b, beta, X)
    assert torch.allclose(terms.mean(0), K.empirical_ntk(omega, b, beta, X), atol=1e-10)
    spread = terms.std(0)
    se = spread / math.sqrt(terms.shape[0])
    assert ((terms.mean(0) - exact).abs() <= 5 * se + 1e-12).all()
    # the rms error over seeds falls like h^-1/2. Each entry's error is measured in units of its own
    # spread over neurons: otherwise the entries of the largest inputs (|x| up to 20) dominate and
    # 24 seeds of their heavy-tailed errors make the fitted slope noisy (seed 197990, d = 1: -0.63)
    widths = [64, 256, 1024, 4096]
    rms = [math.sqrt(np.mean([float((((K.empirical_ntk(*_params(h, d, seed + 7 * s), X) - exact) / spread) ** 2)
                                    .mean()) for s in range(24)])) for h in widths]
    slope = np.polyfit(np.log(widths), np.log(rms), 1)[0]
    assert -0.62 < slope < -0.38, (slope, rms)


def test_nngp_is_the_mean_of_relu_products():
    """The NNGP against its definition, E[relu(u) relu(u')], by Monte Carlo over 2e5 neurons."""
    X = torch.as_tensor(_inputs(9, 4, 3))
    omega, b, _ = _params(200000, 3, 1)
    A = torch.relu(X @ omega.T / math.sqrt(3) + b)
    prod = torch.einsum("pn,qn->npq", A, A)
    se = prod.std(0) / math.sqrt(prod.shape[0])
    assert ((prod.mean(0) - K.analytic_kernel(X, kind="nngp")).abs() <= 5 * se).all()


def test_compressed_parts_are_the_derived_decomposition():
    X, Xp = _inputs(11, 8, 4), _inputs(12, 6, 4)
    omega, b, beta = _params(30, 4)
    omega[:, 1:] = 0
    par, perp = K.compressed_ntk_parts(omega, b, beta, X, Xp, informative=(0,))
    obj = derive("ntk-compressed")
    mask = np.array([1.0, 0, 0, 0])
    args = dict(omega=omega, b=b, beta=beta, x_par=torch.as_tensor(X * mask), x_perp=torch.as_tensor(X * (1 - mask)),
                xp_par=torch.as_tensor(Xp * mask), xp_perp=torch.as_tensor(Xp * (1 - mask)))
    assert torch.allclose(par, 30 * obj.compile("torch", "Theta_par")(**args), atol=1e-12)
    assert torch.allclose(perp, 30 * obj.compile("torch", "Theta_perp")(**args), atol=1e-12)
    perp_dot = torch.as_tensor((X * (1 - mask)) @ (Xp * (1 - mask)).T)
    assert torch.allclose(par + perp * perp_dot, K.empirical_ntk(omega, b, beta, X, Xp), atol=1e-12)
    omega[0, 2] = 1e-3
    with pytest.raises(K.KernelError, match="not compressed"):
        K.compressed_ntk_parts(omega, b, beta, X)


def test_compressed_spectrum_is_two_families():
    """Stripe data, a compressed network: the top eigenvalues of K/p are those of Theta_par, and
    those of Theta_perp (x_perp standard normal: c = 1) each repeated d - 1 times."""
    p, d = 600, 3
    X = make("stripe", p, d, seed=0).X
    omega, b, beta = _params(150, d)
    omega[:, 1:] = 0
    par, perp = K.compressed_ntk_parts(omega, b, beta, X)
    full = torch.linalg.eigvalsh(K.empirical_ntk(omega, b, beta, X) / p).flip(0)[:8]
    families = torch.cat([torch.linalg.eigvalsh(par / p)] + [torch.linalg.eigvalsh(perp / p)] * (d - 1))
    predicted = families.sort(descending=True).values[:8]
    # a degenerate pair splits by O(p^-1/2) in a finite sample: each eigenvalue within 20 %,
    # the sum of the top 8 within 2 %
    assert torch.allclose(full, predicted, rtol=0.2), (full, predicted)
    assert abs(full.sum() / predicted.sum() - 1) < 0.02


def test_bad_kernel_inputs():
    X = _inputs(0, 5, 3)
    with pytest.raises(K.KernelError, match="NaN"):
        K.analytic_kernel(np.where(np.eye(5, 3) > 0, np.nan, X))
    with pytest.raises(K.KernelError, match="d = 3 but Xp has d = 2"):
        K.analytic_kernel(X, X[:, :2])
    with pytest.raises(K.KernelError, match="unknown kernel kind"):
        K.analytic_kernel(X, kind="rbf")
    with pytest.raises(K.KernelError, match="h = 0"):
        K.empirical_ntk(torch.zeros(0, 3), torch.zeros(0), torch.zeros(0), X)
    with pytest.raises(K.KernelError, match="omega has d = 2"):
        K.empirical_ntk(*_params(4, 2), X)
    with pytest.raises(K.KernelError, match="empty"):
        K.analytic_kernel(np.zeros((0, 3)))
