"""Losses of the margin m = y F, and the per-point weights g = -l'(m) y that drive the flow.

Every loss enters the gradient flow only through g_mu, so one derivation serves all of them.
The soft functions are sympy Functions of their own so that the compiled code evaluates them
stably (log1p/exp tricks) instead of the literal log(1 + exp(s)), which overflows.
"""
import sympy as sp

from . import catalogue
from . import symbols as S
from .errors import LazyrichError


class softplus(sp.Function):
    """softplus(s) = log(1 + e^s)."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _latex(self, printer):
        return r"\log\left(1 + e^{%s}\right)" % printer._print(self.args[0])

    def _eval_rewrite_as_log(self, s, **kwargs):
        return sp.log(1 + sp.exp(s))


class sigmoid(sp.Function):
    """sigmoid(s) = 1 / (1 + e^-s)."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0]) * (1 - sigmoid(self.args[0]))

    def _latex(self, printer):
        return r"\frac{1}{1 + e^{-%s}}" % printer.parenthesize(self.args[0], 1000)

    def _eval_rewrite_as_exp(self, s, **kwargs):
        return 1 / (1 + sp.exp(-s))


m = S.margin
LOSSES = {
    "hinge": sp.Max(0, 1 - m),
    "soft-hinge": softplus(S.softness * (1 - m)) / S.softness,
    "quadratic-hinge": sp.Max(0, 1 - m) ** 2 / 2,
    "mse": (1 - m) ** 2 / 2,
    "logistic": softplus(-m),
}
DEFAULT_SOFTNESS = 20.0  # soft hinge sharpness a; a -> infinity gives back the hinge


def loss_names() -> list[str]:
    return list(catalogue.LOSSES)


def canonical_loss(name: str) -> str:
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    key = {"softhinge": "soft-hinge", "quadratic": "quadratic-hinge", "squared-hinge": "quadratic-hinge",
           "qhinge": "quadratic-hinge", "l2": "mse", "cross-entropy": "logistic"}.get(key, key)
    if key not in LOSSES:
        raise LazyrichError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return key


def loss(name: str) -> sp.Expr:
    """l(m) as a sympy expression in the margin m."""
    return LOSSES[canonical_loss(name)]


def loss_weight(name: str) -> sp.Expr:
    """g = -l'(m) y, derived by differentiating the loss."""
    return sp.simplify(-sp.diff(loss(name), m) * S.y)
