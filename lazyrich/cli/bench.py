"""``lazyrich bench``: a benchmark of lazyrich against the alternative a user would otherwise run."""
from __future__ import annotations

from .common import UsageError, emit


def cmd_bench(args):
    from ..bench import BENCHMARKS, run_benchmark

    if args.name not in BENCHMARKS:
        raise UsageError(f"unknown benchmark {args.name!r}; choose one of {', '.join(BENCHMARKS)}")
    result = run_benchmark(args.name, quick=args.quick, device=args.device)
    fmt = lambda row: "  " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"  # noqa: E731
                                       for k, v in row.items())
    lines = [f"{result['name']}: lazyrich vs {result['alternative']} on {result['device']}"]
    lines += [fmt(c) for c in result["cases"]]
    for key, value in result.items():  # further sections of a benchmark (integrators, float32 ...)
        if key != "cases" and isinstance(value, (list, dict)):
            lines.append(f"{key}:")
            lines += [fmt(row) for row in (value if isinstance(value, list) else [value])]
    lines.append(f"ratio (at the headline case): {result['ratio']:.2f}")
    emit(args, result, "\n".join(lines))


def add_parsers(sub):
    p = sub.add_parser("bench", help="benchmark lazyrich against the obvious alternative")
    p.add_argument("name")
    p.add_argument("--quick", action="store_true", help="smaller cases")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)
