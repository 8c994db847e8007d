"""The single neuron's derived objects against autograd and against their own defining equations."""
import numpy as np
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

from lazyrich.theory import derive
from lazyrich.theory import single_neuron as T

floats = st.floats(-2, 2, allow_nan=False)
rates = st.floats(0.2, 5)


@st.composite
def point(draw):
    d = draw(st.integers(1, 4))
    A = np.array(draw(st.lists(floats, min_size=d * d, max_size=d * d))).reshape(d, d)
    vec = lambda: np.array(draw(st.lists(floats, min_size=d, max_size=d)))  # noqa: E731
    return {"Sigma_xx": A @ A.T, "Sigma_xy": vec(), "w": vec(), "a": draw(floats),
            "eta_w": draw(rates), "eta_a": draw(rates)}


@settings(max_examples=25, deadline=None)
@given(point())
def test_derived_flow_equals_autograd_of_the_loss(pt):
    t = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in pt.items()}
    w, a = t["w"].clone().requires_grad_(True), t["a"].clone().requires_grad_(True)
    L = 0.5 * (a ** 2 * w @ t["Sigma_xx"] @ w - 2 * a * w @ t["Sigma_xy"])
    gw, ga = torch.autograd.grad(L, (w, a))
    flow = derive("single-neuron-flow")
    kw = {"Sigma_xx": t["Sigma_xx"], "Sigma_xy": t["Sigma_xy"][:, None], "w": t["w"][:, None], "a": t["a"]}
    wdot = flow.compile("torch", "w")(eta_w=t["eta_w"], **kw)[:, 0]
    adot = flow.compile("torch", "a")(eta_a=t["eta_a"], **kw).reshape(())
    bdot = flow.compile("torch", "beta")(eta_w=t["eta_w"], eta_a=t["eta_a"], **kw)[:, 0]
    torch.testing.assert_close(wdot, -t["eta_w"] * gw, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(adot, -t["eta_a"] * ga, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(bdot, adot * t["w"] + t["a"] * wdot, rtol=1e-12, atol=1e-12)
    # numpy compiles to the same numbers
    npkw = {k: (v[:, None] if k in ("w", "Sigma_xy") else v) for k, v in pt.items() if k in kw}
    np.testing.assert_allclose(flow.compile("numpy", "w")(eta_w=pt["eta_w"], **npkw)[:, 0], wdot.numpy(), rtol=1e-12,
                               atol=1e-12)


def test_imbalance_is_the_derived_combination():
    assert sp.simplify(T.imbalance() - (T.eta_w * T.a ** 2 - T.eta_a * T.inner(T.w, T.w))) == 0


def test_riccati_fixed_point_is_the_minimiser():
    """At the stable root, eta_w a^2 = (delta + D)/2 and beta = beta*: r = B w_par/(2 eta_w a) with
    a w_par = B gives r = B^2/(2 eta_w a^2) = B^2/(delta + D)."""
    (r_u, s_u), (r_s, s_s) = sorted(T.riccati_fixed_points(), key=lambda rs: float(rs[1].subs(
        {T.delta: 0, T.B: 1, T.eta_w: 1, T.eta_a: 1})), reverse=True)
    D = sp.sqrt(T.delta ** 2 + 4 * T.eta_w * T.eta_a * T.B ** 2)
    assert sp.simplify(r_s - T.B ** 2 / (T.delta + D)) == 0
    assert sp.simplify(s_s + D) == 0 and sp.simplify(s_u - D) == 0


@settings(max_examples=20, deadline=None)
@given(st.floats(-4, 4), st.floats(0.2, 3), st.floats(0.2, 3), st.floats(0.1, 2), st.floats(-2, 2), st.floats(0, 2),
       st.floats(0, 5))
def test_exprel_backends_agree_and_chi_obeys_its_equation(delta, eta_w, eta_a, a0, w_par0, B_, t):
    """The compiled chi(t) of the three backends agree, and chi' = -2 delta chi + 2 eta_w u^2 (finite differences)."""
    B_ = max(B_, 0.05)
    _, full = T.trajectory()
    args = {"B": B_, "a_0": a0, "w_par0": w_par0, "delta": delta, "eta_w": eta_w, "eta_a": eta_a}
    from lazyrich.theory.compile import MatrixCompiled

    chi = {be: MatrixCompiled(full["chi"], be) for be in ("numpy", "torch", "mpmath")}
    u = MatrixCompiled(full["u"], "mpmath")
    vals = [float(chi[be](t=t, **args)) for be in chi]
    np.testing.assert_allclose(vals, vals[0], rtol=1e-9)
    import mpmath

    mpmath.mp.dps = 30
    try:
        deriv = mpmath.diff(lambda s: chi["mpmath"](t=s, **args), t)
        rhs = -2 * delta * chi["mpmath"](t=t, **args) + 2 * eta_w * u(t=t, **args) ** 2
        assert abs(deriv - rhs) <= 1e-12 * max(1.0, abs(rhs))
    finally:
        mpmath.mp.dps = 15
