"""The theory commands: ``derive`` (a derived object as LaTeX, text or JSON), ``docs`` (notes/derivations.md)
and ``demo`` (the derived dz/dt against autograd on a data model)."""
from __future__ import annotations

import json
import time

from ..theory.catalogue import DERIVED, LOSSES
from .common import UsageError, count, emit


MAX_EXPLICIT_D = 50


def cmd_derive(args):
    from ..theory import derive

    if args.d is not None and args.d < 1:
        raise UsageError(f"--d must be a positive integer, got {args.d}")
    if args.d is not None and args.d > MAX_EXPLICIT_D:
        raise UsageError(f"--d {args.d}: explicit components are printed for d <= {MAX_EXPLICIT_D} (their size grows "
                         f"like d^2; the Jacobian at d = 50 takes 7 s); without --d every object holds in any dimension")
    obj = derive(args.name, loss=args.loss)
    fmt = "json" if args.json else args.format
    if fmt == "json":
        print(json.dumps(obj.to_json(args.d)))
    elif fmt == "latex":
        print(obj.latex(args.d))
    else:
        print(obj.text(args.d))


def cmd_demo(args):
    from ..numerics import data as D
    from ..numerics.z_velocity import check_z_velocity
    from ..theory import derive

    t0 = time.perf_counter()
    ds = D.make(args.model, args.p, args.d, args.seed)
    reports = [check_z_velocity(ds, h=args.h, alpha=args.alpha, loss=loss, seed=args.seed)
               for loss in (args.loss or LOSSES)]
    passed = all(r.passed for r in reports)
    payload = {"name": "demo", "data": ds.summary(), "zdot": derive("z-velocity").latex(),
               "checks": [r.to_json() for r in reports], "passed": passed,
               "seconds": time.perf_counter() - t0}
    lines = [derive("z-velocity").text(), "",
             f"check on the {args.model} model (p = {ds.p}, d = {ds.d}, h = {args.h}, alpha = {args.alpha}):",
             "derived dz/dt vs autograd through the parameter flow, conserved Q, activation in z"]
    for r in reports:
        lines.append(f"  {r.loss:16s} max rel error {r.zdot_max_rel_error:.2e}   |dQ/dt| rel {r.conserved_max_rate:.2e}"
                     f"   activation mismatches {r.activation_mismatches}   {'PASS' if r.passed else 'FAIL'}")
    lines.append("PASS" if passed else "FAIL")
    emit(args, payload, "\n".join(lines))
    return 0 if passed else 1


def cmd_docs(args):
    from ..theory.notes import render_derivations

    text = render_derivations()
    path = args.out
    if args.check:
        try:
            current = open(path, encoding="utf-8").read()
        except FileNotFoundError:
            raise UsageError(f"{path} does not exist: run `lazyrich docs` to write it")
        fresh = current == text
        emit(args, {"path": path, "fresh": fresh},
              f"{path} is {'up to date' if fresh else 'STALE: run `lazyrich docs` to regenerate it'}")
        return 0 if fresh else 1
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    emit(args, {"path": path, "bytes": len(text.encode())}, f"wrote {path}")


def add_parsers(sub):
    p = sub.add_parser("derive", help="print a derived object (LaTeX, text or JSON)")
    p.add_argument("name", choices=DERIVED)
    p.add_argument("--d", type=int, help="expand into explicit components for this dimension")
    p.add_argument("--loss", help=f"add the loss and its weight g ({', '.join(LOSSES)})")
    p.add_argument("--format", choices=["text", "latex", "json"], default="text")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.set_defaults(func=cmd_derive)

    p = sub.add_parser("demo", help="derive dz/dt and check it against autograd on a data model")
    p.add_argument("--model", choices=["stripe", "sphere", "cylinder"], default="stripe")
    p.add_argument("--p", type=int, default=64)
    p.add_argument("--d", type=int, default=2)
    p.add_argument("--h", type=count(1), default=32)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--loss", action="append", help="restrict to these losses (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("docs", help="write notes/derivations.md from the derived objects (or --check it)")
    p.add_argument("--out", default="notes/derivations.md")
    p.add_argument("--check", action="store_true", help="exit 1 if the file differs from a fresh rendering")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs)
