"""``lazyrich data``: sample a data model, or check and convert the user's own arrays, to .npz."""
from __future__ import annotations

from .common import UsageError, count, emit


def cmd_data(args):
    from ..numerics import data as D

    if args.model == "file":
        if args.input is None:
            raise UsageError("lazyrich data file needs --input FILE (an .npz with X and y, or X as .npy/.csv)")
        ds = D.from_files(args.input, args.labels, p=args.p, d=args.d)
    else:
        if args.p is None or args.d is None:
            raise UsageError(f"lazyrich data {args.model} needs --p and --d")
        if args.d_par is not None and args.model != "cylinder":
            raise UsageError("--d-par only applies to the cylinder model")
        ds = D.make(args.model, args.p, args.d, args.seed, d_par=args.d_par)
    path = ds.save(args.out)
    summary = {**ds.summary(), "out": str(path)}
    emit(args, summary, f"wrote {path}: {ds.p} points in d = {ds.d} ({summary['model']}), "
                         f"fraction of +1 labels {summary['fraction_positive']:.3f}")


def add_parsers(sub):
    p = sub.add_parser("data", help="sample a data model, or check and convert your own arrays, to .npz")
    p.add_argument("model", choices=["stripe", "sphere", "cylinder", "file"])
    p.add_argument("--p", type=count(1), help="number of points (for file: keep the first P)")
    p.add_argument("--d", type=count(1), help="input dimension")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--d-par", type=int, help="cylinder: dimension of the subspace the label depends on (default 2)")
    p.add_argument("--input", help="file: an .npz with X and y, or X as .npy/.csv/.txt")
    p.add_argument("--labels", help="file: y as .npy/.csv/.txt when --input holds only X")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data)
