"""Infinite-width kernels of the two-layer ReLU network with bias, and the NTK of a compressed network.

NTK scaling: f(x) = (1/sqrt h) sum_n beta_n relu(u_n(x)), u_n = omega_n.x/sqrt d + b_n, with
omega_n ~ N(0, I_d), b_n, beta_n ~ N(0, 1). The pre-activations (u, u') at two inputs are a
centred Gaussian pair with

    Sigma = E[u u'] = x.x'/d + 1,   s^2 = |x|^2/d + 1,   s'^2 = |x'|^2/d + 1.

Writing a standard Gaussian vector of the plane in polar coordinates (r, phi), the pair is
u = s r cos(phi), u' = s' r cos(phi - theta) with cos(theta) = Sigma/(s s'); both are positive
on the arc theta - pi/2 < phi < pi/2 (theta in [0, pi]). sympy does the two integrals, radial and
angular, for E[relu(u) relu(u')] (the NNGP, arc-cosine kernel of order 1) and for
E[step(u) step(u')] (order 0). The NTK sums the three parameter groups of ntk_finite_term:
beta gives the NNGP, (omega, b) give E[beta^2] E[step step] (x.x'/d + 1).

The results are then rewritten without arccos, for evaluation that is exact at x = x':
s s' sin(theta) = sqrt(s^2 s'^2 - Sigma^2) =: S and theta = atan2(S, Sigma), where
s^2 s'^2 - Sigma^2 = (|x|^2 |x'|^2 - (x.x')^2)/d^2 + |x - x'|^2/d >= 0 (clipped at 0 against rounding).
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from . import derivations as D
from . import symbols as S
from . import vectors as V

# the symbols of the polar-coordinate derivation (display and intermediate only)
_r, _phi = sp.symbols("r phi", real=True)
theta = sp.Symbol("theta", real=True)
s1, s2 = sp.symbols("s s'", positive=True)


def covariance():
    """Sigma = E[u(x) u(x')] over omega ~ N(0, I), b ~ N(0, 1)."""
    u, up = D.preactivation(S.x), D.preactivation(S.xp)
    # E[omega_i omega_j] = delta_ij, E[b^2] = 1, E[omega b] = 0: the bilinear form in (omega, b)
    # becomes the sum of the products of the coefficients of omega and of b
    cu, cup = V.coefficients(V.grad(u, S.omega)), V.coefficients(V.grad(up, S.omega))
    w_part = V.dot(V.combine(cu), V.combine(cup))
    return sp.simplify(w_part + sp.diff(u, S.b) * sp.diff(up, S.b))


@cache
def gaussian_expectations():
    """(E[relu(u) relu(u')], E[step(u) step(u')]) in terms of s, s' and the angle theta."""
    density = _r * sp.exp(-_r ** 2 / 2) / (2 * sp.pi)
    arc = (_phi, theta - sp.pi / 2, sp.pi / 2)
    u, up = s1 * _r * sp.cos(_phi), s2 * _r * sp.cos(_phi - theta)
    relu_relu = sp.integrate(sp.integrate(density * u * up, (_r, 0, sp.oo)), arc)
    step_step = sp.integrate(sp.integrate(density, (_r, 0, sp.oo)), arc)
    return sp.simplify(relu_relu), sp.simplify(step_step)


@cache
def infinite_width_kernels():
    """(Sigma, S, theta, NNGP, NTK) as expressions in x.x', |x|^2, |x'|^2 and d.

    The NTK comes from ntk_finite_term: its per-neuron term is
    [relu(u) relu(u') + beta^2 step(u) step(u') (x.x'/d + 1)]/h^2; summed over h neurons in NTK
    scaling (f multiplied by sqrt h, so the kernel by h) its mean is the expectation below.
    """
    Sigma = covariance()
    ss = sp.sqrt(D.relu((V.dot_symbol(S.x, S.x) / S.d + 1) * (V.dot_symbol(S.xp, S.xp) / S.d + 1) - Sigma ** 2))
    angle = sp.atan2(ss, Sigma)
    rr, st = gaussian_expectations()
    # replace s s' cos(theta) by Sigma and s s' sin(theta) by S: expand in cos/sin first
    rewrite = lambda e: sp.expand(e).subs(  # noqa: E731
        {sp.cos(theta): Sigma / (s1 * s2), sp.sin(theta): ss / (s1 * s2)}).subs(theta, angle)
    nngp, step = sp.factor_terms(rewrite(rr)), rewrite(st)
    # the expectation of the finite term: beta^2 -> E[beta^2] = 1, products of activations -> the
    # Gaussian expectations; read the two structures off the finite term itself
    term = sp.expand(D.ntk_finite_term() * S.h ** 2)
    relu_u, relu_up = D.relu(D.preactivation(S.x)), D.relu(D.preactivation(S.xp))
    step_u, step_up = sp.Heaviside(D.preactivation(S.x)), sp.Heaviside(D.preactivation(S.xp))
    mean = term.subs(S.beta, 1).subs({relu_u * relu_up: nngp, step_u * step_up: step})
    leftover = mean.free_symbols & {S.omega, S.b, S.beta}
    if leftover:
        raise AssertionError(f"the NTK still depends on {leftover}: the finite term changed its form")
    return Sigma, ss, angle, nngp, sp.collect(sp.expand(mean), step)


@cache
def compressed_ntk():
    """(Theta_par, Theta_perp): the finite NTK term of a neuron whose omega lies in the informative subspace.

    Split x = x_par + x_perp (x_perp orthogonal to the subspace, so omega.x_perp = 0 and
    x_par.x_perp = 0), likewise x'. The term becomes Theta_par(x_par, x'_par) +
    Theta_perp(x_par, x'_par) x_perp.x'_perp, with both coefficients functions of the informative
    coordinates only.
    """
    term = V.substitute(D.ntk_finite_term(), {S.x: S.x_par + S.x_perp, S.xp: S.xp_par + S.xp_perp})
    zero = {V.dot_symbol(S.omega, S.x_perp): 0, V.dot_symbol(S.omega, S.xp_perp): 0,
            V.dot_symbol(S.x_par, S.x_perp): 0, V.dot_symbol(S.xp_par, S.xp_perp): 0,
            V.dot_symbol(S.x_par, S.xp_perp): 0, V.dot_symbol(S.x_perp, S.xp_par): 0}
    term = sp.expand(term.subs(zero))
    perp_dot = V.dot_symbol(S.x_perp, S.xp_perp)
    theta_perp = sp.simplify(sp.diff(term, perp_dot))
    theta_par = sp.simplify(term - theta_perp * perp_dot)
    if perp_dot in theta_par.free_symbols or perp_dot in theta_perp.free_symbols:
        raise AssertionError("the compressed NTK is not affine in x_perp.x'_perp")
    return theta_par, theta_perp
