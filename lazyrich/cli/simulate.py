"""``lazyrich simulate``: train an ensemble of networks by gradient flow."""
from __future__ import annotations

import sys

from ..theory.catalogue import LOSSES
from .common import (add_imbalance_arguments, add_integrator_argument, count, emit, imbalance_settings, parse_floats,
                     parse_seeds, positive_float)


def sizes(args) -> tuple[int, int]:
    """(p, d): the flags, else 1024 and 5 for a built-in model and the file's own for a data file."""
    from ..numerics.data.models import BUILT_IN

    if args.data in BUILT_IN or (args.p is not None and args.d is not None):
        return args.p or 1024, args.d or 5
    from ..numerics.data import load

    ds = load(args.data)
    return args.p or ds.p, args.d or ds.d


def cmd_simulate(args):
    from ..numerics.simulator import SimulationConfig, simulate

    args.p, args.d = sizes(args)
    cfg = SimulationConfig(
        data=args.data, d=args.d, p=args.p, ptest=args.ptest, d_par=args.d_par, data_seed=args.data_seed, h=args.h,
        alphas=parse_floats(args.alpha, "--alpha"), loss=args.loss, seeds=parse_seeds(args.seeds), device=args.device,
        dtype=args.dtype, t_max=args.t_max, checkpoints=args.checkpoints, max_steps=args.max_steps,
        max_wall=args.max_wall, tol_output=args.tol_output, tol_angle=args.tol_angle,
        track_neurons=args.track_neurons, ntk=args.ntk, test_file=args.test, fix_orientation=args.fix_orientation,
        integrator=args.integrator, tol_local=args.tol_local, **imbalance_settings(args))
    try:
        result = simulate(cfg, out=args.out, resume=args.resume, progress=None if not args.json else False)
    except KeyboardInterrupt:
        where = f"; resume with the same command and --resume (state in {args.out})" if args.out else ""
        print(f"lazyrich: interrupted{where}", file=sys.stderr)
        return 130
    js = result.to_json()
    lines = [f"trained {len(js['networks'])} networks on {js['device']} in {js['wall_s']:.1f} s"
             + (f", saved in {args.out}" if args.out else "")]
    lines.append(f"  {'seed':>4} {'alpha':>9} {'stop':>8} {'steps':>8} {'t':>10} {'train err':>9} {'test err':>9}"
                 f" {'|dw|/|w0|':>10} {'attractors':>10}")
    for n in js["networks"]:
        te = "-" if n["test_error"] is None else f"{n['test_error']:.4f}"
        lines.append(f"  {n['seed']:>4} {n['alpha']:>9.3g} {n['stop_reason']:>8} {n['steps']:>8} {n['t']:>10.4g}"
                     f" {n['train_error']:>9.4f} {te:>9} {n['rel_change_omega']:>10.3g} {n['attractors']:>10}")
    emit(args, js, "\n".join(lines))


def add_parsers(sub):
    p = sub.add_parser("simulate", help="train an ensemble of networks by gradient flow (CPU or GPU)")
    p.add_argument("--data", default="stripe", help="stripe, sphere, cylinder, or an .npz with X and y")
    p.add_argument("--d", type=count(1), default=None, help="input dimension (default 5; a data file's own)")
    p.add_argument("--p", type=count(1), default=None, help="training points (default 1024; all of a data file's)")
    p.add_argument("--ptest", type=int, default=8192, help="test points (built-in models)")
    p.add_argument("--test", help="an .npz test set, when --data is a file")
    p.add_argument("--d-par", type=int, help="cylinder: informative dimensions (default 2)")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--h", type=int, default=1024)
    p.add_argument("--alpha", default="1e-3", help="one value or a comma-separated list")
    p.add_argument("--loss", default="hinge", help=f"{', '.join(LOSSES)}")
    p.add_argument("--seeds", default="0:8", help="network seeds: 0:8, or 0,3,5")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--t-max", type=float, default=1e6, help="time limit (flow time)")
    p.add_argument("--checkpoints", type=int, default=30, help="log-spaced observation times")
    p.add_argument("--max-steps", type=int, default=1_000_000)
    p.add_argument("--max-wall", type=positive_float, help="wall-clock limit in seconds")
    add_integrator_argument(p)
    p.add_argument("--tol-output", type=float, default=0.02, help="largest change of F = alpha (f - f0) per step")
    p.add_argument("--tol-local", type=float, default=1e-7,
                   help="filippov, smooth losses: local error of a step in every F = alpha (f - f0) (the hinge's steps "
                        "are exact)")
    p.add_argument("--tol-angle", type=float, default=0.05, help="largest 1 - cos between successive velocities")
    p.add_argument("--track-neurons", type=count(0), default=64, help="neurons whose z and patterns are saved")
    p.add_argument("--ntk", action="store_true", help="record the empirical NTK on the training set")
    p.add_argument("--fix-orientation", action="store_true",
                   help="keep every omega_n's direction fixed: only its norm, b and beta train")
    add_imbalance_arguments(p)
    p.add_argument("--out", help="output folder (config.json, results.npz, result.json, state.pt)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate)
