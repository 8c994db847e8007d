"""The ``lazyrich`` command line: one module per command group, each adding its own subparsers.

Conventions for every subcommand: ``--json`` prints one JSON object on stdout, text otherwise;
a bad argument or a bad file prints one line on stderr and exits with code 2. The start stays
cheap: torch, sympy, dask, pandas and matplotlib are imported only inside the commands that
need them.
"""
from __future__ import annotations

import sys

from . import (bench, data, derive, fixed_points, kernels, l2_sparsity, one_step, reduce, simulate, single_neuron, sweeps,
               validate)
from .common import Parser, UsageError, check_outputs

# the order of the commands in ``lazyrich --help``
GROUPS = (derive, data, simulate, reduce, fixed_points, kernels, single_neuron, one_step, l2_sparsity, validate, sweeps, bench)

__all__ = ["main", "build_parser", "UsageError"]


def build_parser() -> Parser:
    from .. import __version__

    parser = Parser(prog="lazyrich", description="Theory-checking toolkit for lazy vs feature learning "
                                                 "in one-hidden-layer ReLU networks.")
    parser.add_argument("--version", action="version", version=f"lazyrich {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv=None) -> int:
    from ..sweep.errors import RunsFailed
    from ..theory.errors import LazyrichError

    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "json", False) or getattr(args, "format", None) == "json":
            import warnings

            # stderr stays quiet for scripts: numerical warnings (overflow in a screening, a poorly
            # conditioned fit) are reflected in the results' own flags (complete, converged, notes)
            warnings.simplefilter("ignore", RuntimeWarning)
        check_outputs(args)
        return args.func(args) or 0
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    # lazyrich's own errors (DataError, InputError, SimulationError, SpecError ...) derive from
    # theory.errors.LazyrichError; any other exception is a bug and keeps its traceback
    except (UsageError, LazyrichError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(msg if msg.startswith("lazyrich") else f"lazyrich: error: {msg}", file=sys.stderr)
        return 2
    except RunsFailed as exc:  # the whole message: it carries the failed run's traceback
        print(f"lazyrich: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lazyrich: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (lazyrich ... | head): nothing left to say
        sys.stderr.close()
        return 0
