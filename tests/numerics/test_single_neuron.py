"""The single neuron: integration against the closed forms, conservation of delta, bad problems."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lazyrich.numerics import single_neuron as SN

floats = st.floats(-2, 2, allow_nan=False)


@st.composite
def problem(draw, kind="any"):
    d = draw(st.integers(1, 3)) if kind != "rank1" else draw(st.integers(2, 3))
    vec = lambda lo=-2, hi=2: np.array(draw(st.lists(st.floats(lo, hi), min_size=d, max_size=d)))  # noqa: E731
    if kind == "isotropic":
        sxx = draw(st.floats(0.3, 3)) * np.eye(d)
        sxy = vec()
    elif kind == "rank1":
        e = vec()
        e = e / np.linalg.norm(e) if np.linalg.norm(e) > 0.1 else np.eye(d)[0]
        lam = draw(st.floats(0.3, 3))
        sxx, sxy = lam * np.outer(e, e), draw(st.floats(-2, 2)) * e
    else:
        A = np.array(draw(st.lists(floats, min_size=d * d, max_size=d * d))).reshape(d, d)
        sxx, sxy = A @ A.T + 0.1 * np.eye(d), vec()
    beta0 = vec()
    if np.linalg.norm(beta0) < 0.1:
        beta0 = beta0 + 0.2
    return SN.Problem(sxx, sxy, beta0, draw(st.floats(-4, 4)), draw(st.floats(0.3, 3)), draw(st.floats(0.3, 3)))


@settings(max_examples=15, deadline=None)
@given(problem())
def test_delta_is_conserved_by_the_integration(P):
    run = SN.integrate(P, np.linspace(0, 20, 41))
    drift = np.abs(SN.imbalance(P, run["a"], run["w"]) - P.delta)
    scale = P.eta_w * run["a"] ** 2 + P.eta_a * (run["w"] ** 2).sum(1)
    assert (drift <= 1e-10 * scale).all()


@settings(max_examples=15, deadline=None)
@given(problem("isotropic"))
def test_closed_form_whitened_trajectory_equals_the_integration(P):
    t = np.linspace(0, 20, 21)
    exact, reason = SN.exact_trajectory(P, t)
    if np.linalg.norm(P.sxy) <= 1e-9 * max(1.0, np.linalg.norm(P.beta0)) * P.isotropic():
        assert exact is None and "Sigma_xy = 0" in reason
        return
    sim = SN.integrate(P, t)["beta"]
    assert np.abs(exact - sim).max() <= 1e-8 * max(1.0, np.abs(sim).max())


@settings(max_examples=12, deadline=None)
@given(problem("rank1"))
def test_rank_one_limit_equals_a_long_integration(P):
    closed = SN.implicit_bias(P)
    long = SN.long_integration(P)
    assert np.abs(closed - long["beta"]).max() <= 1e-6 * max(1.0, np.abs(closed).max())


def test_full_rank_limit_and_kernel_distance():
    P = SN.Problem(np.array([[1.0, 0.2], [0.2, 0.5]]), np.array([0.3, 0.4]), np.array([0.4, 0.05]), 0.0)
    out = SN.solve(P, t_max=200, points=11)
    assert out["beta_exact"] is None and out["max_error"] is None and "not a multiple" in out["exact_reason"]
    np.testing.assert_allclose(out["beta_inf"], np.linalg.solve(P.sxx, P.sxy), rtol=1e-12)
    np.testing.assert_allclose(out["beta_simulated"][-1], out["beta_inf"], atol=1e-8)
    S = np.array(out["kernel_distance"])
    assert S[0] < 1e-15 and ((S >= 0) & (S <= 1)).all() and S[-1] > 1e-3


def test_the_closed_form_check_can_fail():
    """A wrong delta in the closed form (the delta of another problem) is caught by max_error."""
    P = SN.Problem(np.eye(2), np.array([0.55, 1.1]), np.array([0.4, 0.05]), -2.0)
    t = np.linspace(0, 10, 11)
    from dataclasses import replace

    wrong, _ = SN.exact_trajectory(replace(P, delta=-1.0), t)
    assert np.abs(wrong - SN.integrate(P, t)["beta"]).max() > 1e-3


@pytest.mark.parametrize("sxx, sxy, beta0, message", [
    ("1,2;0,1", "1,1", "0.1,0", "symmetric"),
    ("1,0;0,-1", "1,1", "0.1,0", "positive semi-definite"),
    ("1,0;0,1", "1,1,1", "0.1,0", "Sigma_xy must have 2 entries"),
    ("1,0;0,1", "1,1", "0,0", "beta0 must be non-zero"),
    ("1,0;0,0", "1,1", "0.1,0", "range of Sigma_xx"),
    ("0,0;0,0", "1,1", "0.1,0", "Sigma_xx is zero"),
    ("1,0;0", "1,1", "0.1,0", "same number of entries"),
    ("1,x;0,1", "1,1", "0.1,0", "numbers separated"),
])
def test_bad_problems_get_one_line_and_exit_2(capsys, sxx, sxy, beta0, message):
    from lazyrich.cli import main

    code = main(["single-neuron", "--sxx", sxx, "--sxy", sxy, "--beta0", beta0, "--delta", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]


def test_command_json_keys(capsys):
    import json

    from lazyrich.cli import main

    assert main(["single-neuron", "--sxx", "1,0;0,1", "--sxy", "0.55,1.1", "--beta0", "0.4,0.05", "--delta", "-2",
                 "--points", "11", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("delta", "t", "beta_exact", "beta_simulated", "beta_inf", "delta_drift", "kernel_distance", "max_error"):
        assert key in out
    assert len(out["t"]) == len(out["beta_exact"]) == len(out["beta_simulated"]) == len(out["kernel_distance"]) == 11
    assert out["max_error"] < 1e-8 and out["delta_drift"] < 1e-10
