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

AXES = ("n", "r", "mu", "nu")
LETTER = {"n": "a", "r": "r", "mu": "b", "nu": "c"}
AXIS_SIZE_NAME = {"n": "h", "r": "regions", "mu": "p", "nu": "q"}
GLOBAL_FROM_AXIS = {"h": "n", "p": "mu"}


class InputError(ValueError):
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
    raise ValueError(f"unknown backend {name!r}: use 'numpy' or 'torch'")


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
    raise ValueError(f"symbol {sym} has no registered axes")


@dataclass
class Compiled:
    """A callable for one equation; see :func:`compile_expression`."""

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
        self.vectors = sorted({v for s in self.basis for v in self._basis_vectors(s)}
                              | {v for c in parts.values() for ds in c.free_symbols if ds in V.DOTS for v in V.DOTS[ds]},
                              key=lambda s: s.name)
        self.scalars = sorted({s for c in parts.values() for s in c.free_symbols if s in V.SCALARS}, key=lambda s: s.name)
        self.dots = sorted({s for c in parts.values() for s in c.free_symbols if s in V.DOTS}, key=lambda s: s.name)
        self.axes = tuple(ax for ax in AXES if any(ax in _axes_of(s) for s in self.vectors + self.scalars))
        self.out_axes = tuple(ax for ax in self.axes if ax not in self.reduce)
        args = self.scalars + self.dots
        # torch's printer refuses functions it does not know; ours (step, relu, ...) are in the namespace
        printer = None
        if self.backend == "torch":
            from sympy.printing.pytorch import TorchPrinter

            printer = TorchPrinter({"strict": False})
        self.coeffs = {s: (sp.lambdify(args, c, modules=[self._funcs, self._mod], printer=printer), c)
                       for s, c in parts.items()}
        self.args = args

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
        xp = self._xp()
        unknown = set(arrays) - set(self.arguments) - {s.name for s in S.GLOBALS}
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
                    dim = arr.shape[-1]
                elif arr.shape[-1] != dim:
                    raise InputError(f"{sym.name} has dimension {arr.shape[-1]}, other vectors have {dim}")
            values[sym] = arr
        for sym, arr in values.items():
            if not bool(xp.isfinite(arr).all()):
                raise InputError(f"{sym.name} contains NaN or infinite values")
        self._check_domain(values)
        for sym in self.scalars:
            if sym in S.GLOBALS:
                values[sym] = self._global(sym, arrays, sizes, dim, ref)
        full = tuple(sizes[ax] for ax in self.axes)
        for sym in self.scalars:
            if sym not in S.GLOBALS:
                values[sym] = self._spread(values[sym], _axes_of(sym))
        for ds in self.dots:
            a, b = V.DOTS[ds]
            values[ds] = self._dot(values, a, b)
        args = [values[s] for s in self.args]
        out = None
        for s, (fn, _) in self.coeffs.items():
            c = fn(*args)
            c = self._broadcast(c, full, ref)
            term = self._contract(c, s, values, dim, ref)
            out = term if out is None else out + term
        return out

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
        coeffs = [c for _, c in self.coeffs.values()]
        for sym, arr in values.items():
            if sym in V.VECTORS:
                ds = V.dot_symbol(sym, sym)
                if any(_in_denominator(ds, c) for c in coeffs):
                    arr = (arr ** 2).sum(-1)
                else:
                    continue
            elif not any(_in_denominator(sym, c) for c in coeffs):
                continue
            zero = (arr == 0).reshape(-1)
            if bool(zero.any()):  # works under torch.func transforms too (no .numpy())
                idx = [int(i) for i in zero.nonzero()[:5].reshape(-1).tolist()]
                what = {"b": "b = 0, where z = -sqrt(d) b omega/|omega|^2 is undefined",
                        "z": "z = 0, where the neuron has no position (b = 0)",
                        "omega": "omega = 0, where the neuron has no hyperplane"}.get(sym.name, f"{sym.name} = 0")
                raise InputError(f"{what}: at index {idx} (the expression divides by it)")

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
        if self.backend == "torch":
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

    def _broadcast(self, c, full, ref):
        xp = self._xp()
        if self.backend == "torch":
            import torch

            if not isinstance(c, torch.Tensor):
                c = torch.as_tensor(c, dtype=ref.dtype if ref is not None else torch.float64,
                                    device=ref.device if ref is not None else None)
            return c.expand(full) if c.shape != full else c
        return xp.broadcast_to(np.asarray(c, dtype=np.float64), full)

    def _contract(self, c, s, values, dim, ref):
        xp = self._xp()
        lc = "".join(LETTER[ax] for ax in self.axes)
        lo = "".join(LETTER[ax] for ax in self.out_axes)
        if s is None:
            return xp.einsum(f"{lc}->{lo}", c) if self.reduce else c
        if s in V.VECTORS:
            lv = "".join(LETTER[ax] for ax in _axes_of(s))
            return xp.einsum(f"{lc},{lv}i->{lo}i", c, values[s])
        if s == V.IDENTITY:
            red = xp.einsum(f"{lc}->{lo}", c) if self.reduce else c
            eye = (xp.eye(dim, dtype=ref.dtype, device=ref.device) if self.backend == "torch"
                   else np.eye(dim))
            return red[..., None, None] * eye
        a, b = V.OUTERS[s]
        la = "".join(LETTER[ax] for ax in _axes_of(a))
        lb = "".join(LETTER[ax] for ax in _axes_of(b))
        return xp.einsum(f"{lc},{la}i,{lb}j->{lo}ij", c, values[a], values[b])


def _in_denominator(sym, expr):
    num, den = sp.fraction(sp.together(expr))
    return den.has(sym)


def compile_expression(expr, reduce=(), backend="numpy", defaults=None) -> Compiled:
    """Compile a per-term expression, summing over the axes in ``reduce``."""
    return Compiled(sp.sympify(expr), tuple(reduce), backend, dict(defaults or {}))
