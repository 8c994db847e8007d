"""A small vector algebra on sympy, so that derivations hold in every dimension d.

Vectors are commutative sympy Symbols registered here, and a *vector expression* is a
sympy expression that is linear in them: ``c1*z + c2*x`` with scalar coefficients c_i.
Scalar products are Symbols too (``dot(z, x)``), so sympy differentiates, simplifies and
prints everything with its own machinery; this module only adds the rules of vector
calculus that sympy lacks for dimension-free vectors: bilinearity of the dot product,
time derivatives along given rates, gradients with respect to a vector, substitution of a
vector by a vector expression, Jacobians as combinations of outer products, and the
expansion into explicit components for a concrete d (used to cross-check everything).
"""
from __future__ import annotations

from dataclasses import dataclass
import sympy as sp
from .errors import LazyrichError


@dataclass(frozen=True)
class VectorInfo:
    latex: str
    axes: tuple[str, ...]  # index axes the vector carries besides its components ("n", "mu", "nu")


@dataclass(frozen=True)
class ScalarInfo:
    latex: str
    axes: tuple[str, ...]


VECTORS: dict[sp.Symbol, VectorInfo] = {}
SCALARS: dict[sp.Symbol, ScalarInfo] = {}
DOTS: dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol]] = {}
OUTERS: dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol]] = {}
IDENTITY = sp.Symbol("Identity", commutative=True)


def vector(name: str, latex: str, axes: tuple[str, ...] = ()) -> sp.Symbol:
    sym = sp.Symbol(name)
    VECTORS[sym] = VectorInfo(latex, axes)
    return sym


def scalar(name: str, latex: str, axes: tuple[str, ...] = (), **assumptions) -> sp.Symbol:
    sym = sp.Symbol(name, **assumptions)
    SCALARS[sym] = ScalarInfo(latex, axes)
    return sym


def _ordered(a: sp.Symbol, b: sp.Symbol) -> tuple[sp.Symbol, sp.Symbol]:
    return (a, b) if a.name <= b.name else (b, a)


def dot_symbol(a: sp.Symbol, b: sp.Symbol) -> sp.Symbol:
    """The scalar product a.b of two registered vectors, as one canonical Symbol."""
    a, b = _ordered(a, b)
    sym = sp.Symbol(f"{a.name}{a.name}" if a == b else f"{a.name}_{b.name}")
    DOTS[sym] = (a, b)
    return sym


def outer_symbol(a: sp.Symbol, b: sp.Symbol) -> sp.Symbol:
    """The outer product a b^T (a matrix), as a Symbol in which matrix expressions are linear."""
    sym = sp.Symbol(f"outer_{a.name}_{b.name}")
    OUTERS[sym] = (a, b)
    return sym


def latex_names() -> dict[sp.Symbol, str]:
    names = {s: i.latex for s, i in VECTORS.items()}
    names.update({s: i.latex for s, i in SCALARS.items()})
    for s, (a, b) in DOTS.items():
        la, lb = VECTORS[a].latex, VECTORS[b].latex
        names[s] = rf"\left|{la}\right|^{{2}}" if a == b else rf"\left({la} \cdot {lb}\right)"
    for s, (a, b) in OUTERS.items():
        names[s] = rf"{VECTORS[a].latex} {VECTORS[b].latex}^{{\top}}"
    names[IDENTITY] = r"\mathbb{1}"
    return names


def latex(expr) -> str:
    return sp.latex(expr, symbol_names=latex_names())


def vectors_in(expr) -> list[sp.Symbol]:
    return sorted((s for s in sp.sympify(expr).free_symbols if s in VECTORS), key=lambda s: s.name)


def coefficients(expr) -> dict[sp.Symbol, sp.Expr]:
    """Split a vector expression into {vector: scalar coefficient}; refuse anything non-linear."""
    expr = sp.sympify(expr)
    vecs = vectors_in(expr)
    coeffs = {v: sp.diff(expr, v) for v in vecs}
    rest = sp.simplify(expr.subs({v: 0 for v in vecs}))
    if rest != 0 or any(set(vectors_in(c)) for c in coeffs.values()):
        raise LazyrichError(f"not a vector expression (linear in vectors): {expr}")
    return {v: c for v, c in coeffs.items() if c != 0}


def combine(coeffs: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
    return sp.Add(*(c * v for v, c in coeffs.items()))


def dot(A, B) -> sp.Expr:
    """Scalar product of two vector expressions, by bilinearity."""
    ca, cb = coefficients(A), coefficients(B)
    return sp.Add(*(ca[u] * cb[v] * dot_symbol(u, v) for u in ca for v in cb))


def outer(A, B) -> sp.Expr:
    """Outer product A B^T of two vector expressions, as a matrix expression."""
    ca, cb = coefficients(A), coefficients(B)
    return sp.Add(*(ca[u] * cb[v] * outer_symbol(u, v) for u in ca for v in cb))


def _dots_with(v: sp.Symbol, expr) -> list[sp.Symbol]:
    return [s for s in sp.sympify(expr).free_symbols if s in DOTS and v in DOTS[s]]


def grad(s, v: sp.Symbol) -> sp.Expr:
    """Gradient of a scalar expression s with respect to the vector v (a vector expression)."""
    out = sp.S.Zero
    for ds in _dots_with(v, s):
        a, b = DOTS[ds]
        other = b if a == v else a
        out += sp.diff(s, ds) * (2 * v if a == b else other)
    return out


def time_derivative(expr, rates: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
    """d/dt of a scalar or vector expression, given d/dt of its scalars and vectors.

    Symbols without a rate are constant. The rate of a scalar product follows from
    the product rule, d(a.b)/dt = (da/dt).b + a.(db/dt).
    """
    expr = sp.sympify(expr)

    def scalar_rate(c):
        total = sp.S.Zero
        for q in c.free_symbols:
            if q in DOTS:
                a, b = DOTS[q]
                rq = dot(rates.get(a, 0), b) + dot(a, rates.get(b, 0))
            else:
                rq = rates.get(q, 0)
            if rq != 0:
                total += sp.diff(c, q) * rq
        return total

    vecs = vectors_in(expr)
    if not vecs:
        return scalar_rate(expr)
    return sp.Add(*(scalar_rate(c) * v + c * rates.get(v, 0) for v, c in coefficients(expr).items()))


def substitute(expr, replacements: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
    """Replace vectors by vector expressions, rewriting the scalar products that contain them."""
    expr = sp.sympify(expr)
    sub = {}
    for ds in [s for s in expr.free_symbols if s in DOTS]:
        a, b = DOTS[ds]
        if a in replacements or b in replacements:
            sub[ds] = dot(replacements.get(a, a), replacements.get(b, b))
    for os_ in [s for s in expr.free_symbols if s in OUTERS]:
        a, b = OUTERS[os_]
        if a in replacements or b in replacements:
            sub[os_] = outer(replacements.get(a, a), replacements.get(b, b))
    for v, e in replacements.items():
        sub[v] = e
    return expr.subs(sub, simultaneous=True) if sub else expr


def jacobian(F, v: sp.Symbol) -> sp.Expr:
    """dF/dv for a vector expression F, as a combination of the identity and outer products."""
    out = sp.S.Zero
    for u, c in coefficients(F).items():
        out += outer(u, grad(c, v)) if grad(c, v) != 0 else 0
        if u == v:
            out += c * IDENTITY
    return out


def simplify_vector(expr) -> sp.Expr:
    """Simplify each coefficient of a vector (or matrix) expression separately."""
    basis = [s for s in sp.sympify(expr).free_symbols if s in VECTORS or s in OUTERS or s == IDENTITY]
    if not basis:
        return sp.simplify(expr)
    expr = sp.expand(expr, deep=False)
    coeffs = {s: sp.simplify(sp.diff(expr, s)) for s in basis}
    return sp.Add(*(c * s for s, c in coeffs.items() if c != 0))


# ---------------------------------------------------------------- explicit components


def components(expr, d: int):
    """Expand a scalar, vector or matrix expression into explicit components for dimension d.

    Returns a sympy scalar, a d x 1 Matrix or a d x d Matrix. Used to print a derived object
    for a concrete d and to check the dimension-free algebra against plain sympy calculus.
    """
    expr = sp.sympify(expr)
    comps = {v: component_vector(v, d) for v in VECTORS}
    sub = {}
    for s in expr.free_symbols:
        if s in DOTS:
            a, b = DOTS[s]
            sub[s] = (comps[a].T * comps[b])[0, 0]
    expr_s = expr.xreplace(sub)
    basis = [s for s in expr.free_symbols if s in VECTORS or s in OUTERS or s == IDENTITY]
    if not basis:
        return expr_s
    is_matrix = any(s in OUTERS or s == IDENTITY for s in basis)
    out = sp.zeros(d, d) if is_matrix else sp.zeros(d, 1)
    for s in basis:
        c = sp.diff(expr_s, s)
        if s in VECTORS:
            out += c * comps[s]
        elif s == IDENTITY:
            out += c * sp.eye(d)
        else:
            a, b = OUTERS[s]
            out += c * comps[a] * comps[b].T
    return out


def component_vector(v: sp.Symbol, d: int) -> sp.Matrix:
    return sp.Matrix([sp.Symbol(f"{v.name}_{i + 1}", real=True) for i in range(d)])


__all__ = [
    "VECTORS", "SCALARS", "DOTS", "OUTERS", "IDENTITY", "vector", "scalar", "dot_symbol",
    "outer_symbol", "latex", "latex_names", "coefficients", "combine", "dot", "outer", "grad",
    "time_derivative", "substitute", "jacobian", "simplify_vector", "components",
    "component_vector", "vectors_in",
]
