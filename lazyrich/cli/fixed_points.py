"""The neuron-flow commands: ``fixed-points``, ``continuation`` and ``attractor-count``."""
from __future__ import annotations

import sys
import time

from .common import UsageError, count, emit, parse_floats, parse_seeds, parse_sign, worker_count


def cmd_fixed_points(args):
    import numpy as np

    from ..numerics import data as D
    from ..numerics.fixed_points.basins import basins
    from ..numerics.fixed_points.equilibria import find_equilibria
    from ..numerics.fixed_points.neuron_field import NeuronField
    from ..numerics.network import resolve_device

    ds = D.load(args.data)
    if args.g is None:
        g = ds.y  # every point still in the hinge loss: g = y (the early phase of training)
    else:
        from ..numerics.data.files import read_array

        g = read_array(args.g, "--g", shape=(ds.p,))
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
        from ..numerics.fixed_points.phase_portrait import phase_portrait

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
    emit(args, payload, "\n".join(lines))


def cmd_continuation(args):
    import numpy as np

    from ..numerics import data as D
    from ..numerics.fixed_points.continuation import continue_equilibria, point_path, weight_path

    ds = D.load(args.data)

    def weights(path, flag):
        from ..numerics.data.files import read_array

        return read_array(path, flag, shape=(ds.p,))

    g = ds.y if args.g is None else weights(args.g, "--g")  # default: every point in the hinge loss
    if (args.point is None) == (args.g_to is None):
        raise UsageError("give either --point I with --to X1,X2,... (a moving point) or --g-to WEIGHTS.npy")
    if args.point is not None:
        if args.to is None:
            raise UsageError("--point needs --to X1,X2,... (where the point moves; --to=-1,2 for a leading minus)")
        if not 0 <= args.point < ds.p:
            raise UsageError(f"--point must be an index in [0, {ds.p}), got {args.point}")
        to = parse_floats(args.to, "--to")
        if len(to) != ds.d:
            raise UsageError(f"--to needs d = {ds.d} numbers, got {len(to)}")
        path = point_path(ds.X, g, args.point, to)
    else:
        if args.to is not None:
            raise UsageError("--to goes with --point, not with --g-to")
        path = weight_path(ds.X, g, weights(args.g_to, "--g-to"))
    if not 0 < args.max_step <= 1:
        raise UsageError(f"--max-step must lie in (0, 1], got {args.max_step}")
    t0 = time.perf_counter()
    fp, runs = continue_equilibria(path, args.sign_b, args.sign_beta,
                                   which=None if args.equilibrium is None else [args.equilibrium],
                                   max_step=args.max_step)
    payload = {"data": str(args.data), "path": path.to_json(), "equilibria_at_start": len(fp.equilibria),
               "continuations": [r.to_json() for r in runs], "wall_s": time.perf_counter() - t0}
    lines = [f"{path.description}: {len(fp.equilibria)} equilibria at t = 0, following {len(runs)}"]
    for r in runs:
        where = "regular" if not r.surfaces[0] else f"sliding on {r.surfaces[0]}"
        lines.append(f"equilibrium {r.index}: {where}, {r.type[0]}, z = {np.array2string(r.z[0], precision=5)}")
        for e in r.events:
            after = "" if e["after"] is None else \
                f" -> {e['after']['kind']} {e['after']['surfaces']}, {'stable' if e['after']['stable'] else 'unstable'}"
            lines.append(f"  t = {e['t']:.10f}  {e['type']}: {e['detail']}{after}")
        end = f"reaches t = 1 at z = {np.array2string(r.z[-1], precision=5)} ({r.kind[-1]} {r.surfaces[-1]}, " \
              f"{'stable' if r.stable[-1] else 'unstable'})" if r.end == "t = 1" else f"ends at t = {r.t[-1]:.10f}: {r.end}"
        lines.append(f"  {end}")
    emit(args, payload, "\n".join(lines))


def cmd_attractor_count(args):
    from ..numerics.network import resolve_device
    from ..studies.attractor_count import plot, study
    from ..validation.claims.attractors import count_verdict

    def ints(text, flag):
        try:
            values = [int(v) for v in text.split(",")]
        except ValueError:
            raise UsageError(f"{flag} must be a comma-separated list of integers, got {text!r}") from None
        if min(values) < 1:
            raise UsageError(f"{flag} values must be positive, got {text!r}")
        return values

    if args.d < 1:
        raise UsageError(f"--d must be a positive integer, got {args.d}")
    if args.d_par is not None and args.data != "cylinder":
        raise UsageError("--d-par only applies to the cylinder model")
    ps, hs, seeds = ints(args.p, "--p"), ints(args.h, "--h"), parse_seeds(args.seeds)
    if min(seeds) < 0:
        raise UsageError(f"--seeds must be non-negative, got {args.seeds!r}")
    t0 = time.perf_counter()
    progress = None if args.json else \
        (lambda r: print(f"  p = {r['p']}, seed {r['seed']}: {r['stable']} stable equilibria, "
                         f"A = {r['A']} at h = {r['h']}", file=sys.stderr))
    result = study(args.data, args.d, ps, hs, seeds, d_par=args.d_par, device=resolve_device(args.device),
                   progress=progress, store=args.store, workers=worker_count(args.workers))
    result["verdict"] = count_verdict(result)
    result["wall_s"] = time.perf_counter() - t0
    if args.png:
        plot(result, args.png)
        result["png"] = str(args.png)
    lines = [f"attractor count, {args.data} data, d = {args.d}, g = y: A = distinct stable equilibria reached by h neurons",
             f"  {'p':>6} {'h':>6} {'A mean':>8} {'A min':>6} {'A max':>6} {'stable':>7} {'at stable':>9}"]
    for p in sorted(set(ps)):
        for h in sorted(set(hs)):
            sel = [r for r in result["rows"] if r["p"] == p and r["h"] == h]
            A = [r["A"] for r in sel]
            lines.append(f"  {p:>6} {h:>6} {sum(A) / len(A):>8.2f} {min(A):>6} {max(A):>6} "
                         f"{sum(r['stable'] for r in sel) / len(sel):>7.1f} "
                         f"{sum(r['fraction_at_stable'] for r in sel) / len(sel):>9.3f}")
    for name in ("fit_all", "fit_unsaturated", "fit_stable"):
        fit = result[name]
        lines.append(f"{name}: " + (fit["error"] if "error" in fit else ", ".join(
            f"{k} = {fit[k]:.3f}" + ("" if fit[f'{k}_ci'][0] is None else
                                     f" [{fit[f'{k}_ci'][0]:.3f}, {fit[f'{k}_ci'][1]:.3f}]")
            for k in ("a", "b") if fit[k] is not None) + f" ({fit['n_rows']} rows, {fit['n_seeds']} seeds)"))
    lines.append(f"verdict: {result['verdict']}")
    emit(args, result, "\n".join(lines))


def field_flags(p, g_help: str):
    """The neuron field's flags (fixed-points, continuation): data, the class's signs, g."""
    p.add_argument("data", help="an .npz data file (lazyrich data ...)")
    p.add_argument("--sign-b", type=parse_sign, required=True, help="+1 or -1: the sign of the neurons' bias")
    p.add_argument("--sign-beta", type=parse_sign, required=True, help="+1 or -1: the sign of the output weight")
    p.add_argument("--g", default=None, help=g_help)


def add_parsers(sub):
    p = sub.add_parser("fixed-points", help="every regular and sliding equilibrium of the neuron flow dz/dt = F(z)")
    field_flags(p, "loss weights g (.npy, shape (p,)); default g = y")
    p.add_argument("--basins", type=int, default=0, help="integrate N starts and report basin fractions")
    p.add_argument("--seed", type=count(0), default=0, help="seed of the basin starts")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--digits", type=count(15), default=50, help="digits of the mpmath polish")
    p.add_argument("--no-polish", action="store_true")
    p.add_argument("--max-vertices", type=int, default=30_000_000,
                   help="above this arrangement size, sample instead (the output says it may be incomplete)")
    p.add_argument("--png", default=None, help="draw the field, surfaces, equilibria and basins (d = 2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fixed_points)

    p = sub.add_parser("continuation", help="follow equilibria of dz/dt = F(z) while a data point or the loss weights move")
    field_flags(p, "loss weights g at the start (.npy, shape (p,)); default g = y")
    p.add_argument("--point", type=int, default=None, help="index of the training point that moves")
    p.add_argument("--to", default=None, help="where it moves: X1,X2,... (d numbers; --to=-1,2 for a leading minus)")
    p.add_argument("--g-to", default=None, help="loss weights at the end (.npy, shape (p,)): g moves linearly")
    p.add_argument("--equilibrium", type=int, default=None,
                   help="index in the fixed-points list at the start (default: every stable one)")
    p.add_argument("--max-step", type=float, default=0.02, help="largest step of the path parameter t in [0, 1]")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_continuation)

    p = sub.add_parser("attractor-count", help="distinct stable equilibria reached by h neurons, against p and h, "
                                               "with fitted exponents")
    p.add_argument("--data", choices=["stripe", "sphere", "cylinder"], default="stripe")
    p.add_argument("--d", type=int, default=2)
    p.add_argument("--d-par", type=int, default=None, help="cylinder: informative dimensions (default 2)")
    p.add_argument("--p", default="64,128,256", help="numbers of training points, comma-separated")
    p.add_argument("--h", default="64,256,1024", help="widths, comma-separated (nested: the first h neurons)")
    p.add_argument("--seeds", default="0:3", help="data and network seeds: 0:3, or 0,3,5")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"), help="where the neurons are integrated")
    p.add_argument("--png", default=None, help="plot A against h, one line per p")
    p.add_argument("--store", default=None, help="results store: one run per (p, seed), kept; a rerun resumes")
    p.add_argument("--workers", type=int, default=None, help="processes running the (p, seed) runs "
                                                                "(default: one per core)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_attractor_count)
