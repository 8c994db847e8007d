"""The minimal model of the second seed (Kunin et al. 2024, "Get rich quick"), derived with sympy.

f(x) = a w^T x: one hidden neuron with linear activation, w in R^d, a scalar. Gradient flow on
the population square loss L = (1/2) E[(y - a w^T x)^2] with a learning rate per layer,

    dw/dt = -eta_w dL/dw,    da/dt = -eta_a dL/da,

where only the input covariance Sigma_xx = E[x x^T] and the input-output correlation
Sigma_xy = E[x y] enter. Matrices are sympy MatrixSymbols of symbolic size d, so every result
holds in every dimension; lambdify compiles them to numpy and torch (matrix products included).

Derived here, each from the loss and nothing typed by hand:
- the flow of (w, a) and of beta = a w;
- the conserved imbalance delta = eta_w a^2 - eta_a |w|^2 (an ansatz c1 a^2 + c2 |w|^2 whose
  time derivative sympy sets to zero);
- for whitened inputs (Sigma_xx = I, Sigma_xy = B e): the reduction of the flow to the scalar
  r = B w_par/(2 eta_w a), which obeys a Riccati equation with constant coefficients; its
  linearisation r = u'/(2 eta_w eta_a u), a second-order linear ODE for u solved by dsolve, and
  chi = u^2/a^2, whose linear ODE closes the trajectory: a = u/sqrt(chi), beta along e
  = u u'/(eta_a B chi), beta across e = a(t) |w_perp(t)| with |w_perp| = |w_perp(0)| e^{-delta t}
  /(a_0 sqrt chi);
- the fixed points of the Riccati equation and their stability;
- for rank-1 Sigma_xx = lambda e e^T: the limit beta_inf(delta), the implicit bias;
- the NTK with the learning rates as metric, K(x, x') = x^T M x', M = eta_w a^2 I + eta_a w w^T,
  M written through beta and delta, and the kernel distance from initialisation.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

d = sp.Symbol("d", positive=True, integer=True)
w = sp.MatrixSymbol("w", d, 1)
Sxx = sp.MatrixSymbol("Sigma_xx", d, d)
Sxy = sp.MatrixSymbol("Sigma_xy", d, 1)
x = sp.MatrixSymbol("x", d, 1)
xp = sp.MatrixSymbol("xp", d, 1)
beta_vec = sp.MatrixSymbol("beta", d, 1)
M0 = sp.MatrixSymbol("M_0", d, d)
Mt = sp.MatrixSymbol("M_t", d, d)
a = sp.Symbol("a", real=True)
# u(t) of the Riccati linearisation and its derivatives, as plain symbols (printable and compilable)
u_sym, udot_sym, uddot_sym = sp.Symbol("u", real=True), sp.Symbol("u_dot", real=True), sp.Symbol("u_ddot", real=True)
chi_sym = sp.Symbol("chi", positive=True)
eta_w, eta_a = sp.symbols("eta_w eta_a", positive=True)
delta = sp.Symbol("delta", real=True)
t = sp.Symbol("t", nonnegative=True)
# the whitened reduction: beta* = B e, w = w_par e + rho e_perp (the flow never leaves that plane)
B = sp.Symbol("B", positive=True)
w_par, rho, r = sp.symbols("w_par rho r", real=True)
a0, w_par0, rho0 = sp.Symbol("a_0", positive=True), sp.Symbol("w_par0", real=True), sp.Symbol("rho_0", nonnegative=True)
# the rank-1 covariance lambda e e^T with Sigma_xy = q e, and w = w_e e + w_perp
lam1, q, w_perp2 = sp.Symbol("lambda_1", positive=True), sp.Symbol("q", real=True), sp.Symbol("w_perp2", nonnegative=True)

LATEX = {w: r"\mathbf{w}", Sxx: r"\Sigma_{xx}", Sxy: r"\Sigma_{xy}", x: r"\mathbf{x}", xp: r"\mathbf{x}'",
         beta_vec: r"\boldsymbol{\beta}", M0: "M_{0}", Mt: "M_{t}", eta_w: r"\eta_{w}", eta_a: r"\eta_{a}",
         w_par: r"w_{\parallel}", w_par0: r"w_{\parallel}(0)", rho0: r"\rho_{0}",
         a0: "a_{0}", lam1: r"\lambda_{1}", w_perp2: r"|\mathbf{w}_{\perp}|^{2}", udot_sym: r"\dot{u}",
         uddot_sym: r"\ddot{u}"}


class inner(sp.Function):
    """u^T v of two column vectors, as a scalar (|u|^2 when u = v). sympy's 1 x 1 matrix products
    cannot be added to scalars, and their [0, 0] entry is an unevaluated Sum over a symbolic d."""

    is_commutative = True
    is_real = True

    @classmethod
    def eval(cls, u, v):
        if isinstance(u, sp.MatrixBase) and isinstance(v, sp.MatrixBase):
            return (u.T * v)[0, 0]

    def _latex(self, printer):
        u, v = (printer._print(arg) for arg in self.args)
        return rf"\left|{u}\right|^{{2}}" if self.args[0] == self.args[1] else rf"{u}^{{\top}} {v}"


class exprel(sp.Function):
    """E(k, t) = (e^{k t} - 1)/k, with its limit t at k = 0: the integral of e^{k s} over [0, t].

    A function of its own so that the closed form has no removable singularity where delta = 0;
    the compilers evaluate it stably (scipy.special.exprel, or expm1 with its series near 0)."""

    @classmethod
    def eval(cls, k, s):
        if k == 0:
            return s

    def fdiff(self, argindex=2):
        k, s = self.args
        if argindex == 2:
            return sp.exp(k * s)
        return (s * sp.exp(k * s) - exprel(k, s)) / k

    def _latex(self, printer):
        k, s = (printer._print(arg) for arg in self.args)
        ke = rf"\left({k}\right)" if isinstance(self.args[0], sp.Add) else k
        return rf"\frac{{e^{{{ke} {s}}} - 1}}{{{k}}}"

    def rewrite_exp(self):
        k, s = self.args
        return (sp.exp(k * s) - 1) / k


def _symmetric(expr):
    return expr.subs(Sxx.T, Sxx)


def population_loss():
    """L - Sigma_yy/2 = (1/2)(a^2 w^T Sigma_xx w - 2 a w^T Sigma_xy), a 1 x 1 matrix expression
    (L = (1/2) E[(y - a w^T x)^2]; the constant Sigma_yy/2 does not enter the flow)."""
    return (a ** 2 * w.T * Sxx * w - 2 * a * w.T * Sxy) / 2


@cache
def flow():
    """(dw/dt, da/dt, dbeta/dt) with beta = a w, for symmetric Sigma_xx."""
    L = population_loss()
    wdot = _symmetric(-eta_w * L.diff(w)).doit()
    adot = _symmetric(-eta_a * L.diff(a))  # 1 x 1
    return wdot, adot, w * adot + a * wdot


def _in_components(expr, dim: int, values: dict) -> sp.Matrix:
    """A matrix expression in explicit components for dimension ``dim``: each MatrixSymbol of
    ``values`` replaced by its explicit matrix."""
    sub = {m.subs(d, dim): v for m, v in values.items()}
    return sp.Matrix(expr.subs(d, dim).subs(sub).doit())


def explicit(expr, dim: int):
    """``expr`` in explicit components for dimension ``dim``, with symmetric Sigma_xx (for display)."""
    if not isinstance(expr, sp.MatrixExpr) and not expr.has(sp.MatrixSymbol):
        return expr
    values = {m: sp.Matrix(m.subs(d, dim).as_explicit()) for m in expr.atoms(sp.MatrixSymbol)}
    values[Sxx] = _symmetric_matrix(dim)
    out = _in_components(expr, dim, values) if isinstance(expr, sp.MatrixExpr) else expr.subs(d, dim).subs(
        {m.subs(d, dim): v for m, v in values.items()}).doit()
    return out[0, 0] if getattr(out, "shape", None) == (1, 1) else out


def _symmetric_matrix(dim):
    return sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"S_{min(i, j) + 1}{max(i, j) + 1}", real=True))


@cache
def imbalance():
    """delta = c1 a^2 + c2 |w|^2 with d delta/dt = 0 along the flow, for every Sigma_xx, Sigma_xy.

    The ansatz is solved in explicit components (d = 2) and verified for d = 1..3."""
    c1, c2 = sp.symbols("c1 c2")
    wdot, adot, _ = flow()

    def rate(c1v, c2v, dim):
        wv = sp.Matrix([sp.Symbol(f"w_{i + 1}", real=True) for i in range(dim)])
        values = {Sxx: _symmetric_matrix(dim), Sxy: sp.Matrix([sp.Symbol(f"s_{i + 1}", real=True) for i in range(dim)]),
                  w: wv}
        wd, ad = _in_components(wdot, dim, values), _in_components(adot, dim, values)[0, 0]
        return sp.expand(2 * c1v * a * ad + 2 * c2v * (wv.T * wd)[0, 0])

    free = sorted(rate(c1, c2, 2).free_symbols - {c1, c2, eta_w, eta_a}, key=str)
    eqs = sp.Poly(rate(c1, c2, 2), *free).coeffs()
    sol = sp.solve(eqs, [c2], dict=True)
    if len(sol) != 1:
        raise RuntimeError(f"imbalance ansatz gave {sol}")
    expr = (c1 * a ** 2 + c2 * inner(w, w)).subs(sol[0]).subs(c1, eta_w)
    coeff = eta_w, sp.simplify(sol[0][c2].subs(c1, eta_w))
    for dim in (1, 2, 3):
        assert sp.simplify(rate(coeff[0], coeff[1], dim)) == 0
    return expr


def _plane_flow():
    """The whitened flow in the plane of beta* = B e and w: (da, dw_par, drho)/dt, from the matrix flow."""
    wdot, adot, _ = flow()
    values = {Sxx: sp.eye(2), Sxy: sp.Matrix([B, 0]), w: sp.Matrix([w_par, rho])}
    wd, ad = _in_components(wdot, 2, values), sp.simplify(_in_components(adot, 2, values)[0, 0])
    return ad, sp.simplify(wd[0]), sp.simplify(wd[1])


def _rho_of_delta():
    """|w_perp| in the whitened plane, from the conserved imbalance (derived, not typed)."""
    plane = imbalance().subs(w, sp.Matrix([w_par, rho]))
    roots = [root for root in sp.solve(sp.Eq(delta, plane), rho) if root.subs({a: 2, w_par: 0, delta: 0}) != 0]
    return roots[0]


@cache
def riccati():
    """r = B w_par/(2 eta_w a) along the whitened flow: dr/dt as a polynomial in r alone.

    Returns (r's definition, dr/dt = R(r), the ODE of u with r = u'/(2 eta_w eta_a u))."""
    ad, wpd, _ = _plane_flow()
    r_def = B * w_par / (2 * eta_w * a)
    rdot = sp.diff(r_def, a) * ad + sp.diff(r_def, w_par) * wpd
    # eliminate rho with the conserved delta, then w_par in favour of r: a must drop out
    rdot = sp.expand(sp.simplify(rdot.subs(rho, _rho_of_delta()).subs(w_par, 2 * eta_w * a * r / B)))
    if a in rdot.free_symbols:
        raise RuntimeError(f"the Riccati reduction failed: {rdot}")
    u = sp.Function("u")
    kappa = eta_w * eta_a
    lin = sp.simplify((sp.diff(u(t) / 1, t, 2) / (2 * kappa * u(t)) - sp.diff(u(t), t) ** 2 / (2 * kappa * u(t) ** 2)
                       - rdot.subs(r, sp.diff(u(t), t) / (2 * kappa * u(t)))) * 2 * kappa * u(t))
    lin = sp.expand(lin).subs({sp.Derivative(u(t), (t, 2)): uddot_sym}).subs({sp.Derivative(u(t), t): udot_sym}) \
        .subs(u(t), u_sym)
    return r_def, rdot, lin


@cache
def riccati_fixed_points():
    """The fixed points r of dr/dt = R(r), each with dR/dr (negative: stable)."""
    _, rdot, _ = riccati()
    roots = sp.solve(rdot, r)
    return tuple((sp.simplify(root), sp.simplify(sp.diff(rdot, r).subs(r, root))) for root in roots)


D = sp.Symbol("D", positive=True)  # sqrt(delta^2 + 4 eta_w eta_a B^2), the Riccati's rate of convergence
C_plus, C_minus = sp.symbols("C_+ C_-", real=True)


@cache
def trajectory():
    """The closed-form whitened trajectory. Returns (display, full): the same equations, once with
    the named intermediates D, C_+-, u, u', chi as symbols (to print) and once substituted (to compile).

    u solves the linear ODE of the Riccati linearisation, u(0) = 1, u'(0) = 2 eta_w eta_a r(0): its
    exponents are the roots of the characteristic polynomial. chi = u^2/a^2 obeys (derived, with a
    eliminated) chi' = -2 delta chi + 2 eta_w u^2, integrated term by term with exprel. |w_perp| obeys
    d|w_perp|/dt = -eta_w a^2 |w_perp| (checked), so |w_perp| = rho_0 e^{-delta t}/(a_0 sqrt chi)."""
    r_def, _, lin = riccati()
    kappa = eta_w * eta_a
    s_ = sp.Symbol("s")
    trial = sp.exp(s_ * t)
    char = sp.simplify(lin.subs({uddot_sym: sp.diff(trial, t, 2), udot_sym: sp.diff(trial, t), u_sym: trial}) / trial)
    lam_m, lam_p = sorted(sp.solve(char, s_), key=lambda e: float(e.subs({delta: 0, B: 1, eta_w: 1, eta_a: 1})))
    root = sp.sqrt(delta ** 2 + 4 * kappa * B ** 2)
    lam_p, lam_m = lam_p.subs(root, D), lam_m.subs(root, D)
    general = C_plus * sp.exp(lam_p * t) + C_minus * sp.exp(lam_m * t)
    r0 = r_def.subs({w_par: w_par0, a: a0})
    consts = sp.solve([general.subs(t, 0) - 1, sp.diff(general, t).subs(t, 0) - 2 * kappa * r0], [C_plus, C_minus])
    consts = {k: sp.simplify(v) for k, v in consts.items()}
    # chi = u^2/a^2 along the flow, with r = u'/(2 kappa u): a must drop out
    ad, wpd, rhod = _plane_flow()
    w_par_of_u = sp.solve(sp.Eq(r_def, udot_sym / (2 * kappa * u_sym)), w_par)[0]
    chi_rate = sp.simplify((2 * u_sym * udot_sym / a ** 2 - 2 * u_sym ** 2 * ad / a ** 3)
                           .subs(rho, _rho_of_delta()).subs(w_par, w_par_of_u).subs(a, u_sym / sp.sqrt(chi_sym)))
    if a in chi_rate.free_symbols or sp.simplify(chi_rate.diff(chi_sym, 2)) != 0:
        raise RuntimeError(f"chi does not obey a linear ODE: {chi_rate}")
    # chi' = k chi + c u^2  =>  chi = e^{k t} (chi_0 + c int_0^t u(s)^2 e^{-k s} ds)
    k_chi, c_chi = sp.simplify(chi_rate.diff(chi_sym)), sp.simplify(chi_rate.subs(chi_sym, 0) / u_sym ** 2)
    integrand = sp.expand(sp.powsimp(sp.expand(general.subs(t, s_) ** 2 * sp.exp(-k_chi * s_)), combine="exp"))
    integral = sp.S.Zero
    for term in sp.Add.make_args(integrand):
        coeff, expo = term.as_independent(s_)
        rate = sp.simplify(sp.log(expo).expand(force=True).diff(s_)) if expo != 1 else sp.S.Zero
        integral += coeff * exprel(rate, t)
    chi_t = sp.exp(k_chi * t) * (1 / a0 ** 2 + c_chi * integral)
    # |w_perp| = rho_0 e^{-delta t}/(a_0 sqrt chi): check d|w_perp|/dt = -eta_w a^2 |w_perp| with chi' as derived
    perp = rho0 * sp.exp(-delta * t) / (a0 * sp.sqrt(chi_sym))
    perp_rate = sp.diff(perp, t) + sp.diff(perp, chi_sym) * chi_rate
    assert sp.simplify(perp_rate.subs(u_sym, sp.sqrt(chi_sym) * a) + eta_w * a ** 2 * perp) == 0
    assert sp.simplify(rhod / rho + eta_w * a ** 2) == 0
    display = {
        "D": root, "C_plus": consts[C_plus], "C_minus": consts[C_minus], "u": general,
        "chi": chi_t, "a": u_sym / sp.sqrt(chi_sym),
        "beta_par": sp.simplify(u_sym * (udot_sym * u_sym / (eta_a * B * u_sym)) / chi_sym),
        "beta_perp": u_sym / sp.sqrt(chi_sym) * perp}
    chain = {chi_sym: chi_t, udot_sym: sp.diff(general, t), u_sym: general}
    full = {name: expr for name, expr in display.items()}
    for name in ("a", "beta_par", "beta_perp"):
        full[name] = full[name].subs(chain)
    for name in ("u", "chi", "a", "beta_par", "beta_perp"):
        full[name] = full[name].subs(consts).subs(D, root)
    return display, full


@cache
def implicit_bias():
    """Rank-1 Sigma_xx = lambda_1 e e^T, Sigma_xy = q e: w_perp is constant and the flow ends on
    a w_e = q/lambda_1. With delta' = delta + eta_a |w_perp|^2 conserved in (a, w_e), a_inf^2 is the
    positive root of eta_w A - eta_a (c^2/A + |w_perp|^2) = delta. Returns (a_inf^2, c = q/lambda_1)."""
    A = sp.Symbol("A", positive=True)
    c = q / lam1
    roots = sp.solve(sp.Eq(eta_w * A - eta_a * (c ** 2 / A + w_perp2), delta), A)
    positive = [root for root in roots if root.subs({eta_w: 1, eta_a: 1, q: 1, lam1: 1, w_perp2: 0, delta: 0}) > 0]
    if len(positive) != 1:
        raise RuntimeError(f"implicit-bias root selection gave {roots}")
    return sp.simplify(positive[0]), c


@cache
def ntk():
    """K(x, x') = eta_w grad_w f . grad_w f' + eta_a df/da df'/da = x^T M x' (checked in components),
    M through beta and delta, and the kernel distance S between the kernels M_0 and M_t over the
    input distribution: <K_0, K_t> = E_{x, x'}[K_0(x, x') K_t(x, x')] = tr(M_0 Sigma_xx M_t Sigma_xx).
    Returns (K, M, M(beta, delta), S)."""
    f, fp = a * (w.T * x), a * (w.T * xp)
    K_matrix = eta_w * f.diff(w).T * fp.diff(w) + eta_a * f.diff(a) * fp.diff(a)
    M = eta_w * a ** 2 * sp.Identity(d) + eta_a * w * w.T
    K = eta_w * a ** 2 * inner(x, xp) + eta_a * inner(w, x) * inner(w, xp)
    values = {m: sp.Matrix(m.subs(d, 3).as_explicit()) for m in (w, x, xp)}
    explicit_K = _in_components(K_matrix, 3, values)[0, 0]
    assert sp.expand(explicit_K - K.subs(values)) == 0
    assert sp.expand(explicit_K - _in_components(x.T * M * xp, 3, values)[0, 0]) == 0
    # eta_w a^2 from delta and |beta|^2 = a^2 |w|^2: the positive root of A - kappa |beta|^2/A = delta
    A, bb = sp.Symbol("A", positive=True), sp.Symbol("bb", nonnegative=True)
    roots = [root for root in sp.solve(sp.Eq(A - eta_w * eta_a * bb / A, delta), A)
             if root.subs({eta_w: 1, eta_a: 1, bb: 1, delta: 0}) > 0]
    uval = roots[0].subs(bb, inner(beta_vec, beta_vec))
    M_beta = uval * sp.Identity(d) + (eta_w * eta_a / uval) * beta_vec * beta_vec.T
    # check M(beta, delta) = M on a point (a = 3/2, w = (1, -2)/3, eta = (2, 1/3))
    point = {a: sp.Rational(3, 2), eta_w: 2, eta_a: sp.Rational(1, 3)}
    wv = sp.Matrix([sp.Rational(1, 3), -sp.Rational(2, 3)])
    lhs = _in_components(M_beta, 2, {beta_vec: point[a] * wv}).subs(delta, imbalance().subs(w, wv)).subs(point)
    assert sp.simplify(lhs - _in_components(M, 2, {w: wv}).subs(point)) == sp.zeros(2, 2)
    S = 1 - sp.Trace(M0 * Sxx * Mt * Sxx) / sp.sqrt(sp.Trace(M0 * Sxx * M0 * Sxx) * sp.Trace(Mt * Sxx * Mt * Sxx))
    return K, M, M_beta, S
