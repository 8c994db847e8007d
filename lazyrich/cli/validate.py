"""``lazyrich validate``: run the claims, theory against simulation, with a report and figures."""
from __future__ import annotations

import sys
import time

from .common import count, emit, worker_count


def cmd_validate(args):
    from pathlib import Path

    from ..numerics.network import resolve_device
    from ..validation.claim import Context, trained_total
    from ..validation.runner import run_claims
    from ..validation.report import trained_line, write_notes, write_report

    if args.list:
        from ..validation.claim import REGISTRY
        from ..validation.runner import names

        names()
        emit(args, {"claims": [{"name": c.name, "kind": c.kind, "statement": c.statement}
                                for c in REGISTRY.values()]},
              "\n".join(f"{c.name:20s} {c.kind:10s} {c.statement}" for c in REGISTRY.values()))
        return 0
    device = str(resolve_device(args.device))
    ctx = Context(quick=args.quick, device=device, report_dir=Path(args.report), seed=args.seed,
                  workers=worker_count(args.workers))
    started = time.time()
    say = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    results = run_claims(args.names or None, ctx, progress=say)
    meta = {"name": "validate", "quick": args.quick, "device": device, "seed": args.seed, "started": started,
            "seconds": time.time() - started, "version": __import__("lazyrich").__version__}
    files = write_report(results, meta, ctx.report_dir)
    if args.notes:
        files["notes"] = write_notes(results, meta, args.notes)
    total = trained_total(results)
    payload = {"claims": [{k: r.to_json()[k] for k in ("name", "kind", "verdict", "passed", "measured", "predicted",
                                                         "tolerance", "figure", "trained")} for r in results],
               "trained": None if total is None else total.to_json(),
               "report": files, "seconds": meta["seconds"], "quick": args.quick, "device": device}
    lines = [f"{r.name:20s} {r.kind:10s} {r.verdict:13s} {'passed' if r.passed else 'NOT PASSED'}  {r.summary}"
             for r in results] + [trained_line(results), f"report: {files['markdown']} ({files['html']})"]
    emit(args, payload, "\n".join(lines))
    failed = any(not r.passed for r in results)
    refuted = any(r.kind == "empirical" and r.verdict == "refuted" for r in results)
    return 1 if failed or (args.strict and refuted) else 0


def add_parsers(sub):
    p = sub.add_parser("validate", help="run the claims: theory against simulation, with a report and figures")
    p.add_argument("names", nargs="*", help="claims to run (default: all; --list shows them)")
    p.add_argument("--quick", action="store_true", help="reduced sizes: every claim on a CPU in minutes")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--report", default="validation-report", help="folder for report.md/.html, results.json, PNGs")
    p.add_argument("--strict", action="store_true", help="also exit non-zero when an empirical claim is refuted")
    p.add_argument("--notes", default=None, help="also write NOTES/validation.md from this report (e.g. notes)")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--workers", type=int, default=None,
                   help="processes for the claims that run sweeps (default: one per core)")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)
