"""The light catalogue of names (for the command line's start) agrees with the derived objects and losses."""
import subprocess
import sys

from lazyrich.theory import catalogue, losses
from lazyrich.theory.derived import CATALOGUE, names


def test_the_names_are_those_of_the_objects():
    assert tuple(CATALOGUE) == catalogue.DERIVED == tuple(names())
    assert tuple(losses.LOSSES) == catalogue.LOSSES == tuple(losses.loss_names())


def test_the_catalogue_imports_without_sympy():
    code = "import sys, lazyrich.theory.catalogue; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_theory_package_still_offers_its_names():
    import lazyrich.theory as T

    assert T.derive("z-velocity").name == "z-velocity" and T.names() == list(catalogue.DERIVED)
    assert issubclass(T.InputError, ValueError) and T.symbols.z is not None
