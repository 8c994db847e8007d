"""lazyrich.theory: the symbolic model of a one-hidden-layer ReLU network, derived with sympy.

    >>> from lazyrich.theory import derive
    >>> zdot = derive("z-velocity")
    >>> print(zdot.latex())                       # paste into a paper
    >>> F = zdot.compile("torch", "zdot")         # batched callable, float64
"""
from . import derivations, losses, symbols, vectors
from .compile import Compiled, InputError, compile_expression
from .derived import CATALOGUE, Derived, Equation, derive, names

__all__ = ["derive", "names", "Derived", "Equation", "CATALOGUE", "Compiled", "InputError",
           "compile_expression", "derivations", "losses", "symbols", "vectors"]
