"""lazyrich: a theory-checking toolkit for feature learning in one-hidden-layer ReLU networks.

Subpackages: ``lazyrich.theory`` (sympy derivations), ``lazyrich.numerics`` (data models and
numerical tools), ``lazyrich.validation`` (theory against simulation).

In the source tree the subpackages live in the top-level folders theory/, numerics/ and
validation/; an installed wheel places them inside this package (see pyproject.toml). When
imported from a source checkout, the repository root is added to this package's search path
so that ``lazyrich.theory`` finds ./theory in both cases, and nothing generic such as
``theory`` is ever importable at top level.
"""
from pathlib import Path as _Path

__version__ = "0.1.0"

_root = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).resolve().parent / "theory").is_dir() and (_root / "theory" / "__init__.py").is_file() \
        and (_root / "pyproject.toml").is_file():
    __path__.append(str(_root))  # noqa: F821  (the package's own __path__)
