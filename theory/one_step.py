"""One large gradient step (Ba et al. 2022): the first gradient of a two-layer network and its spike.

The model: f(x) = h^{-1/2} sum_j a_j sigma(w_j . x), sigma = ReLU, x ~ N(0, I_d), w_j ~ N(0, I_d/d),
a_j ~ N(0, 1/h), trained on the square loss L = (1/(2p)) sum_mu (y_mu - f(x_mu))^2 by one full-batch
step on W: w_j <- w_j + eta sqrt(h) G_j, with G_j = -dL/dw_j (``lazyrich derive one-step-gradient``).
The factor sqrt(h) makes eta = Theta(1) a step of the size of W_0's rows (|w_j| ~ 1): the paper's
"small" step; eta = Theta(sqrt(h)) is the "large" one.

Derived here:
- the per-point gradient term of neuron j, with r_mu = y_mu - f(x_mu), from the loss (vector algebra);
- its split sigma'(u) = mu_1 + (sigma'(u) - mu_1): the rank-one spike mu_1 (1/(p sqrt h)) X^T r a^T and
  the rest, mu_1 = E[sigma'(z)] = E[z sigma(z)] the first Hermite coefficient of the student;
- the Hermite data of the teachers (mu_0, mu_1, |sigma*|^2) by sympy integration against N(0, 1);
- the spike's predicted alignment with the teacher direction in the proportional limit: the spike's
  left factor is v = (1/p) X^T y, with E v = mu_1* beta* (Stein's lemma, integrated) and fluctuations
  of total variance (d/p) E[y^2], so cos^2(v, beta*) -> mu_1*^2/(mu_1*^2 + E[y^2]/psi), psi = p/d;
- the risk of the best linear predictor, |sigma*|^2 - mu_0*^2 - mu_1*^2 + noise^2.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from . import symbols as S
from . import vectors as V
from .derivations import relu
from .errors import LazyrichError

# neuron j of the student and its second-layer weight; the residual at training point mu
w_j = V.vector("w_j", r"\mathbf{w}_{j}", ("n",))
a_j = V.scalar("a_j", r"a_{j}", ("n",), real=True)
resid = V.scalar("r", r"r_{\mu}", ("mu",), real=True)
f_rest = V.scalar("f_others", r"f_{\neg j}(\mathbf{x}_{\mu})", ("mu",), real=True)
z = sp.Symbol("z", real=True)
psi, noise = sp.Symbol("psi", positive=True), sp.Symbol("noise", nonnegative=True)
mu0, mu1, norm2 = sp.Symbol("mu0", real=True), sp.Symbol("mu1", real=True), sp.Symbol("norm2", positive=True)
LATEX = {psi: r"\psi", noise: r"\sigma_{\varepsilon}", mu0: r"\mu_{0}^{*}", mu1: r"\mu_{1}^{*}",
         norm2: r"\|\sigma^{*}\|^{2}"}

TEACHERS = {"relu": sp.Max(0, z), "tanh": sp.tanh(z), "he2": (z ** 2 - 1) / sp.sqrt(2)}


@cache
def first_gradient():
    """(G_j per point mu, its spike part, the rest): -d/dw_j of (y - f)^2/(2p), with y - f = r_mu."""
    y = sp.Symbol("y_mu", real=True)
    f = a_j * relu(V.dot_symbol(S.x, w_j)) / sp.sqrt(S.h) + f_rest
    term = (y - f) ** 2 / (2 * S.p)
    G = -V.grad(term, w_j)
    G = sp.simplify(G.subs(y, resid + f))  # y - f = r
    step = [e for e in G.atoms(sp.Heaviside)]
    if len(step) != 1:
        raise RuntimeError(f"expected one activation indicator in the gradient, got {step}")
    m1 = student_mu1()
    spike = G.subs(step[0], m1)
    rest = sp.simplify(G - spike)
    return G, spike, rest


@cache
def student_mu1():
    """mu_1 of the student ReLU: E[sigma'(z)] = E[z relu(z)] = 1/2 (integrated)."""
    return gaussian_mean(z * sp.Max(0, z))


def gaussian_mean(expr):
    """E[expr(z)] for z ~ N(0, 1), integrated by sympy (ReLU as its positive half-line)."""
    density = sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi)
    if expr.has(sp.Max):
        positive = expr.replace(lambda e: isinstance(e, sp.Max), lambda e: e.args[1] if e.args[0] == 0 else e.args[0])
        return sp.simplify(sp.integrate(positive * density, (z, 0, sp.oo)))
    # sympy integrates polynomials against the Gaussian exactly; anything else (tanh) it either leaves
    # unevaluated or grinds on for seconds, so those go to mpmath's quadrature at 30 digits
    value = sp.integrate(expr * density, (z, -sp.oo, sp.oo)) if expr.is_polynomial(z) else None
    if value is None or value.has(sp.Integral):
        import mpmath

        fn = sp.lambdify(z, expr * density, "mpmath")
        with mpmath.workdps(30):
            return sp.Float(mpmath.quad(fn, [-mpmath.inf, 0, mpmath.inf]), 30)
    return sp.simplify(value)


@cache
def hermite(teacher: str) -> dict:
    """mu_0 = E[s(z)], mu_1 = E[z s(z)] (= E[s'(z)], Stein), |s|^2 = E[s(z)^2] of a teacher."""
    if teacher not in TEACHERS:
        raise LazyrichError(f"unknown teacher {teacher!r}; choose one of {', '.join(TEACHERS)}")
    s = TEACHERS[teacher]
    return {"mu0": gaussian_mean(s), "mu1": gaussian_mean(z * s), "norm2": gaussian_mean(s ** 2)}


@cache
def predicted_alignment():
    """cos(v, beta*) in the proportional limit, v = (1/p) X^T y: the spike's left singular vector.

    E v = mu_1* beta*; Cov v = (1/p)(E[y^2 x x^T] - E v E v^T), whose trace over the d - 1 directions
    orthogonal to beta* is (d - 1) E[y^2]/p (x_perp is independent of y): with p = psi d,
    |v - E v|^2 -> E[y^2]/psi. E[y^2] = |sigma*|^2 + sigma_eps^2."""
    Ey2 = norm2 + noise ** 2
    cos2 = mu1 ** 2 / (mu1 ** 2 + Ey2 / psi)
    return sp.sqrt(cos2)


@cache
def linear_risk():
    """The population risk of the best linear predictor c + theta.x: theta = mu_1* beta*, c = mu_0*."""
    theta, c = sp.symbols("theta c", real=True)
    # E[(s(z) + eps - c - theta z)^2] in Hermite data, minimised over (c, theta)
    risk = norm2 + noise ** 2 + c ** 2 + theta ** 2 - 2 * c * mu0 - 2 * theta * mu1
    sol = sp.solve([sp.diff(risk, c), sp.diff(risk, theta)], [c, theta], dict=True)[0]
    return sp.simplify(risk.subs(sol))


d_sym, p_sym = sp.Symbol("d", positive=True), sp.Symbol("p", positive=True)


@cache
def finite_alignment(teacher: str):
    """The same cosine at finite d and p, to first order in the fluctuations:
    cos^2 = mu_1*^2/(mu_1*^2 + ((d - 1) E[y^2] + E[y^2 z^2] - mu_1*^2)/p), z = beta* . x; the
    difference from the limit is part of the finite-size error of the one-step-spike check."""
    s = TEACHERS[teacher]
    Ey2z2 = gaussian_mean(s ** 2 * z ** 2) + noise ** 2
    Ey2 = norm2 + noise ** 2
    return sp.sqrt(mu1 ** 2 / (mu1 ** 2 + ((d_sym - 1) * Ey2 + Ey2z2 - mu1 ** 2) / p_sym))
