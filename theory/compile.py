"""Compile derived expressions to numpy or torch callables, batched over neurons and points.

An expression is a per-term formula whose symbols carry index axes (n: neurons, mu: training
points, nu: second inputs). The callable takes one array per symbol (named like the symbol:
``omega`` (h, d), ``x`` (p, d), ``b`` (h,), ``g`` (p,) ...), computes the scalar products with
einsum, evaluates each scalar coefficient with sympy's lambdify, broadcasts over the axes and
sums the axes that the equation sums (for example mu in dz/dt). float64 throughout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import symbols as S
from . import vectors as V
from .losses import sigmoid, softplus
from .errors import LazyrichError

AXES = ("n", "r", "mu", "nu")
LETTER = {"n": "a", "r": "r", "mu": "b", "nu": "c"}
AXIS_SIZE_NAME = {"n": "h", "r": "regions", "mu": "p", "nu": "q"}
GLOBAL_FROM_AXIS = {"h": "n", "p": "mu"}


class InputError(LazyrichError):
    """A bad input to a compiled derived object: wrong shape, NaN, or outside its domain."""


def _backend(name):
    if name == "numpy":
        from scipy.special import expit

        return {
            "step": lambda a: (a > 0).astype(np.float64),
            "relu": lambda a: np.maximum(a, 0.0),
            "softplus": lambda a: np.logaddexp(0.0, a),
            "sigmoid": expit,
        }, "numpy"
    if name == "torch":
        import torch

        return {
            "step": lambda a: (a > 0).to(a.dtype),
            "relu": torch.relu,
            # exact log(1 + e^a): torch.nn.functional.softplus turns linear above a = 20 (error e^-20)
            "softplus": lambda a: torch.logaddexp(a, torch.zeros_like(a)),
            "sigmoid": torch.sigmoid,
        }, "torch"
    raise LazyrichError(f"unknown backend {name!r}: use 'numpy' or 'torch'")


def _prepare(expr):
    """Map the special functions to names the backends provide. Theta(0) = 0, as in autograd."""
    step, relu = sp.Function("step"), sp.Function("relu")
    expr = expr.replace(lambda e: isinstance(e, sp.Heaviside), lambda e: step(e.args[0]))
    expr = expr.replace(lambda e: isinstance(e, sp.Max) and len(e.args) == 2 and 0 in e.args,
                        lambda e: relu(e.args[1] if e.args[0] == 0 else e.args[0]))
    if expr.has(sp.Max) or expr.has(sp.Min):
        raise TypeError(f"cannot compile {expr}: only Max(0, u) is supported")
    return expr.replace(lambda e: isinstance(e, softplus), lambda e: sp.Function("softplus")(e.args[0])) \
               .replace(lambda e: isinstance(e, sigmoid), lambda e: sp.Function("sigmoid")(e.args[0]))


def _axes_of(sym):
    if sym in V.VECTORS:
        return V.VECTORS[sym].axes
    if sym in V.SCALARS:
        return V.SCALARS[sym].axes
    if sym in V.DOTS:
        a, b = V.DOTS[sym]
        return tuple(ax for ax in AXES if ax in V.VECTORS[a].axes or ax in V.VECTORS[b].axes)
    raise LazyrichError(f"symbol {sym} has no registered axes")


@dataclass(frozen=True)
class _Factor:
    """A product of the factors of one coefficient that depend on the same index axes."""

    axes: tuple[str, ...]
    expr: sp.Expr


@dataclass
class Compiled:
    """A callable for one equation; see :func:`compile_expression`.

    Each coefficient of the basis (vectors, outer products, identity) is split into factors
    by the axes they depend on: a neuron-only factor (beta_n/b_n), a point-only factor (g_mu)
    and a mixed factor (the activation). Only the mixed factor is evaluated on the full
    (h, p) grid; the others multiply the small arrays before or after the contraction over
    the summed axis. All factors are evaluated by one lambdified function with common
    subexpression elimination, so the activation is computed once for all coefficients.
    """

    expr: sp.Expr
    reduce: tuple[str, ...]
    backend: str
    defaults: dict

    def __post_init__(self):
        self._funcs, self._mod = _backend(self.backend)
        e = _prepare(sp.sympify(self.expr))
        self.basis = [s for s in e.free_symbols if s in V.VECTORS or s in V.OUTERS or s == V.IDENTITY]
        self.basis.sort(key=lambda s: s.name)
        self.kind = "scalar" if not self.basis else ("vector" if all(s in V.VECTORS for s in self.basis) else "matrix")
        parts = {s: sp.diff(sp.expand(e, deep=False), s) for s in self.basis} if self.basis else {None: e}
        self.parts = parts
        self.vectors = sorted({v for s in self.basis for v in self._basis_vectors(s)}
                              | {v for c in parts.values() for ds in c.free_symbols if ds in V.DOTS for v in V.DOTS[ds]},
                              key=lambda s: s.name)
        self.scalars = sorted({s for c in parts.values() for s in c.free_symbols if s in V.SCALARS}, key=lambda s: s.name)
        self.dots = sorted({s for c in parts.values() for s in c.free_symbols if s in V.DOTS}, key=lambda s: s.name)
        self.axes = tuple(ax for ax in AXES if any(ax in _axes_of(s) for s in self.vectors + self.scalars))
        self.out_axes = tuple(ax for ax in self.axes if ax not in self.reduce)
        self.args = self.scalars + self.dots
        # inputs that must not vanish, found once here rather than at every call: symbols (or
        # squared norms of vectors) in a denominator, and z, which is 0 only where b = 0
        in_denominator = lambda q: any(_in_denominator(q, c) for c in parts.values())  # noqa: E731
        self._nonzero = [v for v in self.vectors if v == S.z or in_denominator(V.dot_symbol(v, v))] + \
                        [q for q in self.scalars if q not in S.GLOBALS and in_denominator(q)]
        self.factors = {s: self._split(c) for s, c in parts.items()}
        flat = [f.expr for fs in self.factors.values() for f in fs]
        printer = _torch_printer(self._funcs) if self.backend == "torch" else None
        self._evaluate = sp.lambdify(self.args, flat, modules=[self._funcs, self._mod], printer=printer, cse=True)

    def _split(self, c) -> list[_Factor]:
        groups: dict[tuple[str, ...], list] = {}
        for factor in sp.Mul.make_args(c):
            axes = tuple(ax for ax in AXES if any(ax in _axes_of(q) for q in factor.free_symbols
                                                  if q in V.SCALARS or q in V.DOTS))
            groups.setdefault(axes, []).append(factor)
        return [_Factor(axes, sp.Mul(*fs)) for axes, fs in sorted(groups.items(), key=lambda kv: len(kv[0]))]

    @staticmethod
    def _basis_vectors(s):
        if s in V.VECTORS:
            return (s,)
        if s in V.OUTERS:
            return V.OUTERS[s]
        return ()

    @property
    def arguments(self) -> list[str]:
        return [s.name for s in self.vectors] + [s.name for s in self.scalars if s not in S.GLOBALS]

    # -- evaluation -----------------------------------------------------------------------------
    def __call__(self, **arrays):
        values, sizes, dim, ref = self._inputs(arrays)
        args = [values[s] for s in self.args]
        results = iter(self._evaluate(*args))
        out = None
        for s, factors in self.factors.items():
            arrs = [self._shaped(next(results), f.axes, sizes, ref) for f in factors]
            term = self._contract(s, factors, arrs, values, sizes, dim, ref)
            out = term if out is None else out + term
        return out

    def _inputs(self, arrays):
        xp = self._xp()
        # other symbols of the model are ignored (one set of arrays serves every equation of an
        # object); a name that is no symbol at all is a typo and is refused
        known = {s.name for s in V.VECTORS} | {s.name for s in V.SCALARS}
        unknown = set(arrays) - known
        if unknown:
            raise InputError(f"unexpected argument(s) {sorted(unknown)}; expected {self.arguments}")
        sizes, dim, values = {}, None, {}
        ref = None
        for sym in self.vectors + [s for s in self.scalars if s not in S.GLOBALS]:
            if sym.name not in arrays:
                raise InputError(f"missing argument {sym.name!r}; expected {self.arguments}")
            arr = self._as_array(arrays[sym.name], sym.name)
            ref = arr if ref is None else ref
            axes = _axes_of(sym)
            want = len(axes) + (1 if sym in V.VECTORS else 0)
            if arr.ndim != want:
                raise InputError(f"{sym.name} must have {want} dimension(s) {self._shape_doc(sym)}, got shape {tuple(arr.shape)}")
            for ax, size in zip(axes, arr.shape):
                if sizes.setdefault(ax, size) != size:
                    raise InputError(f"{sym.name} has {size} along axis {AXIS_SIZE_NAME[ax]}, other inputs have {sizes[ax]}")
            if sym in V.VECTORS:
                if dim is None:
                    dim, dim_from = arr.shape[-1], sym.name
                elif arr.shape[-1] != dim:
                    raise InputError(f"vectors disagree in dimension: {dim_from} has d = {dim}, "
                                     f"{sym.name} has d = {arr.shape[-1]}")
            values[sym] = arr
        if dim is None and arrays.get("d") is not None:  # no vector given: d only from the argument
            dim = int(arrays["d"])
        if dim is None and V.IDENTITY in self.basis:
            raise InputError("missing argument 'd': the result is a d x d matrix and no vector fixes d")
        for sym, arr in values.items():
            if not bool(xp.isfinite(arr).all()):
                raise InputError(f"{sym.name} contains NaN or infinite values")
        self._check_domain(values)
        for sym in self.scalars:
            if sym in S.GLOBALS:
                values[sym] = self._global(sym, arrays, sizes, dim, ref)
        # scalars and dots are spread over all axes (size 1 where absent) so lambdify broadcasts
        for sym in self.scalars:
            if sym not in S.GLOBALS:
                values[sym] = self._spread(values[sym], _axes_of(sym))
        for ds in self.dots:
            a, b = V.DOTS[ds]
            values[ds] = self._dot(values, a, b)
        return values, sizes, dim, ref

    def _xp(self):
        if self.backend == "torch":
            import torch

            return torch
        return np

    def _as_array(self, a, name):
        if self.backend == "torch":
            import torch

            if not isinstance(a, torch.Tensor):
                a = torch.as_tensor(np.asarray(a, dtype=np.float64))
            return a
        a = np.asarray(a)
        if a.dtype.kind not in "fiub":
            raise InputError(f"{name} must be numeric, got dtype {a.dtype}")
        return a.astype(np.float64, copy=False)

    def _shape_doc(self, sym):
        dims = [AXIS_SIZE_NAME[ax] for ax in _axes_of(sym)] + (["d"] if sym in V.VECTORS else [])
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"

    def _check_domain(self, values):
        # A quantity in a denominator must not vanish: b_n = 0 or z_n = 0 (no neuron position),
        # omega_n = 0 (no hyperplane), |m_A| = 0 (no fixed point): say so instead of returning inf.
        for sym in self._nonzero:
            arr = values[sym]
            if sym in V.VECTORS:
                arr = (arr ** 2).sum(-1)
            zero = (arr == 0).reshape(-1)
            if bool(zero.any()):  # works under torch.func transforms too (no .numpy())
                where = np.flatnonzero(zero) if isinstance(zero, np.ndarray) else zero.nonzero().reshape(-1)
                idx = [int(i) for i in where[:5].tolist()]
                what = {"b": "b = 0, where z = -sqrt(d) b omega/|omega|^2 is undefined",
                        "z": "z = 0, where the neuron has no position (b = 0)",
                        "omega": "omega = 0, where the neuron has no hyperplane"}.get(sym.name, f"{sym.name} = 0")
                raise InputError(f"{what}: at index {idx}")

    def _global(self, sym, arrays, sizes, dim, ref):
        if sym.name in arrays and arrays[sym.name] is not None:
            val = float(arrays[sym.name])
        elif sym.name == "d" and dim is not None:
            val = float(dim)
        elif sym.name in GLOBAL_FROM_AXIS and GLOBAL_FROM_AXIS[sym.name] in sizes:
            val = float(sizes[GLOBAL_FROM_AXIS[sym.name]])
        elif sym.name in self.defaults:
            val = float(self.defaults[sym.name])
        else:
            raise InputError(f"missing argument {sym.name!r} (it cannot be inferred from the array shapes)")
        if not math.isfinite(val) or (sym.is_positive and val <= 0):
            raise InputError(f"{sym.name} must be a finite{' positive' if sym.is_positive else ''} number, got {val}")
        if self.backend == "torch":  # torch functions (torch.sqrt(d)) need tensors
            import torch

            return torch.tensor(val, dtype=ref.dtype if ref is not None else torch.float64,
                                device=ref.device if ref is not None else None)
        return val

    def _spread(self, arr, axes):
        shape = [arr.shape[axes.index(ax)] if ax in axes else 1 for ax in self.axes]
        return arr.reshape(shape)

    def _dot(self, values, a, b):
        xp = self._xp()
        va, vb = values[a], values[b]
        la = "".join(LETTER[ax] for ax in _axes_of(a))
        lb = "".join(LETTER[ax] for ax in _axes_of(b))
        if a == b:
            res = (va * va).sum(-1)
            axes = _axes_of(a)
        else:
            out_axes = tuple(ax for ax in AXES if ax in _axes_of(a) or ax in _axes_of(b))
            lo = "".join(LETTER[ax] for ax in out_axes)
            res = xp.einsum(f"{la}i,{lb}i->{lo}", va, vb)
            axes = out_axes
        return self._spread(res, axes)

    def _shaped(self, c, axes, sizes, ref):
        """A factor's value as an array over exactly its own axes (constants stay scalars)."""
        if not axes:
            return c
        full = tuple(sizes[ax] if ax in axes else 1 for ax in self.axes)
        own = tuple(sizes[ax] for ax in axes)
        if self.backend == "torch":
            import torch

            if not isinstance(c, torch.Tensor):
                c = torch.as_tensor(c, dtype=ref.dtype, device=ref.device)
            return c.expand(full).reshape(own)
        return np.broadcast_to(np.asarray(c, dtype=np.float64), full).reshape(own)

    def _contract(self, s, factors, arrs, values, sizes, dim, ref):
        """Sum over the reduced axes of (product of the factors) x (basis element).

        Factors over output axes only (beta_n/b_n) multiply the result after the sum; a factor
        over exactly the axes of a vector (g_mu for x_mu) scales that vector before it; only
        the rest (the activation) enters the einsum at full size.
        """
        xp = self._xp()
        if s in V.VECTORS:
            vec = [[values[s], _axes_of(s), "i"]]
        elif s in V.OUTERS:
            a, b = V.OUTERS[s]
            vec = [[values[a], _axes_of(a), "i"], [values[b], _axes_of(b), "j"]]
        else:
            vec = []
        const, after, operands, subs = 1.0, [], [], []
        for f, arr in zip(factors, arrs):
            if not f.axes:
                const = const * arr
            elif set(f.axes) <= set(self.out_axes):
                after.append((arr, f.axes))
            else:
                host = next((v for v in vec if tuple(v[1]) == f.axes), None)
                if host is not None:
                    host[0] = host[0] * arr.reshape(arr.shape + (1,))
                else:
                    operands.append(arr)
                    subs.append("".join(LETTER[ax] for ax in f.axes))
        for v in vec:
            operands.append(v[0])
            subs.append("".join(LETTER[ax] for ax in v[1]) + v[2])
        mat = "".join(v[2] for v in vec)
        present = {ax for ax in self.axes if any(LETTER[ax] in sub for sub in subs)}
        layout = lambda have, tail: [sizes[ax] if ax in have else 1 for ax in self.out_axes] + tail  # noqa: E731
        if operands:
            core_axes = "".join(LETTER[ax] for ax in self.out_axes if ax in present)
            core = xp.einsum(",".join(subs) + "->" + core_axes + mat, *operands)
            core = core.reshape(layout(present, [dim] * len(mat)))
        else:
            core = const
            const = 1.0
        for arr, axes in after:
            core = core * arr.reshape(layout(axes, [1] * len(mat)))
        for ax in self.reduce:  # a summed axis that nothing depends on: the sum is a product
            if ax in sizes and ax not in present:
                const = const * sizes[ax]
        out = core * const if not (isinstance(const, float) and const == 1.0) else core
        if s == V.IDENTITY:
            eye = xp.eye(dim, dtype=ref.dtype, device=ref.device) if self.backend == "torch" else np.eye(dim)
            out = out.reshape(tuple(out.shape) + (1, 1)) * eye if hasattr(out, "shape") else out * eye
        shape = tuple(sizes[ax] for ax in self.out_axes) + (dim,) * (len(mat) + (2 if s == V.IDENTITY else 0))
        if not hasattr(out, "shape"):
            out = xp.full(shape, float(out), dtype=ref.dtype, device=ref.device) if self.backend == "torch" \
                else np.full(shape, float(out))
        if tuple(out.shape) != shape:
            out = out.expand(shape) if self.backend == "torch" else np.broadcast_to(out, shape)
        return out


def _torch_printer(funcs):
    """sympy's torch printer, taught to call our own functions (step, relu, ...) by name."""
    from sympy.printing.pytorch import TorchPrinter

    class _Printer(TorchPrinter):
        def _print_Function(self, expr):
            name = type(expr).__name__
            if name in funcs:
                return f"{name}({', '.join(self._print(a) for a in expr.args)})"
            return super()._print_Function(expr)

        def _print_Pow(self, expr, **kwargs):
            # a constant power such as 1/pi: torch.pow(float, int) does not exist, a float does
            if expr.is_number:
                return repr(float(expr))
            return super()._print_Pow(expr, **kwargs)

    return _Printer()


def _in_denominator(sym, expr):
    num, den = sp.fraction(sp.together(expr))
    return den.has(sym)


def compile_expression(expr, reduce=(), backend="numpy", defaults=None) -> Compiled:
    """Compile a per-term expression, summing over the axes in ``reduce``."""
    return Compiled(sp.sympify(expr), tuple(reduce), backend, dict(defaults or {}))


def elementwise(expr, symbols, backend="torch"):
    """A raw elementwise callable f(*arrays) of a scalar expression, for hot loops.

    No shape or domain checks and no axes: the arrays broadcast as the backend does. Used by
    the simulator for the loss and its weight g on (networks, points) arrays; the checked,
    axis-aware form is :func:`compile_expression`.
    """
    funcs, mod = _backend(backend)
    printer = _torch_printer(funcs) if backend == "torch" else None
    return sp.lambdify(list(symbols), _prepare(sp.sympify(expr)), modules=[funcs, mod], printer=printer)


# ------------------------------------------------------------------------ matrix expressions
def _matrix_functions(backend):
    """The special functions of theory.single_neuron for each lambdify backend."""
    if backend == "numpy":
        from scipy.special import exprel

        return {"inner": lambda u, v: (u * v).sum(axis=(-2, -1)), "mtrace": np.trace,
                "exprel": lambda k, s: s * exprel(k * s)}
    if backend == "torch":
        import torch

        def t_exprel(k, s):
            k, s = torch.as_tensor(k, dtype=torch.float64), torch.as_tensor(s, dtype=torch.float64)
            ks = k * s
            small = ks.abs() < 1e-8
            return torch.where(small, s * (1 + ks / 2), torch.expm1(ks) / torch.where(small, torch.ones_like(k), k))

        return {"inner": lambda u, v: (u * v).sum(dim=(-2, -1)), "mtrace": torch.trace, "exprel": t_exprel}
    if backend == "mpmath":
        import mpmath

        def m_exprel(k, s):
            return s if k == 0 else mpmath.expm1(k * s) / k

        return {"inner": lambda u, v: sum(a * b for a, b in zip(u, v)), "exprel": m_exprel,
                "mtrace": lambda m: sum(m[i, i] for i in range(m.rows))}
    raise LazyrichError(f"unknown backend {backend!r}: use 'numpy', 'torch' or 'mpmath'")


class MatrixCompiled:
    """A sympy expression over scalars and MatrixSymbols, lambdified for numpy, torch or mpmath.

    Arguments are passed by name (matrices as (rows, cols) arrays, column vectors as (d, 1)); the
    symbolic size d is read off the first matrix argument, and Identity(d) becomes eye(d), which
    lambdify cannot print for a symbolic size."""

    def __init__(self, expr, backend: str = "numpy", size=None):
        self.backend, self.size = backend, size
        eye = sp.MatrixSymbol("Identity_d", size, size) if size is not None else None
        if size is not None:
            expr = expr.replace(lambda e: isinstance(e, sp.Identity), lambda e: eye)
        # lambdify's printers have no Trace: an opaque function that each backend maps to its trace
        expr = expr.replace(lambda e: isinstance(e, sp.Trace), lambda e: sp.Function("mtrace")(e.args[0]))
        symbols = sorted((s for s in expr.free_symbols if s != size), key=lambda s: s.name)
        self.matrices = [s.name for s in symbols if isinstance(s, sp.MatrixSymbol) and s != eye]
        self.arguments = [s.name for s in symbols if s != eye]
        self._uses_eye = eye is not None and eye in expr.free_symbols
        funcs = _matrix_functions(backend)
        printer = _torch_printer(funcs) if backend == "torch" else None
        self._fn = sp.lambdify(symbols, expr, modules=[funcs, backend], printer=printer)
        self._order = [s.name for s in symbols]

    def __call__(self, **values):
        missing = sorted(set(self.arguments) - set(values))
        if missing:
            raise InputError(f"missing arguments {', '.join(missing)}; this expression takes {', '.join(self.arguments)}")
        if self.backend == "torch":
            import torch

            values = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in values.items()}
        if self._uses_eye:
            values = dict(values, Identity_d=self._eye(values[self.matrices[0]].shape[0]))
        return self._fn(*(values[name] for name in self._order))

    def _eye(self, dim):
        if self.backend == "torch":
            import torch

            return torch.eye(dim, dtype=torch.float64)
        if self.backend == "mpmath":
            import mpmath

            return mpmath.eye(dim)
        return np.eye(dim)
