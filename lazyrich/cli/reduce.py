"""``lazyrich reduce``: replace every attractor of a trained network by one neuron (numerics.reduction)."""
from __future__ import annotations

from .common import UsageError, emit


def cmd_reduce(args):
    from ..numerics.reduction import reduce_network, relative_change
    from ..numerics.simulator import SimulationResult, build_datasets

    res = SimulationResult.load(args.run)
    E = len(res.stop_reason)
    if not 0 <= args.network < E:
        raise UsageError(f"--network {args.network} out of range: the run has {E} networks")
    train, test = build_datasets(res.config)
    orig = res.params(args.network, final=True)
    red = reduce_network(*orig, train.X, tol=args.tol)
    seed, alpha = res.config.networks()[args.network]
    js = {"name": "reduce", "run": str(args.run), "network": args.network, "seed": seed, "alpha": alpha,
          "stop_reason": res.stop_reason[args.network], "neurons_before": int(len(orig[2])),
          "neurons_after": red.size, "size_ratio": len(orig[2]) / max(red.size, 1), "pattern_tol": args.tol,
          "train_change": relative_change(orig, red, train.X),
          "test_change": relative_change(orig, red, test.X) if test is not None else None}
    test_txt = "-" if js["test_change"] is None else f"{js['test_change']:.3g}"
    emit(args, js, f"network {args.network} (seed {seed}, alpha {alpha:g}): {js['neurons_before']} -> "
                   f"{js['neurons_after']} neurons; max|f_reduced - f|/max|f|: train {js['train_change']:.3g}, "
                   f"test {test_txt}")


def add_parsers(sub):
    p = sub.add_parser("reduce", help="merge the neurons of each attractor (activation pattern and sign of beta) "
                                      "of a trained network into one")
    p.add_argument("run", help="a simulate output folder (--out)")
    p.add_argument("--network", type=int, default=0, help="which network of the run (default 0)")
    p.add_argument("--tol", type=float, default=1e-9,
                   help="pattern tolerance: active where u > tol max|u| (numerics.patterns)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reduce)
