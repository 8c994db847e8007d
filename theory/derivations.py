"""Derivations, from the network and its loss to the neuron flow, its regions and fixed points.

Conventions (notes/conventions.md): f(x) = (1/h) sum_n beta_n relu(omega_n.x/sqrt(d) + b_n),
F = alpha (f - f_0), L = 1/(alpha^2 p) sum_mu l(y_mu F(x_mu)), and the time is chosen so that
d theta/dt = -h dL/dtheta. Every result here is a *per-term* expression: the term of neuron n
and training point mu, to be summed over mu (the Derived objects record which sums apply).
Nothing below types a result by hand: each function starts from the network definition.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from . import symbols as S
from . import vectors as V


def relu(u):
    return sp.Max(0, u)


def relu_as_product(expr):
    """Rewrite relu(u) = u * Theta(u), the identity that makes the conserved law exact."""
    return expr.replace(lambda e: isinstance(e, sp.Max) and 0 in e.args,
                        lambda e: (e.args[1] if e.args[0] == 0 else e.args[0]) *
                        sp.Heaviside(e.args[1] if e.args[0] == 0 else e.args[0]))


def preactivation(point=S.x):
    """u_n(x) = omega_n.x / sqrt(d) + b_n."""
    return V.dot_symbol(S.omega, point) / sp.sqrt(S.d) + S.b


def neuron_output(point=S.x):
    """The n-th term of f(x): beta_n relu(u_n(x)) / h."""
    return S.beta * relu(preactivation(point)) / S.h


@cache
def loss_term():
    """The mu-th term of L for neuron n's parameters: l(y F(x_mu)) / (alpha^2 p), l generic."""
    ell = sp.Function("ell")
    F = S.alpha * (neuron_output() + S.f_rest - S.f_init)
    return ell(S.y * F) / (S.alpha ** 2 * S.p), ell


def _derivative_of_loss_to_g(expr, ell):
    """Replace l'(m) by -g y (g = -l'(m) y and y^2 = 1), so that one formula serves all losses."""
    is_lprime = lambda e: isinstance(e, (sp.Subs, sp.Derivative)) and e.has(ell)  # noqa: E731
    expr = sp.simplify(expr.replace(is_lprime, lambda e: -S.g * S.y))
    return expr.replace(lambda e: e.is_Pow and e.base == S.y and e.exp.is_even, lambda e: sp.S.One)


@cache
def parameter_flow():
    """Per-point rates (d omega/dt, db/dt, d beta/dt) = -h grad L, for neuron n and point mu."""
    term, ell = loss_term()
    flow = {
        S.omega: -S.h * V.grad(term, S.omega),
        S.b: -S.h * sp.diff(term, S.b),
        S.beta: -S.h * sp.diff(term, S.beta),
    }
    return {k: V.simplify_vector(_derivative_of_loss_to_g(v, ell)) for k, v in flow.items()}


@cache
def z_definition():
    """z_n = -sqrt(d) b_n omega_n / |omega_n|^2: the point nearest the origin where u_n vanishes."""
    return -sp.sqrt(S.d) * S.b * S.omega / V.dot_symbol(S.omega, S.omega)


@cache
def omega_of_z():
    """Invert z(omega, b) for omega, given z and b.

    z is parallel to omega, z = c omega with c = -sqrt(d) b/|omega|^2, and |z|^2 = c^2 |omega|^2
    fixes |omega|^2 in terms of |z|^2; then omega = z / c.
    """
    c = V.coefficients(z_definition())[S.omega]
    ww = V.dot_symbol(S.omega, S.omega)
    zz = V.dot_symbol(S.z, S.z)
    (ww_of_zz,) = [s for s in sp.solve(sp.Eq(c ** 2 * ww, zz), ww) if s != 0]
    return sp.simplify((S.z / c).subs(ww, ww_of_zz))


@cache
def activation_argument():
    """The activation condition u_n(x_mu) > 0 written in z: multiply u by |z|^2 > 0."""
    u_z = V.substitute(preactivation(), {S.omega: omega_of_z()})
    positive_multiple = sp.factor(sp.simplify(u_z * V.dot_symbol(S.z, S.z)))
    return S.b * sp.expand(positive_multiple / S.b)


def _canonical_heaviside(expr):
    """Heaviside(u(z)) -> Heaviside(b (|z|^2 - z.x)): same sign, since |z|^2 > 0."""
    return expr.replace(lambda e: isinstance(e, sp.Heaviside), lambda e: sp.Heaviside(activation_argument()))


@cache
def z_velocity():
    """Per-point term of dz_n/dt in terms of z_n, b_n, beta_n, x_mu and g_mu."""
    rates = parameter_flow()
    zdot = V.time_derivative(z_definition(), {S.omega: rates[S.omega], S.b: rates[S.b]})
    zdot = V.substitute(zdot, {S.omega: omega_of_z()})
    return _canonical_heaviside(V.simplify_vector(_canonical_heaviside(zdot)))


@cache
def switching_surface():
    """The surface S_mu(z) = 0 where neuron n switches on or off at x_mu, as a sphere.

    S is the activation argument without its factor b. Its centre is where grad S = 0 (S is
    quadratic with Hessian 2*Identity), and the squared radius is -S(centre).
    """
    level = sp.simplify(activation_argument() / S.b)
    gradient = V.coefficients(V.grad(level, S.z))  # = {z: 2, x: -1}
    centre = -sp.Add(*(c * v for v, c in gradient.items() if v != S.z)) / gradient[S.z]
    radius2 = sp.simplify(-V.substitute(level, {S.z: centre}))
    check = sp.simplify(level - (V.dot(S.z - centre, S.z - centre) - radius2))
    assert check == 0, check
    return level, centre, radius2


@cache
def conserved():
    """Find Q = c1 beta^2 + c2 |omega|^2 + c3 b^2 with dQ/dt = 0 for every point and loss.

    Returns Q (with c1 = 1) and Q written in z-coordinates.
    """
    Q = _conserved_ansatz(parameter_flow(), sp.S.One)
    Qz = sp.simplify(V.substitute(Q, {S.omega: omega_of_z()}))
    return Q, Qz


@cache
def imbalance_with_rates():
    """The same ansatz when the first layer (omega, b) trains at rate eta_1 and beta at eta_2:
    delta_n = eta_1 beta_n^2 - eta_2 (|omega_n|^2 + b_n^2) (with c1 = eta_1)."""
    flow = parameter_flow()
    scaled = {S.omega: S.eta1 * flow[S.omega], S.b: S.eta1 * flow[S.b], S.beta: S.eta2 * flow[S.beta]}
    return _conserved_ansatz(scaled, S.eta1)


def _conserved_ansatz(flow, c1_value):
    c1, c2, c3 = sp.symbols("c1 c2 c3")
    ww = V.dot_symbol(S.omega, S.omega)
    Q = c1 * S.beta ** 2 + c2 * ww + c3 * S.b ** 2
    Qdot = relu_as_product(V.time_derivative(Q, flow))
    H = sp.Symbol("H")  # the activation indicator, a common factor
    Qdot = sp.expand(Qdot.replace(lambda e: isinstance(e, sp.Heaviside), lambda e: H))
    wx = V.dot_symbol(S.omega, S.x)
    eqs = sp.Poly(Qdot, wx, S.b).coeffs()
    sol = sp.solve([sp.simplify(e) for e in eqs], [c2, c3], dict=True)
    if len(sol) != 1:
        raise RuntimeError(f"conserved-quantity ansatz gave {sol}")
    Q = sp.expand(Q.subs(sol[0]).subs(c1, c1_value))
    assert sp.simplify(relu_as_product(V.time_derivative(Q, flow))) == 0
    return Q


@cache
def region_field():
    """F_A(z) = sum over the active set A of the per-point z velocity (Theta = 1 there).

    The per-point term is g_mu times an affine function of x_mu, so the sum over A only needs
    G_A = sum_A g_mu and m_A = sum_A g_mu x_mu. The affinity is checked, not assumed.
    """
    P = sp.simplify(z_velocity().replace(lambda e: isinstance(e, sp.Heaviside), lambda e: sp.S.One) / S.g)
    at = lambda c: V.substitute(P, {S.x: c * S.x})  # noqa: E731
    assert V.simplify_vector(at(2) - 2 * P + at(0)) == 0, "z velocity is not affine in x"
    P0 = at(0)
    linear = V.substitute(P - P0, {S.x: S.m_A})
    return V.simplify_vector(S.G * P0 + linear)


@cache
def fixed_point():
    """Solve F_A(z) = 0 for z != 0.

    F_A = a(z) z + c(z) m_A. If z and m_A were independent, a = c = 0 would be needed, and c = 0
    forces |z| = 0. So z = t m_A, and F_A = phi(t) m_A: solve phi(t) = 0, drop t = 0 (no neuron).
    Returns (z*, list of the discarded roots of the independent case).
    """
    coeffs = V.coefficients(region_field())
    zz = V.dot_symbol(S.z, S.z)
    independent_roots = sp.solve(coeffs[S.m_A], zz)
    on_line = V.coefficients(V.substitute(region_field(), {S.z: S.t * S.m_A}))
    roots = [r for r in sp.solve(on_line[S.m_A], S.t) if r != 0]
    if len(roots) != 1:
        raise RuntimeError(f"unexpected fixed-point roots {roots}")
    return sp.simplify(roots[0] * S.m_A), independent_roots


@cache
def region_jacobian():
    """dF_A/dz in a region, and its value at the fixed point (identity times a scalar)."""
    J = V.simplify_vector(V.jacobian(region_field(), S.z))
    zstar, _ = fixed_point()
    Jstar = V.simplify_vector(V.substitute(J, {S.z: zstar}))
    return J, Jstar


@cache
def ntk_finite_term():
    """Neuron n's term of Theta(x, x') = grad_theta f(x) . grad_theta f(x')."""
    fx, fxp = neuron_output(S.x), neuron_output(S.xp)
    term = (sp.diff(fx, S.beta) * sp.diff(fxp, S.beta)
            + V.dot(V.grad(fx, S.omega), V.grad(fxp, S.omega))
            + sp.diff(fx, S.b) * sp.diff(fxp, S.b))
    return sp.simplify(term)


@cache
def inverted_activation():
    """The activation condition in the inverted position w = z/|z|^2, where it is linear.

    Substitute z = w/|w|^2 into the activation argument b(|z|^2 - z.x) and multiply by |w|^2 > 0:
    every switching sphere (through the origin) becomes the hyperplane w.x = 1.
    """
    ww = V.dot_symbol(S.w, S.w)
    arg = V.substitute(activation_argument(), {S.z: S.w / ww})
    return sp.factor(sp.simplify(arg * ww))


@cache
def inverted_fixed_point():
    """w*_A = z*_A/|z*_A|^2: the fixed point of region A in inverted coordinates."""
    zstar, _ = fixed_point()
    zz = sp.simplify(V.dot(zstar, zstar))
    return V.simplify_vector(zstar / zz)


@cache
def sliding_condition():
    """The condition for the fixed point of a field with weights (G, m) to lie on the surface of x.

    Filippov's convex combination of the fields on both sides of the surface of x_mu is the field
    of a region whose weights are G + lambda g_mu and m + lambda g_mu x_mu (the field is linear in
    the weights). Its non-zero zero is z* = -d G m/|m|^2 with those weights. Put z* on the surface
    S_mu(z) = |z|^2 - z.x = 0 and remove the factor d G/|m|^2 (non-zero at a neuron position):
    what remains is linear in (G, m), hence in lambda. Returns (condition, lambda for one surface).
    """
    zstar, _ = fixed_point()
    level, _, _ = switching_surface()
    on_surface = sp.factor(sp.simplify(V.substitute(level, {S.z: zstar})))
    mm = V.dot_symbol(S.m_A, S.m_A)
    condition = sp.simplify(on_surface * mm / (S.d * S.G))
    assert not condition.has(mm) and sp.simplify(on_surface - S.d * S.G * condition / mm) == 0, on_surface
    # one surface: G -> G + lambda g, m -> m + lambda g x; the condition is linear in lambda
    shifted = V.substitute(condition.subs(S.G, S.G + S.lam * S.g), {S.m_A: S.m_A + S.lam * S.g * S.x})
    shifted = sp.expand(shifted)
    assert sp.degree(shifted, S.lam) == 1
    (lam,) = sp.solve(shifted, S.lam)
    return condition, sp.simplify(lam)
