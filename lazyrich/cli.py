"""The ``lazyrich`` command line.

Conventions for every subcommand: ``--json`` prints one JSON object on stdout, text
otherwise; a bad argument or a bad file prints one line on stderr and exits with code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


class UsageError(Exception):
    """A bad argument: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line instead of argparse's usage block
        raise UsageError(f"{self.prog}: {message}")


def _emit(args, payload: dict, text: str):
    if getattr(args, "json", False):
        print(json.dumps(payload, default=float))
    else:
        print(text)


# ----------------------------------------------------------------------------- derive
def cmd_derive(args):
    from .theory import derive

    if args.d is not None and args.d < 1:
        raise UsageError(f"--d must be a positive integer, got {args.d}")
    obj = derive(args.name, loss=args.loss)
    fmt = "json" if args.json else args.format
    if fmt == "json":
        print(json.dumps(obj.to_json(args.d)))
    elif fmt == "latex":
        print(obj.latex(args.d))
    else:
        print(obj.text(args.d))


# ------------------------------------------------------------------------------- data
def cmd_data(args):
    from .numerics import data as D

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
    _emit(args, summary, f"wrote {path}: {ds.p} points in d = {ds.d} ({summary['model']}), "
                         f"fraction of +1 labels {summary['fraction_positive']:.3f}")


# ------------------------------------------------------------------------------- demo
def cmd_demo(args):
    from .numerics import data as D
    from .theory import derive
    from .validation.z_velocity import check_z_velocity

    t0 = time.perf_counter()
    ds = D.make(args.model, args.p, args.d, args.seed)
    reports = [check_z_velocity(ds, h=args.h, alpha=args.alpha, loss=loss, seed=args.seed)
               for loss in (args.loss or ["hinge", "soft-hinge", "quadratic-hinge", "mse", "logistic"])]
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
    _emit(args, payload, "\n".join(lines))
    return 0 if passed else 1


# ------------------------------------------------------------------------------- docs
def cmd_docs(args):
    from .theory.notes import render_derivations

    text = render_derivations()
    path = args.out
    if args.check:
        try:
            current = open(path, encoding="utf-8").read()
        except FileNotFoundError:
            raise UsageError(f"{path} does not exist: run `lazyrich docs` to write it")
        fresh = current == text
        _emit(args, {"path": path, "fresh": fresh},
              f"{path} is {'up to date' if fresh else 'STALE: run `lazyrich docs` to regenerate it'}")
        return 0 if fresh else 1
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    _emit(args, {"path": path, "bytes": len(text.encode())}, f"wrote {path}")


# --------------------------------------------------------------------------- simulate
def _seeds(text: str) -> tuple[int, ...]:
    """'0:8' (a range), '0,3,5' (a list) or '7' (one seed)."""
    try:
        if ":" in text:
            lo, hi = (int(v) for v in text.split(":"))
            seeds = tuple(range(lo, hi))
        else:
            seeds = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--seeds must look like 0:8 or 0,3,5, got {text!r}") from None
    if not seeds:
        raise UsageError(f"--seeds {text} selects no seed")
    return seeds


def _floats(text: str, flag: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{flag} must be a number or a comma-separated list, got {text!r}") from None


def cmd_simulate(args):
    from .numerics.simulate import SimulationConfig, simulate

    cfg = SimulationConfig(
        data=args.data, d=args.d, p=args.p, ptest=args.ptest, d_par=args.d_par, data_seed=args.data_seed, h=args.h,
        alphas=_floats(args.alpha, "--alpha"), loss=args.loss, seeds=_seeds(args.seeds), device=args.device,
        dtype=args.dtype, t_max=args.t_max, checkpoints=args.checkpoints, max_steps=args.max_steps,
        max_wall=args.max_wall, tol_output=args.tol_output, tol_angle=args.tol_angle,
        track_neurons=args.track_neurons, ntk=args.ntk, test_file=args.test)
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
    _emit(args, js, "\n".join(lines))


# ------------------------------------------------------------------------------ bench
def cmd_fixed_points(args):
    import numpy as np

    from .numerics import data as D
    from .numerics.basins import basins
    from .numerics.equilibria import find_equilibria
    from .numerics.neuron_field import NeuronField
    from .numerics.simulate import resolve_device

    ds = D.load(args.data)
    if args.g is None:
        g = ds.y  # every point still in the hinge loss: g = y (the early phase of training)
    else:
        g = np.load(args.g)
        if g.shape != (ds.p,):
            raise UsageError(f"--g {args.g}: expected an array of shape ({ds.p},), got {g.shape}")
    field = NeuronField(ds.X, g, args.sign_b, args.sign_beta)
    t0 = time.perf_counter()
    result = find_equilibria(field, polish=not args.no_polish, digits=args.digits,
                             max_vertices=args.max_vertices, progress=not args.json)
    if args.basins:
        if args.basins < 0:
            raise UsageError("--basins must be a positive number of starts")
        tb = time.perf_counter()
        B = basins(field, result.equilibria, n=args.basins, seed=args.seed, device=resolve_device(args.device))
        result.timing["basins_s"] = time.perf_counter() - tb
    result.timing["wall_s"] = time.perf_counter() - t0
    payload = result.to_json()
    payload["data"] = str(args.data)
    if args.basins:
        payload["basins"] = B.to_json()
    if args.png:
        from .numerics.phase_portrait import phase_portrait

        if ds.d != 2:
            raise UsageError(f"--png draws the plane: the data must have d = 2, got d = {ds.d}")
        phase_portrait(result, args.png, basins=B if args.basins else None)
        payload["png"] = str(args.png)
    lines = [f"{len(result.equilibria)} equilibria ({payload['counts']['stable']} stable) in "
             f"{result.timing['total_s']:.2f} s by {result.method}"
             + ("" if result.complete else " -- MAY BE INCOMPLETE")]
    for e in result.equilibria:
        where = "regular" if e.kind == "regular" else f"sliding on {e.surfaces}"
        basin = "" if e.basin is None else f", basin {e.basin:.3f}"
        lines.append(f"  z = {np.array2string(e.z, precision=5)}  {where}: {e.type}{basin}, residual {e.residual}")
    for ns in result.neutral_sets:
        lines.append(f"  neutral: {ns['kind']}" + (f" (exists: {ns['exists']})" if "exists" in ns else ""))
    lines += [f"  note: {n}" for n in result.notes]
    _emit(args, payload, "\n".join(lines))


def _sign(value):
    v = int(value)
    if v not in (1, -1):
        raise argparse.ArgumentTypeError(f"must be +1 or -1, got {value}")
    return v


def cmd_bench(args):
    from .numerics.bench import BENCHMARKS, run_benchmark

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
    _emit(args, result, "\n".join(lines))


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from .theory.derived import names
    from .theory.losses import loss_names

    parser = _Parser(prog="lazyrich", description="Theory-checking toolkit for lazy vs feature learning "
                                                   "in one-hidden-layer ReLU networks.")
    parser.add_argument("--version", action="version", version=f"lazyrich {__import__('lazyrich').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("derive", help="print a derived object (LaTeX, text or JSON)")
    p.add_argument("name", choices=names())
    p.add_argument("--d", type=int, help="expand into explicit components for this dimension")
    p.add_argument("--loss", help=f"add the loss and its weight g ({', '.join(loss_names())})")
    p.add_argument("--format", choices=["text", "latex", "json"], default="text")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.set_defaults(func=cmd_derive)

    p = sub.add_parser("data", help="sample a data model, or check and convert your own arrays, to .npz")
    p.add_argument("model", choices=["stripe", "sphere", "cylinder", "file"])
    p.add_argument("--p", type=int, help="number of points (for file: keep the first P)")
    p.add_argument("--d", type=int, help="input dimension")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--d-par", type=int, help="cylinder: dimension of the subspace the label depends on (default 2)")
    p.add_argument("--input", help="file: an .npz with X and y, or X as .npy/.csv/.txt")
    p.add_argument("--labels", help="file: y as .npy/.csv/.txt when --input holds only X")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("demo", help="derive dz/dt and check it against autograd on a data model")
    p.add_argument("--model", choices=["stripe", "sphere", "cylinder"], default="stripe")
    p.add_argument("--p", type=int, default=64)
    p.add_argument("--d", type=int, default=2)
    p.add_argument("--h", type=int, default=32)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--loss", action="append", help="restrict to these losses (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("docs", help="write notes/derivations.md from the derived objects (or --check it)")
    p.add_argument("--out", default="notes/derivations.md")
    p.add_argument("--check", action="store_true", help="exit 1 if the file differs from a fresh rendering")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("simulate", help="train an ensemble of networks by gradient flow (CPU or GPU)")
    p.add_argument("--data", default="stripe", help="stripe, sphere, cylinder, or an .npz with X and y")
    p.add_argument("--d", type=int, default=5)
    p.add_argument("--p", type=int, default=1024)
    p.add_argument("--ptest", type=int, default=8192, help="test points (built-in models)")
    p.add_argument("--test", help="an .npz test set, when --data is a file")
    p.add_argument("--d-par", type=int, help="cylinder: informative dimensions (default 2)")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--h", type=int, default=1024)
    p.add_argument("--alpha", default="1e-3", help="one value or a comma-separated list")
    p.add_argument("--loss", default="hinge", help=f"{', '.join(loss_names())}")
    p.add_argument("--seeds", default="0:8", help="network seeds: 0:8, or 0,3,5")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--t-max", type=float, default=1e6, help="time limit (flow time)")
    p.add_argument("--checkpoints", type=int, default=30, help="log-spaced observation times")
    p.add_argument("--max-steps", type=int, default=1_000_000)
    p.add_argument("--max-wall", type=float, help="wall-clock limit in seconds")
    p.add_argument("--tol-output", type=float, default=0.02, help="largest change of F = alpha (f - f0) per step")
    p.add_argument("--tol-angle", type=float, default=0.05, help="largest 1 - cos between successive velocities")
    p.add_argument("--track-neurons", type=int, default=64, help="neurons whose z and patterns are saved")
    p.add_argument("--ntk", action="store_true", help="record the empirical NTK on the training set")
    p.add_argument("--out", help="output folder (config.json, results.npz, result.json, state.pt)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("fixed-points", help="every regular and sliding equilibrium of the neuron flow dz/dt = F(z)")
    p.add_argument("data", help="an .npz data file (lazyrich data ...)")
    p.add_argument("--sign-b", type=_sign, required=True, help="+1 or -1: the sign of the neurons' bias")
    p.add_argument("--sign-beta", type=_sign, required=True, help="+1 or -1: the sign of the output weight")
    p.add_argument("--g", default=None, help="loss weights g (.npy, shape (p,)); default g = y")
    p.add_argument("--basins", type=int, default=0, help="integrate N starts and report basin fractions")
    p.add_argument("--seed", type=int, default=0, help="seed of the basin starts")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--digits", type=int, default=50, help="digits of the mpmath polish")
    p.add_argument("--no-polish", action="store_true")
    p.add_argument("--max-vertices", type=int, default=30_000_000,
                   help="above this arrangement size, sample instead (the output says it may be incomplete)")
    p.add_argument("--png", default=None, help="draw the field, surfaces, equilibria and basins (d = 2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fixed_points)

    p = sub.add_parser("bench", help="benchmark lazyrich against the obvious alternative")
    p.add_argument("name")
    p.add_argument("--quick", action="store_true", help="smaller cases")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    from .numerics.data import DataError
    from .numerics.simulate import SimulationError
    from .theory.compile import InputError

    try:
        args = build_parser().parse_args(argv)
        return args.func(args) or 0
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    except (UsageError, DataError, InputError, SimulationError, ValueError, FileNotFoundError, KeyError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(msg if msg.startswith("lazyrich") else f"lazyrich: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lazyrich: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
