"""The sweep commands: ``sweep`` (a TOML specification into a results store) and ``results`` (reading one)."""
from __future__ import annotations

import argparse
import json
import sys

from .common import UsageError, emit, worker_count


def cmd_sweep(args):
    from ..sweep import Store, kinds, load_spec, run_sweep, summary

    if args.kinds:
        payload = {"kinds": {k.name: {"doc": k.doc, "defaults": k.defaults} for k in kinds().values()}}
        text = "\n\n".join(f"{k.name}: {k.doc}\n" + "\n".join(f"  {n} = {v!r}" for n, v in sorted(k.defaults.items()))
                            for k in kinds().values())
        emit(args, payload, text)
        return 0
    if not args.spec or not args.store:
        raise UsageError("give a specification and a store: lazyrich sweep SPEC.toml --store DIR (--kinds lists "
                         "the job kinds and their parameters)")
    name, spec, runs = load_spec(args.spec)
    with Store(args.store) as store:
        report = run_sweep(runs, store, name=name, spec=spec, backend=args.backend, workers=worker_count(args.workers),
                           scheduler=args.scheduler, device=args.device, batch=args.batch,
                           retry_failed=args.retry_failed, progress=not args.json)
    emit(args, {"name": "sweep", "sweep": name, "store": str(args.store), **report.to_json()}, summary(report))
    if report.interrupted:
        return 130
    return 1 if report.failed else 0


def cmd_store_check(args) -> int:
    """--check: 0 when the store is sound, 3 when it is damaged; --repair: the damaged runs made pending."""
    from ..sweep import check_store, repair_store

    if args.repair:
        out = repair_store(args.store)
        problems = check_store(args.store)
        payload = {"store": str(args.store), **out, "sound": not problems, "problems": problems}
        text = (f"{args.store}: {len(out['pending'])} damaged run(s) made pending"
                + (f"; the damaged write-ahead log moved to {out['wal_moved_to']}" if out["wal_moved_to"] else "")
                + ("; the store is sound now: `lazyrich sweep` reruns the pending runs" if not problems
                   else "; still damaged: " + "; ".join(problems)))
    else:
        problems = check_store(args.store)
        payload = {"store": str(args.store), "sound": not problems, "problems": problems}
        text = f"{args.store}: sound" if not problems else "\n".join([f"{args.store}: damaged"] + [f"  {p}" for p in problems])
    emit(args, payload, text)
    return 0 if not problems else 3


def cmd_results(args):
    from ..sweep import results, summarize

    if args.check or args.repair:
        return cmd_store_check(args)
    status = None if args.status == "all" else args.status
    df = results(args.store, where=args.where, kind=args.kind, status=status, sweep=args.sweep)
    want = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    if args.group_by:
        df = summarize(df, [c.strip() for c in args.group_by.split(",") if c.strip()], want)
    elif want:
        missing = [c for c in want if c not in df.columns]
        if missing:
            raise UsageError(f"--columns: no column(s) {', '.join(missing)}; the columns are "
                             f"{', '.join(map(str, df.columns))}")
        df = df[want]
    fmt = "json" if args.json else args.format
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif fmt == "json":
        print(json.dumps({"store": str(args.store), "count": len(df),
                          # full precision (pandas' to_json rounds to 10 digits); NaN as null
                          "groups" if args.group_by else "runs":
                              df.astype(object).where(df.notna(), None).to_dict(orient="records")}, indent=1))
    elif df.empty:
        print("no runs match")
    else:
        print(results_table(df, explicit=bool(args.columns or args.group_by),
                             noun="groups" if args.group_by else "runs"))
    return 0


def results_table(df, explicit: bool, noun: str = "runs") -> str:
    """A table of the columns that vary between the rows; the constant ones listed above it."""
    book = ("finished", "worker", "key") if not explicit else ()
    shown, same = [], []
    for col in df.columns:
        if col in book:
            continue
        values = df[col].astype(str)
        (shown if explicit or values.nunique() > 1 or col in ("kind", "status") else same).append(col)
    head = "" if not same else "same in every row: " + ", ".join(f"{c} = {df[c].iloc[0]}" for c in same) + "\n"
    return head + df[shown].to_string(index=False, float_format=lambda v: f"{v:.4g}") + f"\n{len(df)} {noun}"


def add_parsers(sub):
    p = sub.add_parser("sweep", help="run a TOML sweep of jobs into a results store (resumable; local or Dask)")
    p.add_argument("spec", nargs="?", help="the sweep specification (TOML; see lazyrich.sweep.spec)")
    p.add_argument("--store", help="results store directory (SQLite + arrays); runs already in it are skipped")
    p.add_argument("--backend", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", default=None, help="dask: address of a running scheduler (tcp://host:8786); "
                                                     "without it a LocalCluster is started here")
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--batch", action=argparse.BooleanOptionalAction, default=None,
                   help="run compatible runs as one unit: simulate runs equal but for (alpha, seed) as one "
                        "ensemble, the methods of a learning-curve cell together (default: on a GPU)")
    p.add_argument("--retry-failed", action="store_true", help="run again the runs that failed before")
    p.add_argument("--kinds", action="store_true", help="list the job kinds and their parameters, and exit")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("results", help="the runs of a results store as a table, CSV or JSON")
    p.add_argument("store")
    p.add_argument("--where", default=None, help="a pandas query on the columns, e.g. \"p >= 64 and alpha < 1\"")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("--kind", default=None, help="only this job kind")
    p.add_argument("--status", choices=("done", "failed", "all"), default="done")
    p.add_argument("--sweep", default=None, help="only the runs of this sweep")
    p.add_argument("--columns", default=None, help="comma-separated columns to show (with --group-by: to average)")
    p.add_argument("--group-by", default=None, help="comma-separated columns: mean, standard error and count of the "
                                                    "results over the runs of each group (over seeds, say)")
    p.add_argument("--check", action="store_true", help="check the store's integrity: exit 0 when sound, 3 when damaged")
    p.add_argument("--repair", action="store_true", help="make the damaged runs pending (the next sweep reruns them)")
    p.set_defaults(func=cmd_results)
