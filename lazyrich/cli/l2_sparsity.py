"""``lazyrich l2-sparsity``: an L2-regularised ReLU network trained to a local minimum, its cost and its
distinct neurons (Jacot 2022), on the paper's tight example or on a data set."""
from __future__ import annotations

from .common import count, emit, parse_seeds, positive_float
from ..theory.errors import LazyrichError


def problem_from_args(args):
    from ..numerics import l2_sparsity as L

    if args.data is not None:
        if args.example is not None:
            raise LazyrichError("give --example or --data, not both")
        from ..numerics.data.dataset import load

        ds = load(args.data)
        return L.data_problem(ds.X, ds.y, f"file {args.data}")
    example = args.example or "tight"
    if args.p is None:
        raise LazyrichError(f"--example {example} needs --p (the number of points)")
    if example == "tight":
        return L.tight_example(args.p)
    from ..numerics.data.models import make

    ds = make(example, args.p, args.d, args.data_seed)
    return L.data_problem(ds.X, ds.y, f"{example} p={args.p} d={args.d} seed={args.data_seed}")


def cmd_l2_sparsity(args):
    from ..numerics.l2_sparsity import L2Config, l2_sparsity

    problem = problem_from_args(args)
    cfg = L2Config(h=args.h, lam=args.lam, max_iter=args.max_iter)
    out = l2_sparsity(problem, cfg, parse_seeds(args.seeds), attractors=args.attractors)

    def fmt(v, f=".4f"):
        return f"{v['mean']:{f}}" + (f" [{v['ci'][0]:{f}}, {v['ci'][1]:{f}}]" if v["ci"] else "") + f"  (per seed {v['values']})"

    pred = out["predicted_cost_over_lambda"]
    lines = [f"L2 sparsity: {problem.name}, N = {out['N']}, {out['outputs']} output(s), h = {cfg.h}, lambda = {cfg.lam:g}, "
             f"{len(out['seeds'])} seeds",
             f"  cost/lambda {fmt(out['cost_over_lambda'])}" + (f", derived {pred:.6f}" if pred is not None else ""),
             f"  distinct directions {fmt(out['directions'], '.2f')}"
             + (f", derived {out['predicted_directions']}" if out["predicted_directions"] else ""),
             f"  activation patterns {fmt(out['patterns'], '.2f')}; all distinct neurons {fmt(out['distinct_neurons'], '.1f')}",
             f"  bounds: N(N+1) = {out['bound']}, N+1 = {out['bound_one_output']} (one output)",
             f"  loss {fmt(out['loss'], '.6g')}"]
    if "attractors" in out:
        a = out["attractors"]
        lines.append(f"  attractors of the talk's network (hinge, g = y): {a['stable']} stable equilibria, "
                     f"reached per seed {a['reached']}")
    emit(args, out, "\n".join(lines))


def add_parsers(sub):
    p = sub.add_parser("l2-sparsity", help="L2-regularised ReLU network at a local minimum: cost and distinct neurons")
    p.add_argument("--example", choices=["tight", "stripe", "sphere"], default=None,
                   help="tight: X = I_N with the paper's targets Y_N (default); stripe, sphere: lazyrich's data models")
    p.add_argument("--data", default=None, help="a data set (.npz with X and y) instead of --example")
    p.add_argument("--p", type=count(2), default=None, help="points N (even for tight)")
    p.add_argument("--d", type=count(1), default=5, help="input dimension of the stripe and sphere data")
    p.add_argument("--data-seed", type=count(0), default=0, help="seed of the stripe and sphere data")
    p.add_argument("--h", type=count(1), required=True, help="hidden units")
    p.add_argument("--lam", type=positive_float, required=True, help="weight decay lambda")
    p.add_argument("--seeds", default="0:4", help="initialisations: 0:4, or 0,3,5")
    p.add_argument("--max-iter", type=count(1), default=20000, help="L-BFGS iterations per round")
    p.add_argument("--attractors", action="store_true",
                   help="scalar labels: also count the stable equilibria of the talk's network on the same data")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_l2_sparsity)
