"""Activation regions, the field in a region, its fixed point and Jacobian."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from lazyrich.theory import derive
from strategies import problems


def region_inputs(pb, z):
    """Active set of each neuron at z, and G_A, m_A of that set (one region per neuron)."""
    P, X, g = pb["params"], pb["X"].numpy(), pb["y"].numpy()
    arg = derive("activation").compile("numpy", "argument")(z=z, b=P.b.numpy(), x=X)
    active = arg > 0  # (h, p)
    return active, active.astype(float) @ g, (active * g) @ X


@given(problems(), st.integers(0, 2 ** 31 - 1))
def test_region_field_equals_the_sum_of_active_point_terms(pb, seed):
    P, X, g = pb["params"], pb["X"].numpy(), pb["y"].numpy()
    z = np.random.default_rng(seed).standard_normal((pb["h"], pb["d"])) * 2
    active, G, m = region_inputs(pb, z)
    zdot = derive("z-velocity").compile("numpy", "zdot")(z=z, b=P.b.numpy(), beta=P.beta.numpy(), x=X, g=g,
                                                          alpha=pb["alpha"])
    F = derive("region-field").compile("numpy", "F")
    for n in range(pb["h"]):  # region r = the active set of neuron n
        Fn = F(z=z[n:n + 1], b=P.b.numpy()[n:n + 1], beta=P.beta.numpy()[n:n + 1], G=G[n:n + 1],
               m_A=m[n:n + 1], alpha=pb["alpha"], p=pb["p"])
        np.testing.assert_allclose(Fn[0, 0], zdot[n], rtol=1e-9, atol=1e-12)


@st.composite
def regions(draw):
    d = draw(st.integers(1, 8))
    k = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    G = rng.standard_normal(k) * draw(st.floats(0.1, 10))
    m = rng.standard_normal((k, d)) * draw(st.floats(0.1, 10))
    h = draw(st.integers(1, 4))
    b = rng.choice([-1, 1], h) * rng.uniform(0.05, 3, h)
    beta = rng.standard_normal(h)
    return dict(d=d, G=G, m=m, b=b, beta=beta, alpha=draw(st.floats(0.1, 10)), p=draw(st.integers(1, 1000)))


@given(regions())
def test_fixed_point_is_fixed(r):
    zstar = derive("fixed-point").compile("numpy", "zstar")(G=r["G"], m_A=r["m"])  # (regions, d)
    F = derive("region-field").compile("numpy", "F")
    for k in range(len(r["G"])):  # F_A(z*_A) with A = region k, for every neuron
        val = F(z=np.repeat(zstar[k:k + 1], len(r["b"]), 0), b=r["b"], beta=r["beta"], G=r["G"][k:k + 1],
                m_A=r["m"][k:k + 1], alpha=r["alpha"], p=r["p"])
        # scale of the individual terms of F at z*: |beta/(alpha b d p)| |z|^2 |m|
        scale = np.abs(r["beta"] / (r["alpha"] * r["b"] * r["d"] * r["p"])) * (zstar[k] @ zstar[k]) \
            * np.linalg.norm(r["m"][k])
        assert (np.linalg.norm(val[:, 0], axis=-1) <= 1e-12 * np.maximum(scale, 1e-300)).all()


@given(regions(), st.integers(0, 2 ** 31 - 1))
def test_jacobian_matches_finite_differences_and_is_isotropic_at_the_fixed_point(r, seed):
    rng = np.random.default_rng(seed)
    F = derive("region-field").compile("numpy", "F")
    jac = derive("jacobian").compile("numpy")
    n = len(r["b"])
    z = rng.standard_normal((n, r["d"]))
    args = dict(b=r["b"], beta=r["beta"], G=r["G"][:1], m_A=r["m"][:1], alpha=r["alpha"], p=r["p"])
    J = jac["J"](z=z, **args)[:, 0]  # (h, d, d)
    eps = 1e-6
    for j in range(r["d"]):
        e = np.zeros(r["d"])
        e[j] = eps
        fd = (F(z=z + e, **args) - F(z=z - e, **args))[:, 0] / (2 * eps)
        np.testing.assert_allclose(J[:, :, j], fd, rtol=1e-6, atol=1e-6 * np.abs(J).max())
    zstar = derive("fixed-point").compile("numpy", "zstar")(G=r["G"][:1], m_A=r["m"][:1])
    at_star = jac["J"](z=np.repeat(zstar, n, 0), **args)[:, 0]
    Jstar = jac["Jstar"](b=r["b"], beta=r["beta"], G=r["G"][:1], alpha=r["alpha"], p=r["p"], d=r["d"])[:, 0]
    np.testing.assert_allclose(at_star, Jstar, rtol=1e-9, atol=1e-12 * np.abs(Jstar).max())
    # a multiple of the identity, with the sign that decides stability: -beta G/(alpha b p)
    expected = -(r["beta"] * r["G"][0] / (r["alpha"] * r["b"] * r["p"]))
    np.testing.assert_allclose(np.diagonal(Jstar, axis1=1, axis2=2), np.repeat(expected[:, None], r["d"], 1),
                               rtol=1e-12)


def test_fixed_point_root_structure():
    """The only root besides z* is the excluded |z|^2 = 0, and z* is parallel to m_A."""
    import sympy as sp
    from lazyrich.theory import derivations as D
    from lazyrich.theory import symbols as S
    from lazyrich.theory import vectors as V

    zstar, discarded = D.fixed_point()
    assert discarded == [0]
    assert set(V.coefficients(zstar)) == {S.m_A}
    # substituting back gives exactly zero, symbolically
    assert V.simplify_vector(V.substitute(D.region_field(), {S.z: zstar})) == 0
    assert sp.simplify(D.region_jacobian()[1] / V.IDENTITY + S.beta * S.G / (S.alpha * S.b * S.p)) == 0
