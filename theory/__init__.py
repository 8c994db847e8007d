"""lazyrich.theory: the symbolic model of a one-hidden-layer ReLU network, derived with sympy.

    >>> from lazyrich.theory import derive
    >>> zdot = derive("z-velocity")
    >>> print(zdot.latex())                       # paste into a paper
    >>> F = zdot.compile("torch", "zdot")         # batched callable, float64

The names below are imported on first use (PEP 562), so that importing a light module such as
lazyrich.theory.catalogue does not import sympy.
"""
from importlib import import_module

_WHERE = {"derive": "derived", "names": "derived", "Derived": "derived", "Equation": "derived",
          "CATALOGUE": "derived", "Compiled": "compile", "InputError": "compile", "compile_expression": "compile"}
_MODULES = ("derivations", "losses", "symbols", "vectors")

__all__ = ["derive", "names", "Derived", "Equation", "CATALOGUE", "Compiled", "InputError",
           "compile_expression", "derivations", "losses", "symbols", "vectors"]


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    if name in _MODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
