"""Derived objects: each result of derivations.py with its meaning, its display and its compilers.

A :class:`Derived` holds one or more :class:`Equation` s. An equation is a per-term expression
plus the index axes it is summed over (``("mu",)`` for the flow, a sum over training points).
The same object prints as LaTeX or text, serialises to JSON (with sympy's ``srepr`` so the
expression can be rebuilt exactly), expands into explicit components for a given d, and
compiles to batched numpy or torch callables. The catalogue at the bottom is the single
place that names the derived objects; the CLI, the notes generator and the tests all use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import sympy as sp

from . import catalogue
from . import derivations as D
from . import infinite_width as IW
from . import losses as L
from . import symbols as S
from . import vectors as V
from . import l2_sparsity as L2
from . import one_step as OS
from . import single_neuron as SN
from .compile import Compiled, MatrixCompiled, compile_expression
from .errors import LazyrichError

AXIS_INDEX = {"n": (r"n", "h"), "mu": (r"\mu", "p"), "nu": (r"\nu", "q"), "r": ("A", "")}


@dataclass(frozen=True)
class Equation:
    label: str  # short key, also the key of the compiled callable
    lhs: str  # LaTeX of the left-hand side
    term: sp.Expr  # per-term right-hand side
    sums: tuple[str, ...] = ()  # axes summed over ("mu" for the flow, "n" for the NTK)
    relation: str = "="  # "=" or ">" (for conditions such as the activation)
    text_lhs: str = ""
    # "vector": the network's dimension-free vector algebra (theory.vectors), compiled batched over
    # neurons and points; "matrix": sympy MatrixSymbols (theory.single_neuron), lambdified as is
    kind: str = "vector"
    compiled_term: sp.Expr | None = None  # what compiles, when the display keeps named intermediates

    def display(self) -> sp.Expr:
        """The term with common scalar factors pulled out of vector combinations."""
        return self.term if self.kind == "matrix" else sp.factor_terms(self.term)

    def explicit(self, d: int):
        """The term in explicit components for dimension d (a scalar or a sympy Matrix)."""
        if self.kind == "matrix":
            return SN.explicit(self.term, d)
        return V.components(self.term, d).subs(S.d, d)

    def latex(self, d: int | None = None) -> str:
        rhs = self.explicit(d) if d is not None else self.display()
        if self.kind == "matrix":
            return rf"{self.lhs} {self.relation} " + sp.latex(rhs, symbol_names={**SN.LATEX, **OS.LATEX, **L2.LATEX})
        return rf"{self.lhs} {self.relation} " + _latex(rhs, sums=self.sums)

    def compiled(self, backend: str):
        if self.kind == "matrix":
            return _matrix_compiled(self.compiled_term if self.compiled_term is not None else self.term, backend)
        return _compiled(self.term, self.sums, backend)

    def text(self, d: int | None = None) -> str:
        rhs = self.explicit(d) if d is not None else self.display()
        sums = "".join(f"sum_{ax} " for ax in self.sums)
        return f"{self.text_lhs or self.label} {self.relation} {sums}{sp.sstr(rhs)}"


def _latex(expr, sums=()) -> str:
    body = V.latex(expr).replace(r"\theta\left(", r"\Theta\left(")
    prefix = "".join(rf"\sum_{{{AXIS_INDEX[ax][0]}=1}}^{{{AXIS_INDEX[ax][1]}}} " if AXIS_INDEX[ax][1]
                     else rf"\sum_{{\mu \in {AXIS_INDEX[ax][0]}}} " for ax in sums)
    return prefix + body


@dataclass(frozen=True)
class Derived:
    name: str
    title: str
    equations: tuple[Equation, ...]
    assumptions: tuple[str, ...]
    explanation: str
    loss: str | None = None
    extra: dict = field(default_factory=dict)

    def equation(self, label: str) -> Equation:
        for eq in self.equations:
            if eq.label == label:
                return eq
        raise KeyError(f"{self.name} has no equation {label!r}; it has {[e.label for e in self.equations]}")

    def latex(self, d: int | None = None) -> str:
        """All equations as one LaTeX block (aligned when there are several)."""
        lines = [eq.latex(d) for eq in self.equations]
        if len(lines) == 1:
            return lines[0]
        return "\\begin{aligned}\n" + " \\\\\n".join(line.replace(" = ", " &= ", 1).replace(" > ", " &> ", 1).replace(" < ", " &< ", 1)
                                                      for line in lines) + "\n\\end{aligned}"

    def text(self, d: int | None = None) -> str:
        out = [f"{self.name}: {self.title}"]
        out += ["  " + eq.text(d) for eq in self.equations]
        out += ["", self.explanation, "", "assumptions:"] + [f"  - {a}" for a in self.assumptions]
        return "\n".join(out)

    def to_json(self, d: int | None = None) -> dict:
        exprs = [eq.explicit(d) if d is not None else eq.term for eq in self.equations]
        return {
            "name": self.name,
            "title": self.title,
            "latex": self.latex(d),
            "sympy": sp.srepr(exprs[0]) if len(exprs) == 1 else sp.srepr(sp.Tuple(*exprs)),
            "assumptions": list(self.assumptions),
            "equations": [{"label": eq.label, "lhs": eq.lhs, "relation": eq.relation, "sums": list(eq.sums),
                           "latex": eq.latex(d), "sympy": sp.srepr(e)} for eq, e in zip(self.equations, exprs)],
            "explanation": self.explanation,
            "loss": self.loss,
            "d": d,
            **self.extra,
        }

    def compile(self, backend: str = "numpy", label: str | None = None) -> Compiled | dict[str, Compiled]:
        """Batched callables: one per equation (a dict), or the one named by ``label``."""
        if label is not None:
            return self.equation(label).compiled(backend)
        return {eq.label: eq.compiled(backend) for eq in self.equations}


@cache
def _matrix_compiled(term, backend) -> MatrixCompiled:
    return MatrixCompiled(term, backend, SN.d)


@cache
def _compiled(term, sums, backend) -> Compiled:
    # compiled callables hold no state, so one per (expression, backend) serves every caller
    return compile_expression(term, sums, backend, {"a": L.DEFAULT_SOFTNESS})


# ------------------------------------------------------------------------------- catalogue

COMMON = (
    "sigma = ReLU, with Theta(0) = 0 (the subgradient autograd uses)",
    "time convention: d theta/dt = -h dL/dtheta, L = (1/(alpha^2 p)) sum_mu l(y_mu F(x_mu)), F = alpha (f - f_0)",
    "g_mu = -l'(y_mu F(x_mu)) y_mu carries the loss (y_mu = +-1)",
)
NEURON = ("b_n != 0 and omega_n != 0, so that z_n is defined (z_n = 0 iff b_n = 0)",)


def _loss_equations(loss: str | None) -> tuple[Equation, ...]:
    if loss is None:
        return ()
    return (Equation("loss", r"\ell(m_{\mu})", L.loss(loss), text_lhs="l(m)"),
            Equation("g", r"g_{\mu}", L.loss_weight(loss), text_lhs="g"))


def _parameter_flow():
    r = D.parameter_flow()
    return Derived(
        "parameter-flow", "gradient flow of neuron n's parameters",
        (Equation("omega", r"\dot{\boldsymbol{\omega}}_{n}", r[S.omega], ("mu",), text_lhs="d omega_n/dt"),
         Equation("b", r"\dot{b}_{n}", r[S.b], ("mu",), text_lhs="d b_n/dt"),
         Equation("beta", r"\dot{\beta}_{n}", r[S.beta], ("mu",), text_lhs="d beta_n/dt")),
        COMMON,
        "Differentiate the mu-th loss term l(y alpha (f - f_0))/(alpha^2 p) with respect to "
        "(omega_n, b_n, beta_n) and replace l' by -g y. The factor h of the time convention cancels "
        "the 1/h of the output layer, so each rate is O(1) in h and 1/alpha in alpha.")


def _z_position():
    return Derived(
        "z-position", "neuron position in input space and its inverse",
        (Equation("z", r"\mathbf{z}_{n}", D.z_definition(), text_lhs="z_n"),
         Equation("omega", r"\boldsymbol{\omega}_{n}", D.omega_of_z(), text_lhs="omega_n")),
        NEURON,
        "z_n is the point of the hyperplane u_n(x) = 0 nearest the origin. It is parallel to "
        "omega_n, which fixes omega_n = -sqrt(d) b_n z_n/|z_n|^2 given z_n and b_n.")


def _z_velocity():
    return Derived(
        "z-velocity", "velocity of the neuron position, dz_n/dt = F(z_n)",
        (Equation("zdot", r"\dot{\mathbf{z}}_{n}", D.z_velocity(), ("mu",), text_lhs="dz_n/dt"),),
        COMMON + NEURON,
        "Product rule on z = -sqrt(d) b omega/|omega|^2 along the parameter flow, then omega "
        "eliminated in favour of z (omega = -sqrt(d) b z/|z|^2). The activation Theta(u_n(x_mu)) "
        "is rewritten as Theta(b_n(|z_n|^2 - z_n.x_mu)). The field depends on beta_n and b_n only "
        "through the prefactor beta_n/b_n, and (beta_n/b_n)^2 = 1 + d/|z_n|^2 + Q_n/b_n^2 with Q_n "
        "conserved: for balanced neurons (Q_n = 0) it is a closed flow in z alone, given the g_mu; "
        "otherwise it closes in (z_n, b_n).")


def _activation():
    return Derived(
        "activation", "activation condition of neuron n at x_mu, in z",
        (Equation("argument", "0", D.activation_argument(), relation="<", text_lhs="active iff 0"),),
        NEURON,
        "u_n(x) = omega.x/sqrt(d) + b with omega written through z, multiplied by |z|^2 > 0. "
        "For b_n > 0 the neuron is active at x_mu when z_n lies outside the sphere with diameter "
        "[0, x_mu] (|z_n|^2 > z_n.x_mu); for b_n < 0 when it lies inside.",
        extra={"condition": "active iff b_n (|z_n|^2 - z_n . x_mu) > 0"})


def _switching_surface():
    level, centre, radius2 = D.switching_surface()
    return Derived(
        "switching-surface", "surface in z-space where neuron n switches at x_mu",
        (Equation("level", r"S_{\mu}(\mathbf{z})", level, text_lhs="S_mu(z)"),
         Equation("centre", r"\mathbf{c}_{\mu}", centre, text_lhs="centre"),
         Equation("radius2", r"r_{\mu}^{2}", radius2, text_lhs="radius^2")),
        NEURON,
        "The activation argument divided by b_n. S_mu(z) = |z - c_mu|^2 - r_mu^2: a sphere "
        "through the origin and through x_mu, with diameter [0, x_mu]. It does not depend on "
        "b_n; the sign of b_n decides which side is active.")


def _conserved():
    Q, Qz = D.conserved()
    return Derived(
        "conserved", "quantity conserved by the flow of each ReLU neuron",
        (Equation("Q", r"Q_{n}", Q, text_lhs="Q_n"), Equation("Qz", r"Q_{n}", Qz, text_lhs="Q_n(z)"),
         Equation("delta", r"\delta_{n}", D.imbalance_with_rates(), text_lhs="delta_n")),
        COMMON + NEURON + ("delta_n: the first layer (omega, b) trains at rate eta_1, beta at eta_2 "
                           "(d omega/dt = -eta_1 h dL/d omega, d beta/dt = -eta_2 h dL/d beta)",),
        "Ansatz Q = c1 beta^2 + c2 |omega|^2 + c3 b^2; dQ/dt = 0 for every point and loss "
        "(using relu(u) = u Theta(u)) fixes c2 = c3 = -c1: balancedness of the two layers. "
        "In z, |omega|^2 = d b^2/|z|^2. With a learning rate per layer the same ansatz gives "
        "c2 = c3 = -c1 eta_2/eta_1: the per-neuron imbalance delta_n of Kunin et al. (Q_n at equal rates).")


def _region_field():
    return Derived(
        "region-field", "the field F_A(z) inside one activation region A",
        (Equation("F", r"\mathbf{F}_{A}(\mathbf{z}_{n})", D.region_field(), text_lhs="F_A(z_n)"),),
        COMMON + NEURON + ("A = set of active training points, G_A = sum_{mu in A} g_mu, "
                           "m_A = sum_{mu in A} g_mu x_mu",),
        "Inside a region every Theta is constant; the per-point term is affine in x_mu (checked), "
        "so the sum over A only involves G_A and m_A.")


def _fixed_point():
    zstar, discarded = D.fixed_point()
    return Derived(
        "fixed-point", "the fixed point of F_A in region A",
        (Equation("condition", r"\mathbf{0}", D.region_field(), text_lhs="0"),
         Equation("zstar", r"\mathbf{z}^{*}_{A}", zstar, text_lhs="z*_A")),
        COMMON + NEURON + ("m_A != 0; z* is an equilibrium only if it lies in region A itself",),
        "F_A = a(z) z + c(z) m_A. If z and m_A were independent, c = 0 would force |z|^2 = "
        f"{discarded}, i.e. no neuron; so z = t m_A and the scalar equation for t has the single "
        "non-zero root t = -d G_A/|m_A|^2. One regular equilibrium per region, when it lies in it.",
        extra={"discarded_roots_of_zz": [str(r) for r in discarded]})


def _jacobian():
    J, Jstar = D.region_jacobian()
    return Derived(
        "jacobian", "Jacobian of F_A and its value at the fixed point",
        (Equation("J", r"\frac{\partial \mathbf{F}_{A}}{\partial \mathbf{z}}", J, text_lhs="dF_A/dz"),
         Equation("Jstar", r"\left.\frac{\partial \mathbf{F}_{A}}{\partial \mathbf{z}}\right|_{\mathbf{z}^{*}_{A}}",
                  Jstar, text_lhs="dF_A/dz at z*")),
        COMMON + NEURON,
        "At z* the antisymmetric part z m^T - m z^T vanishes (z* is parallel to m_A) and the "
        "Jacobian is a multiple of the identity: the fixed point is a stable node iff "
        "beta_n G_A / b_n > 0, an unstable node otherwise (every direction at the same rate).")


def _inversion():
    return Derived(
        "inversion", "the neuron in inverted coordinates w = z/|z|^2, where switching surfaces are planes",
        (Equation("argument", "0", D.inverted_activation(), relation="<", text_lhs="active iff 0"),
         Equation("wstar", r"\mathbf{w}^{*}_{A}", D.inverted_fixed_point(), text_lhs="w*_A")),
        COMMON + NEURON + ("w_n = z_n/|z_n|^2 = -omega_n/(sqrt(d) b_n): z = 0 maps to infinity and back",),
        "Inversion in the unit sphere maps each switching sphere (through the origin, diameter "
        "[0, x_mu]) to the hyperplane w.x_mu = 1, so the activation regions are the cells of an "
        "arrangement of p hyperplanes, and the fixed point of a region is the weighted mean "
        "w* = -m_A/(d G_A). Fixed points are found by enumerating the cells (numerics/arrangement.py).")


def _sliding():
    condition, lam = D.sliding_condition()
    return Derived(
        "sliding-equilibrium", "equilibria on switching surfaces (Filippov sliding)",
        (Equation("condition", r"0", condition, text_lhs="0"),
         Equation("lambda", r"\lambda_{\mu}", lam, text_lhs="lambda")),
        COMMON + NEURON + ("the field on a surface is Filippov's convex combination of the fields on its two sides",
                           "G, m_A are the weights of the region with the surface's point switched off"),
        "The field is linear in the per-point weights, so a convex combination of the fields on the "
        "two sides of the surface of x_mu is a region field with weights G + lambda g_mu and "
        "m_A + lambda g_mu x_mu, lambda in [0, 1]. Its zero z* = -d G m/|m|^2 lies on the surface iff "
        "d G + m.x_mu = 0. On k surfaces at once the weights lambda_nu of the k points enter "
        "linearly: sum_nu lambda_nu g_nu (d + x_mu.x_nu) = -(d G_A + m_A.x_mu) for each mu of the k, "
        "a k x k linear system; where it is singular the sliding field is not unique. Convex "
        "combinations of the 2^k fields around an intersection only enter through these k "
        "marginal weights, so a non-singular system gives a unique sliding field.")


def _ntk_finite():
    return Derived(
        "ntk-finite", "neural tangent kernel of the finite network",
        (Equation("Theta", r"\Theta(\mathbf{x}_{\mu}, \mathbf{x}'_{\nu})", D.ntk_finite_term(), ("n",),
                  text_lhs="Theta(x, x')"),),
        ("sigma = ReLU, Theta(0) = 0", "Theta = sum over all parameters of df(x)/dtheta df(x')/dtheta"),
        "Sum over neurons of the products of the gradients of f with respect to beta_n, omega_n "
        "and b_n. With the time convention, dF(x)/dt = (h/p) sum_mu g_mu Theta(x, x_mu).")


_KERNEL_ASSUMPTIONS = ("NTK scaling: f = (1/sqrt h) sum_n beta_n relu(omega_n.x/sqrt d + b_n)",
                       "omega_n ~ N(0, I_d), b_n ~ N(0, 1), beta_n ~ N(0, 1), independent",
                       "h -> infinity: the empirical kernel is the mean of h i.i.d. neuron terms, so it "
                       "deviates from this limit by O(h^-1/2)",
                       "the simulator's f has 1/h instead of 1/sqrt h: its finite NTK times h tends to "
                       "this Theta, and dF/dt = (1/p) sum_mu g_mu h Theta_sim(x, x_mu)")


def _kernel_equations(label, lhs, expr):
    Sigma, ss, angle, _, _ = IW.infinite_width_kernels()
    return (Equation("Sigma", r"\Sigma(\mathbf{x}_{\mu}, \mathbf{x}'_{\nu})", Sigma, text_lhs="Sigma"),
            Equation("S", r"S = \sqrt{s^{2} s'^{2} - \Sigma^{2}}", ss, text_lhs="S"),
            Equation("theta", r"\theta", angle, text_lhs="theta"),
            Equation(label, lhs, expr, text_lhs=label))


def _nngp():
    return Derived(
        "nngp", "infinite-width NNGP kernel (arc-cosine kernel of order 1, with bias)",
        _kernel_equations("K", r"K(\mathbf{x}_{\mu}, \mathbf{x}'_{\nu})", IW.infinite_width_kernels()[3]),
        _KERNEL_ASSUMPTIONS,
        "K = E[relu(u) relu(u')] for the Gaussian pair of pre-activations with covariance Sigma "
        "and variances s^2 = |x|^2/d + 1, s'^2 = |x'|^2/d + 1; sympy integrates in polar "
        "coordinates of the plane: K = (S + (pi - theta) Sigma)/(2 pi) with s s' cos(theta) = Sigma, "
        "s s' sin(theta) = S. Inputs off the unit sphere enter through s and s' (the bias).")


def _ntk_infinite():
    return Derived(
        "ntk-infinite", "infinite-width neural tangent kernel (with bias)",
        _kernel_equations("Theta", r"\Theta_{\infty}(\mathbf{x}_{\mu}, \mathbf{x}'_{\nu})",
                          IW.infinite_width_kernels()[4]),
        _KERNEL_ASSUMPTIONS,
        "The mean of the finite NTK term (ntk-finite) over the initialisation: the beta part gives "
        "the NNGP K, the omega and b parts give E[step(u) step(u')] (x.x'/d + 1) = "
        "(pi - theta)/(2 pi) Sigma. So Theta = (S + 2 (pi - theta) Sigma)/(2 pi).")


def _ntk_compressed():
    par, perp = IW.compressed_ntk()
    return Derived(
        "ntk-compressed", "NTK of a network whose weights lie in the informative subspace",
        (Equation("Theta_par", r"\Theta^{\parallel}(\mathbf{x}^{\parallel}_{\mu}, \mathbf{x}'^{\parallel}_{\nu})",
                  par, ("n",), text_lhs="Theta_par"),
         Equation("Theta_perp", r"\Theta^{\perp}(\mathbf{x}^{\parallel}_{\mu}, \mathbf{x}'^{\parallel}_{\nu})",
                  perp, ("n",), text_lhs="Theta_perp")),
        ("sigma = ReLU, Theta(0) = 0", "omega_n.x_perp = 0 for every neuron (a compressed network)",
         "x = x_par + x_perp with x_par in the informative subspace and x_perp orthogonal to it"),
        "Theta(x, x') = Theta_par(x_par, x'_par) + Theta_perp(x_par, x'_par) x_perp.x'_perp, both "
        "coefficients depending on the informative coordinates only. When x_perp is independent of "
        "x_par with E[x_perp] = 0 and E[x_perp x_perp^T] = c P_perp, the kernel operator maps "
        "phi(x_par) to a function of x_par (the x_perp term averages out) and phi(x_par) u.x_perp "
        "(u orthogonal to the subspace) to c (T_perp phi)(x_par) u.x_perp. Its eigenfunctions are "
        "two families: phi1(x_par), eigenfunctions of Theta_par, and phi2(x_par) u.x_perp, with "
        "phi2 an eigenfunction of c Theta_perp, each with multiplicity d - d_par.")


def _loss_weight():
    return Derived(
        "loss-weight", "per-point weight g = -l'(m) y for each loss",
        tuple(Equation(name, rf"g_{{\mu}}^{{\text{{{name}}}}}", L.loss_weight(name), text_lhs=f"g[{name}]")
              for name in L.LOSSES),
        ("m_mu = y_mu F(x_mu), y_mu = +-1", f"soft hinge sharpness a (default {L.DEFAULT_SOFTNESS})"),
        "Differentiate each loss l(m) with respect to the margin.")


# ----------------------------------------------------------- the single neuron (second seed)
SINGLE = ("f(x) = a w^T x, one neuron with linear activation; square loss on the population, "
          "L = (1/2) E[(y - a w^T x)^2], Sigma_xx = E[x x^T] symmetric, Sigma_xy = E[x y]",
          "dw/dt = -eta_w dL/dw, da/dt = -eta_a dL/da (a learning rate per layer)")
WHITENED = SINGLE + ("whitened inputs: Sigma_xx = I, Sigma_xy = B e with |e| = 1, B > 0; w = w_par e + w_perp, "
                     "rho = |w_perp|; a_0 > 0",)


def _m(label, lhs, term, text_lhs, compiled_term=None):
    return Equation(label, lhs, term, text_lhs=text_lhs, kind="matrix", compiled_term=compiled_term)


def _single_neuron_flow():
    wdot, adot, bdot = SN.flow()
    return Derived(
        "single-neuron-flow", "gradient flow of the single neuron f(x) = a w^T x",
        (_m("w", r"\dot{\mathbf{w}}", wdot, "dw/dt"), _m("a", r"\dot{a}", adot, "da/dt"),
         _m("beta", r"\dot{\boldsymbol{\beta}}", bdot, "dbeta/dt")),
        SINGLE,
        "Differentiate the population loss (a 1 x 1 matrix expression in the MatrixSymbols w, Sigma_xx, "
        "Sigma_xy) and scale each layer's gradient by its learning rate; beta = a w by the product rule. "
        "beta' = (eta_w a^2 I + eta_a w w^T)(Sigma_xy - Sigma_xx beta): the NTK metric times the residual.")


def _single_neuron_imbalance():
    return Derived(
        "single-neuron-imbalance", "the conserved imbalance of the single neuron",
        (_m("delta", r"\delta", SN.imbalance(), "delta"),),
        SINGLE,
        "Ansatz c1 a^2 + c2 |w|^2, differentiated along the flow in explicit components (d = 2) for a "
        "symmetric Sigma_xx and any Sigma_xy: c2 = -c1 eta_a/eta_w. With c1 = eta_w, delta = eta_w a^2 "
        "- eta_a |w|^2 (each layer's squared norm weighted by the other layer's learning rate); checked "
        "for d = 1, 2, 3.")


def _single_neuron_riccati():
    r_def, rdot, lin = SN.riccati()
    fixed = SN.riccati_fixed_points()
    stable = [root for root, slope in fixed if slope.subs({SN.delta: 0, SN.B: 1, SN.eta_w: 1, SN.eta_a: 1}) < 0]
    unstable = [root for root, slope in fixed if root not in stable]
    slope = [sl for root, sl in fixed if root in stable][0]
    return Derived(
        "single-neuron-riccati", "whitened inputs: the flow reduced to a scalar Riccati equation",
        (_m("r", "r", r_def, "r"), _m("rdot", r"\dot{r}", rdot, "dr/dt"),
         _m("linear", "0", lin, "0 (u with r = u'/(2 eta_w eta_a u))"),
         _m("r_stable", r"r_{\infty}", stable[0], "r_inf (stable)"),
         _m("slope", r"\left.\frac{\partial \dot{r}}{\partial r}\right|_{r_{\infty}}", slope, "dR/dr at r_inf"),
         _m("r_unstable", r"r_{u}", unstable[0], "r_u (unstable)")),
        WHITENED,
        "The flow of w stays in the plane of beta* = B e and w(0). In that plane r = B w_par/(2 eta_w a) "
        "obeys, after rho is eliminated with the conserved delta, dr/dt = B^2/2 - delta r - 2 eta_w eta_a r^2: "
        "a Riccati equation with constant coefficients, in which a, w_par and rho no longer appear. Its stable "
        "root is r_inf = (D - delta)/(4 eta_w eta_a), D = sqrt(delta^2 + 4 eta_w eta_a B^2), approached at "
        "rate D; there beta = beta* (eta_w a_inf^2 = (delta + D)/2). The other root is unstable. r = u'/(2 "
        "eta_w eta_a u) turns it into the linear u'' + delta u' - eta_w eta_a B^2 u = 0.")


def _single_neuron_trajectory():
    display, full = SN.trajectory()
    lhs = {"D": ("D", "D"), "C_plus": ("C_{+}", "C_+"), "C_minus": ("C_{-}", "C_-"), "u": ("u(t)", "u(t)"),
           "chi": (r"\chi(t)", "chi(t)"), "a": ("a(t)", "a(t)"),
           "beta_par": (r"\beta_{\parallel}(t) = \mathbf{e}^{\top} \boldsymbol{\beta}(t)", "beta_par(t)"),
           "beta_perp": (r"\beta_{\perp}(t) = a(t) |\mathbf{w}_{\perp}(t)|", "beta_perp(t)")}
    return Derived(
        "single-neuron-trajectory", "whitened inputs: the closed-form trajectory beta(t) = a(t) w(t)",
        tuple(_m(name, lhs[name][0], display[name], lhs[name][1], full[name]) for name in display),
        WHITENED + ("u' = du/dt; exprel(k, t) = (e^{k t} - 1)/k (t at k = 0)",
                    "beta(t) = beta_par(t) e + beta_perp(t) w_perp(0)/|w_perp(0)|"),
        "u = C_+ e^{(D - delta) t/2} + C_- e^{-(D + delta) t/2} solves the linearised Riccati equation with "
        "u(0) = 1 and u'(0) = 2 eta_w eta_a r(0). chi = u^2/a^2 obeys chi' = -2 delta chi + 2 eta_w u^2 "
        "(derived with a eliminated), a linear equation integrated exactly; then a = u/sqrt(chi), "
        "beta_par = u u'/(eta_a B chi) and |w_perp| = rho_0 e^{-delta t}/(a_0 sqrt(chi)). The compiled "
        "equations have every intermediate substituted, so each takes (t, a_0, w_par0, rho_0, B, delta, "
        "eta_w, eta_a).")


def _single_neuron_implicit_bias():
    A_inf, c = SN.implicit_bias()
    return Derived(
        "single-neuron-implicit-bias", "rank-1 Sigma_xx: which minimiser the flow picks, beta_inf(delta)",
        (_m("a2", r"a_{\infty}^{2}", A_inf, "a_inf^2"), _m("c", r"\mathbf{e}^{\top} \boldsymbol{\beta}_{\infty}", c,
                                                            "e.beta_inf")),
        SINGLE + ("Sigma_xx = lambda_1 e e^T, Sigma_xy = q e (Sigma_xy must lie in the range of Sigma_xx)",
                  "beta_inf = (q/lambda_1) e + a_inf w_perp(0); a_inf > 0 when delta + eta_a |w_perp|^2 >= 0, "
                  "else sign(a_inf) = sign(q w_e(0))"),
        "Across e the residual vanishes, so w_perp is constant; along e the flow of (a, w_e) conserves "
        "delta' = eta_w a^2 - eta_a w_e^2 = delta + eta_a |w_perp|^2 and ends on a w_e = q/lambda_1. "
        "Eliminating w_e gives eta_w A - eta_a (c^2/A + |w_perp|^2) = delta for A = a_inf^2, whose positive "
        "root is a_inf^2. The limits: delta -> +inf gives a_inf -> a_0, so beta_perp keeps its initial value "
        "a_0 w_perp(0) (a frozen, w learns: the minimiser nearest beta_0, lazy); delta -> -inf gives "
        "a_inf -> c/w_e(0), so beta_inf is parallel to w(0) (w frozen, a learns: lazy in the readout); "
        "small balanced initialisations (delta ~ 0, |w_perp(0)| small) end near c e, the minimum-norm "
        "minimiser (rich).")


def _single_neuron_ntk():
    K, M, M_beta, S_dist = SN.ntk()
    return Derived(
        "single-neuron-ntk", "the NTK of the single neuron with the learning rates as metric, and its distance",
        (_m("K", r"K(\mathbf{x}, \mathbf{x}')", K, "K(x, x')"), _m("M", "M", M, "M"),
         _m("M_beta", r"M(\boldsymbol{\beta}, \delta)", M_beta, "M(beta, delta)"),
         _m("S", "S(t)", S_dist, "S(t)")),
        SINGLE + ("kernel distance over the input distribution: <K_0, K_t> = E_{x,x'}[K_0 K_t] = "
                  "tr(M_0 Sigma_xx M_t Sigma_xx)",),
        "K = eta_w grad_w f . grad_w f' + eta_a (df/da)(df'/da) = x^T M x' with M = eta_w a^2 I + eta_a w w^T "
        "(checked in components). Through beta = a w and delta: eta_w a^2 = (delta + sqrt(delta^2 + 4 eta_w "
        "eta_a |beta|^2))/2, so M depends on the function and the conserved delta only. S = 0 while the "
        "kernel keeps its shape (lazy) and grows as it aligns with the task (rich).")


# --------------------------------------------------------------------- one gradient step (second seed)
def _one_step_gradient():
    G, spike, rest = OS.first_gradient()
    return Derived(
        "one-step-gradient", "the first gradient G_0 of a two-layer network and its rank-one spike",
        (Equation("G", r"\mathbf{G}_{j}", G, ("mu",), text_lhs="G_j"),
         Equation("spike", r"\mathbf{G}^{\mathrm{spike}}_{j}", spike, ("mu",), text_lhs="G_j spike"),
         Equation("rest", r"\mathbf{G}^{\mathrm{rest}}_{j}", rest, ("mu",), text_lhs="G_j rest")),
        ("f(x) = h^{-1/2} sum_j a_j relu(w_j . x), L = (1/(2p)) sum_mu (y_mu - f(x_mu))^2, r_mu = y_mu - f(x_mu)",
         "G_j = -dL/dw_j at initialisation; the step is w_j <- w_j + eta sqrt(h) G_j",
         "x ~ N(0, I_d), w_j ~ N(0, I_d/d), a_j ~ N(0, 1/h)"),
        "Differentiate the square loss with respect to w_j. Splitting the ReLU derivative as "
        "Theta(w_j . x) = mu_1 + (Theta - mu_1), mu_1 = E[z relu(z)] = 1/2 (integrated), gives the spike "
        "mu_1 a_j (1/(p sqrt h)) sum_mu r_mu x_mu: the same vector v = (1/p) X^T r for every neuron, times a_j, "
        "a rank-one matrix v a^T/(2 sqrt h). The rest averages Theta - mu_1 (mean zero over w_j) and is "
        "smaller in operator norm in the proportional limit (Ba et al.).")


def _one_step_alignment():
    return Derived(
        "one-step-alignment", "the spike's alignment with the teacher and the best linear risk",
        (_m("cos", r"\left|\cos(\mathbf{u}_{1}, \boldsymbol{\beta}^{*})\right|", OS.predicted_alignment(),
            "|cos(u_1, beta*)|"),
         _m("risk_linear", r"R_{\mathrm{lin}}", OS.linear_risk(), "R_lin")),
        ("single-index teacher y = s(beta* . x) + noise, |beta*| = 1; mu_0* = E[s(z)], mu_1* = E[z s(z)], "
         "|s|^2 = E[s(z)^2] for z ~ N(0, 1)", "proportional limit p, d, h -> infinity with psi = p/d fixed",
         "the spike dominates G_0, so its top left singular vector u_1 is the direction of v = (1/p) X^T y"),
        "E v = E[x s(beta* . x)] = mu_1* beta* by Stein's lemma; the d - 1 directions orthogonal to beta* are "
        "independent of y, so |v - E v|^2 -> (d/p) E[y^2] with E[y^2] = |s|^2 + noise^2. Hence cos^2 = mu_1*^2/"
        "(mu_1*^2 + E[y^2]/psi): increasing in psi, 1 as psi -> infinity, 0 for teachers without a linear part "
        "(He_2). The best linear predictor c + theta . x has c = mu_0*, theta = mu_1* beta* and risk "
        "|s|^2 - mu_0*^2 - mu_1*^2 + noise^2.")


# --------------------------------------------------------------------- L2 sparsity (second seed)
def _l2_representation_cost():
    cost, directions = L2.tight_cost()
    bound, one_output = L2.neuron_bounds()
    eqs = [("neuron", r"\min_{c>0} \left(c^{2}|\mathbf{w}|^{2} + c^{-2}|\mathbf{a}|^{2}\right)", L2.neuron_cost(), "neuron cost"),
           ("cost", r"R(Y_{N})", cost, "R(Y_N)"), ("directions", r"n_{\mathrm{dir}}(Y_{N})", directions, "directions"),
           ("finite", r"\lambda^{-1} \mathrm{cost}_{\lambda}", L2.finite_lambda_cost(), "cost/lambda"),
           ("bound", r"n_{\max}", bound, "N(N+1)"), ("bound_one_output", r"n_{\max}^{(k=1)}", one_output, "N+1")]
    return Derived(
        "l2-representation-cost", "L2-regularised shallow ReLU nets: the neuron cost, the tight example, the bounds",
        tuple(_m(*e) for e in eqs),
        ("f(x) = sum_j a_j relu(w_j . x), no bias; L = (1/N) sum_mu |f(x_mu) - y_mu|^2 + lambda (|W|^2 + |A|^2)",
         "tight example: X = I_N, Y_N = (N/2) I + adjacency of K_{N/2,N/2}, N even; lambda < 1/2"),
        "Rescaling a neuron (c w, a/c) leaves its function alone, so its least cost is 2|a||w|, and R(Y) = min "
        "2 sum_j |a_j||w_j| over networks with outputs Y. At X = I_N, R(Y) >= 2|Y|_*, with equality when Y is "
        "completely positive. Y_N = sum over the N^2/4 edges of (e_i + e_j)(e_i + e_j)^T is PSD (eigenvalues N, "
        "N/2, 0), so R(Y_N) = 2 tr Y_N = N^2, and AM-GM on each edge forces every minimiser onto the edge "
        "directions. At finite lambda the nuclear-norm relaxation shrinks each eigenvalue by lambda N, which "
        "gives the finite-lambda cost wherever the shrunk outputs stay completely positive.")


CATALOGUE = {
    "parameter-flow": _parameter_flow,
    "z-position": _z_position,
    "z-velocity": _z_velocity,
    "activation": _activation,
    "switching-surface": _switching_surface,
    "conserved": _conserved,
    "region-field": _region_field,
    "fixed-point": _fixed_point,
    "jacobian": _jacobian,
    "inversion": _inversion,
    "sliding-equilibrium": _sliding,
    "ntk-finite": _ntk_finite,
    "nngp": _nngp,
    "ntk-infinite": _ntk_infinite,
    "ntk-compressed": _ntk_compressed,
    "loss-weight": _loss_weight,
    "single-neuron-flow": _single_neuron_flow,
    "single-neuron-imbalance": _single_neuron_imbalance,
    "single-neuron-riccati": _single_neuron_riccati,
    "single-neuron-trajectory": _single_neuron_trajectory,
    "single-neuron-implicit-bias": _single_neuron_implicit_bias,
    "single-neuron-ntk": _single_neuron_ntk,
    "one-step-gradient": _one_step_gradient,
    "one-step-alignment": _one_step_alignment,
    "l2-representation-cost": _l2_representation_cost,
}


def names() -> list[str]:
    return list(catalogue.DERIVED)


@cache
def derive(name: str, loss: str | None = None) -> Derived:
    """The derived object ``name``; with ``loss``, the loss and its weight g are added to it."""
    if name not in CATALOGUE:
        raise LazyrichError(f"unknown derived object {name!r}; choose one of {', '.join(CATALOGUE)}")
    obj = CATALOGUE[name]()
    if loss is None:
        return obj
    loss = L.canonical_loss(loss)
    return Derived(obj.name, obj.title, obj.equations + _loss_equations(loss),
                   obj.assumptions, obj.explanation, loss, obj.extra)
