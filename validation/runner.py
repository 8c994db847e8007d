"""Running the claims: the registry is filled by importing validation.claims, in its order."""
from __future__ import annotations

import time
import traceback

from . import claims  # noqa: F401  (importing registers every claim)
from .claim import REGISTRY, ClaimResult, Context
from ..theory.errors import LazyrichError


def names() -> list[str]:
    """Every claim, in the registry's order."""
    return list(REGISTRY)


def run_claims(selected=None, ctx: Context | None = None, progress=None) -> list[ClaimResult]:
    """Run the claims named in ``selected`` (all by default), in registry order."""
    ctx = ctx or Context()
    available = names()
    selected = list(selected) if selected else available
    unknown = [n for n in selected if n not in REGISTRY]
    if unknown:
        raise LazyrichError(f"unknown claim(s) {unknown}; choose from {', '.join(available)}")
    results = []
    for name in selected:
        c = REGISTRY[name]
        if progress is not None:
            progress(f"{name} ...")
        t0 = time.perf_counter()
        try:
            out = c.run(ctx)
            res = ClaimResult(c.name, c.kind, c.statement, out.verdict, out.measured, out.predicted, out.tolerance,
                              out.figure, out.summary, out.details, time.perf_counter() - t0, trained=out.trained)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a claim that crashes could not be evaluated: say so, run the others
            res = ClaimResult(c.name, c.kind, c.statement, "inconclusive", None, None, None, None,
                              f"could not be evaluated: {type(exc).__name__}: {exc}", {},
                              time.perf_counter() - t0, error=traceback.format_exc(limit=5))
        if progress is not None:
            progress(f"{name}: {res.verdict}{'' if res.passed else ' (FAILED)'} in {res.seconds:.1f} s")
        results.append(res)
    return results

