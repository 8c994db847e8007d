"""The dimension-free vector algebra against plain sympy calculus in explicit components."""
import numpy as np
import pytest
import sympy as sp
from lazyrich.theory import derive, names
from lazyrich.theory import symbols as S
from lazyrich.theory import vectors as V


def explicit_z_velocity(d):
    """dz/dt for one point, derived in components for dimension d, without the vector engine."""
    w = sp.Matrix(sp.symbols(f"w1:{d + 1}", real=True))
    x = sp.Matrix(sp.symbols(f"x1:{d + 1}", real=True))
    b, beta, g, alpha, p, h, y = sp.symbols("b beta g alpha p h y", real=True)
    ell = sp.Function("ell")
    u = (w.T * x)[0] / sp.sqrt(d) + b
    L = ell(y * alpha * beta * sp.Max(0, u) / h) / (alpha ** 2 * p)
    lprime = lambda e: e.replace(lambda q: isinstance(q, (sp.Derivative, sp.Subs)), lambda q: -g * y)  # noqa: E731
    wdot = sp.Matrix([lprime(-h * sp.diff(L, wi)) for wi in w]).subs(y ** 2, 1)
    bdot = lprime(-h * sp.diff(L, b)).subs(y ** 2, 1)
    z = -sp.sqrt(d) * b * w / (w.T * w)[0]
    zdot = z.jacobian(w) * wdot + sp.diff(z, b) * bdot
    return zdot, w, x, (b, beta, g, alpha, p)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_vector_engine_matches_component_calculus(d, rng):
    ours = derive("z-velocity").equation("zdot").explicit(d)  # in z components
    ref, w, x, (b, beta, g, alpha, p) = explicit_z_velocity(d)
    zc = V.component_vector(S.z, d)
    xc = V.component_vector(S.x, d)
    for _ in range(5):
        wv = rng.standard_normal(d)
        xv = rng.standard_normal(d)
        vals = dict(b=rng.choice([-1, 1]) * rng.uniform(0.2, 2), beta=rng.standard_normal(),
                    g=rng.standard_normal(), alpha=rng.uniform(0.5, 2), p=3)
        zv = -np.sqrt(d) * vals["b"] * wv / (wv @ wv)
        sub_ref = {**{wi: v for wi, v in zip(w, wv)}, **{xi: v for xi, v in zip(x, xv)},
                   b: vals["b"], beta: vals["beta"], g: vals["g"], alpha: vals["alpha"], p: vals["p"]}
        sub_ours = {**{zi: v for zi, v in zip(zc, zv)}, **{xi: v for xi, v in zip(xc, xv)},
                    S.b: vals["b"], S.beta: vals["beta"], S.g: vals["g"], S.alpha: vals["alpha"], S.p: vals["p"]}
        r = np.array(ref.subs(sub_ref).evalf(), dtype=float).ravel()
        o = np.array(ours.subs(sub_ours).evalf(), dtype=float).ravel()
        np.testing.assert_allclose(o, r, rtol=1e-10, atol=1e-12)


def test_talk_formula_differs_by_the_d_factors():
    """Record the difference from the talk: its bracket is ours only at d = 1."""
    zz, xz = V.dot_symbol(S.z, S.z), V.dot_symbol(S.x, S.z)
    ours = derive("z-velocity").equation("zdot").term.replace(lambda e: isinstance(e, sp.Heaviside), lambda e: 1)
    talk_bracket = S.z - zz * S.x + 2 * xz * S.z
    prefactor = S.beta * S.g / (S.alpha * S.b * S.p)
    assert V.simplify_vector(ours - prefactor * talk_bracket) != 0
    assert V.simplify_vector((ours - prefactor * talk_bracket).subs(S.d, 1)) == 0


def test_conserved_quantity_is_balancedness():
    Q = derive("conserved").equation("Q").term
    assert sp.simplify(Q - (S.beta ** 2 - V.dot_symbol(S.omega, S.omega) - S.b ** 2)) == 0


def test_switching_surface_is_the_sphere_on_diameter_zero_to_x():
    eqs = derive("switching-surface")
    assert sp.simplify(eqs.equation("centre").term - S.x / 2) == 0
    assert sp.simplify(eqs.equation("radius2").term - V.dot_symbol(S.x, S.x) / 4) == 0


def test_ntk_finite_matches_jacobian_contraction(rng):
    import torch
    from lazyrich.numerics import network as N

    h, d, p, q = 6, 3, 5, 4
    P = N.init_params(h, d, seed=3)
    X = torch.as_tensor(rng.standard_normal((p, d)))
    Xp = torch.as_tensor(rng.standard_normal((q, d)))
    jac = lambda A: torch.func.jacrev(lambda w, b, be: N.output(w, b, be, A), argnums=(0, 1, 2))(*P.tuple())  # noqa
    J1, J2 = jac(X), jac(Xp)
    ref = sum(torch.einsum("p...,q...->pq", a.reshape(p, -1), c.reshape(q, -1)) for a, c in zip(J1, J2))
    K = derive("ntk-finite").compile("torch", "Theta")(omega=P.omega, b=P.b, beta=P.beta, x=X, xp=Xp, h=h)
    np.testing.assert_allclose(K.numpy(), ref.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", names())
def test_every_object_prints_serialises_and_compiles(name):
    obj = derive(name)
    assert obj.latex() and obj.text()
    js = obj.to_json()
    assert {"name", "latex", "sympy", "assumptions"} <= set(js)
    # srepr rebuilds the expression exactly
    from lazyrich.theory import losses, single_neuron

    env = {**vars(sp), "Str": sp.core.symbol.Str, "softplus": losses.softplus, "sigmoid": losses.sigmoid,
           "inner": single_neuron.inner, "exprel": single_neuron.exprel}
    for eq, ejs in zip(obj.equations, js["equations"]):
        rebuilt = eval(ejs["sympy"], env)
        if eq.kind == "matrix":  # MatrixExpr trees may rebuild in another order: compare components
            assert sp.simplify(sp.Matrix([single_neuron.explicit(rebuilt, 2)]) -
                               sp.Matrix([single_neuron.explicit(eq.term, 2)])).is_zero_matrix
        else:
            assert sp.simplify(rebuilt - eq.term) == 0
    for backend in ("numpy", "torch"):
        compiled = obj.compile(backend)
        assert set(compiled) == {eq.label for eq in obj.equations}
    assert obj.latex(d=2)
