"""The ``lazyrich`` command line.

Conventions for every subcommand: ``--json`` prints one JSON object on stdout, text
otherwise; a bad argument or a bad file prints one line on stderr and exits with code 2.
"""
from __future__ import annotations

import argparse
import json
import os
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
        track_neurons=args.track_neurons, ntk=args.ntk, test_file=args.test, fix_orientation=args.fix_orientation)
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


# ----------------------------------------------------------------------- continuation
def cmd_continuation(args):
    import numpy as np

    from .numerics import data as D
    from .numerics.continuation import continue_equilibria, point_path, weight_path

    ds = D.load(args.data)

    def weights(path, flag):
        w = np.load(path)
        if w.shape != (ds.p,):
            raise UsageError(f"{flag} {path}: expected an array of shape ({ds.p},), got {w.shape}")
        return w

    g = ds.y if args.g is None else weights(args.g, "--g")  # default: every point in the hinge loss
    if (args.point is None) == (args.g_to is None):
        raise UsageError("give either --point I with --to X1,X2,... (a moving point) or --g-to WEIGHTS.npy")
    if args.point is not None:
        if args.to is None:
            raise UsageError("--point needs --to X1,X2,... (where the point moves; --to=-1,2 for a leading minus)")
        if not 0 <= args.point < ds.p:
            raise UsageError(f"--point must be an index in [0, {ds.p}), got {args.point}")
        to = _floats(args.to, "--to")
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
    _emit(args, payload, "\n".join(lines))


# ---------------------------------------------------------------------- attractor-count
def cmd_attractor_count(args):
    from .numerics.attractor_count import plot, study
    from .numerics.simulate import resolve_device

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
    ps, hs, seeds = ints(args.p, "--p"), ints(args.h, "--h"), _seeds(args.seeds)
    if min(seeds) < 0:
        raise UsageError(f"--seeds must be non-negative, got {args.seeds!r}")
    t0 = time.perf_counter()
    progress = None if args.json else \
        (lambda r: print(f"  p = {r['p']}, seed {r['seed']}: {r['stable']} stable equilibria, "
                         f"A = {r['A']} at h = {r['h']}", file=sys.stderr))
    result = study(args.data, args.d, ps, hs, seeds, d_par=args.d_par, device=resolve_device(args.device),
                   progress=progress, store=args.store, workers=_workers(args.workers))
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
    _emit(args, result, "\n".join(lines))


def _field_flags(p, g_help: str):
    """The neuron field's flags (fixed-points, continuation): data, the class's signs, g."""
    p.add_argument("data", help="an .npz data file (lazyrich data ...)")
    p.add_argument("--sign-b", type=_sign, required=True, help="+1 or -1: the sign of the neurons' bias")
    p.add_argument("--sign-beta", type=_sign, required=True, help="+1 or -1: the sign of the output weight")
    p.add_argument("--g", default=None, help=g_help)


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


# ----------------------------------------------------------------------------- kernels
def _kernel_source(args, X, Xp=None, out=None):
    """The kernel the flags select, between the rows of X and Xp: (K, a description for JSON)."""
    from .numerics.ntk import analytic_kernel, empirical_ntk
    from .numerics.simulate import SimulationResult, resolve_device

    device = resolve_device(getattr(args, "device", "cpu") or "cpu")
    kind = getattr(args, "kind", "ntk")
    if args.analytic:
        return analytic_kernel(X, Xp, kind=kind, device=device, out=out), {"source": "analytic", "kind": kind}
    if kind != "ntk":
        raise UsageError("--kind nngp needs --analytic (a finite network gives its NTK)")
    if args.width is not None:
        from .numerics.network import init_params

        if args.width < 1:
            raise UsageError(f"--width must be a positive number of neurons, got {args.width}")
        P = init_params(args.width, X.shape[1], seed=args.seed)
        return (empirical_ntk(*P.tuple(), X, Xp, device=device, out=out),
                {"source": "empirical", "kind": "ntk", "width": args.width, "seed": args.seed})
    res = SimulationResult.load(args.result)
    omega, b, beta = res.params(args.network, final=not args.initial)
    if omega.shape[1] != X.shape[1]:
        raise UsageError(f"the networks of {args.result} have d = {omega.shape[1]}, the data d = {X.shape[1]}")
    return (empirical_ntk(omega, b, beta, X, Xp, device=device, out=out),
            {"source": "simulation", "kind": "ntk", "result": str(args.result), "network": args.network,
             "when": "initial" if args.initial else "final", "width": int(omega.shape[0])})


def _kernel_flags(p, with_file=False):
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--analytic", action="store_true", help="the infinite-width kernel (derived in theory/)")
    src.add_argument("--width", type=int, help="the empirical NTK of a network of this width at initialisation")
    src.add_argument("--result", help="the empirical NTK of a network trained by `lazyrich simulate --out DIR`")
    if with_file:
        src.add_argument("--kernel", help="a Gram matrix saved as .npy (e.g. by `lazyrich ntk --out`)")
    p.add_argument("--seed", type=int, default=0, help="network seed for --width")
    p.add_argument("--network", type=int, default=0, help="which network of --result (index in result.json)")
    p.add_argument("--initial", action="store_true", help="with --result: the NTK at initialisation, not at the end")
    p.add_argument("--kind", choices=["ntk", "nngp"], default="ntk", help="with --analytic: NTK or NNGP")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda")


def cmd_ntk(args):
    import numpy as np

    from .numerics import data as D

    ds = D.load(args.data)
    t0 = time.perf_counter()
    out = None
    if args.out is not None:
        # written tile by tile into a file mapped in memory: p up to 1e5 needs no p x p array in RAM
        out = np.lib.format.open_memmap(args.out, mode="w+", dtype=np.float64, shape=(ds.p, ds.p))
    K, info = _kernel_source(args, ds.X, out=out)
    if out is not None:
        out.flush()
    seconds = time.perf_counter() - t0
    Kn = np.asarray(K) if out is not None else K.cpu().numpy()
    payload = {"name": "ntk", "data": str(args.data), **info, "p": ds.p, "d": ds.d, "shape": [ds.p, ds.p],
               "out": args.out, "seconds": seconds, "diagonal_mean": float(np.mean(np.diag(Kn))),
               "max_asymmetry": float(np.abs(Kn - Kn.T).max()) if ds.p <= 5000 else None}
    if ds.p <= 4000:
        payload["min_eigenvalue"] = float(np.linalg.eigvalsh(Kn)[0])
    text = [f"{info['kind']} Gram matrix ({info['source']}) of {ds.p} points in d = {ds.d}: {seconds:.3f} s",
            f"  mean diagonal {payload['diagonal_mean']:.6g}"
            + (f", smallest eigenvalue {payload['min_eigenvalue']:.3g}" if "min_eigenvalue" in payload else "")]
    if args.out:
        text.append(f"  wrote {args.out}")
    _emit(args, payload, "\n".join(text))


def cmd_kpca(args):
    import numpy as np

    from .numerics import data as D
    from .numerics.kernel_pca import kernel_pca, plot_kernel_pca

    ds = D.load(args.data)
    if args.kernel:
        K = np.load(args.kernel, mmap_mode="r")
        if K.shape != (ds.p, ds.p):
            raise UsageError(f"--kernel {args.kernel} has shape {K.shape}; the data have p = {ds.p}")
        info = {"source": "file", "kernel": str(args.kernel)}
    else:
        K, info = _kernel_source(args, ds.X)
    res = kernel_pca(K, ds.y, top=args.top, center=args.center, mi_components=args.mi)
    payload = {"name": "kpca", "data": str(args.data), **info, "p": ds.p, **res.to_json(limit=args.top or 100)}
    if args.png:
        payload["png"] = plot_kernel_pca(res, args.png, title=f"kernel PCA ({info['source']}) of {args.data}")
    lines = [f"kernel PCA of {ds.p} points ({info['source']} kernel, {'centred' if args.center else 'uncentred'})",
             f"  label carried: half by the top {res.rank_reaching(0.5)}, 90% by the top {res.rank_reaching(0.9)} "
             "components", "  rank  eigenvalue    omega^2     cumulative  MI(nats)"]
    mi = res.mutual_information
    for i in range(min(10, res.eigenvalues.size)):
        lines.append(f"  {i + 1:4d}  {res.eigenvalues[i]:.4e}  {res.label_weight[i]:.4e}  {res.cumulative[i]:.4f}"
                     + (f"      {mi[i]:.3f}" if mi is not None and i < mi.size else ""))
    _emit(args, payload, "\n".join(lines))


def cmd_learning_curve(args):
    from .numerics.learning_curves import LearningCurveConfig, learning_curve, plot_learning_curves

    ps = tuple(int(v) for v in _floats(args.p, "--p"))
    cfg = LearningCurveConfig(data=args.data, d=args.d, ps=ps, ptest=args.ptest, seeds=_seeds(args.seeds),
                              methods=tuple(args.methods.split(",")), h=args.h, alpha_lazy=args.alpha_lazy,
                              alpha_feature=args.alpha_feature, loss=args.loss, t_max=args.t_max,
                              max_wall=args.max_wall, device=args.device, bootstrap=args.bootstrap)
    result = learning_curve(cfg, out=args.out, progress=not args.json, workers=_workers(args.workers))
    if args.png:
        result["png"] = plot_learning_curves(result, args.png)
    lines = [f"learning curves, {args.data} model, d = {args.d}, p = {list(ps)}, {len(cfg.seeds)} seeds"]
    for method, fit in result["fits"].items():
        errs = "  ".join(f"{e:.4f}" for e in fit["mean_error"])
        beta = "beta = n/a" if fit["beta"] is None else \
            f"beta = {fit['beta']:.3f} [{fit['beta_ci'][0]:.3f}, {fit['beta_ci'][1]:.3f}]" if fit["beta_ci"] else \
            f"beta = {fit['beta']:.3f}"
        lines.append(f"  {method:10s} {beta}   mean test error: {errs}")
    _emit(args, result, "\n".join(lines))


# ---------------------------------------------------------------------------- sweeps
def _workers(value) -> int:
    """--workers: a positive count, by default one per core."""
    if value is None:
        return os.cpu_count() or 1
    if value < 1:
        raise UsageError(f"--workers must be a positive integer, got {value}")
    return value


def cmd_sweep(args):
    from .sweep import Store, kinds, load_spec, run_sweep, summary

    if args.kinds:
        payload = {"kinds": {k.name: {"doc": k.doc, "defaults": k.defaults} for k in kinds().values()}}
        text = "\n\n".join(f"{k.name}: {k.doc}\n" + "\n".join(f"  {n} = {v!r}" for n, v in sorted(k.defaults.items()))
                            for k in kinds().values())
        _emit(args, payload, text)
        return 0
    if not args.spec or not args.store:
        raise UsageError("give a specification and a store: lazyrich sweep SPEC.toml --store DIR (--kinds lists "
                         "the job kinds and their parameters)")
    name, spec, runs = load_spec(args.spec)
    with Store(args.store) as store:
        report = run_sweep(runs, store, name=name, spec=spec, backend=args.backend, workers=_workers(args.workers),
                           scheduler=args.scheduler, device=args.device, batch=args.batch,
                           retry_failed=args.retry_failed, progress=not args.json)
    _emit(args, {"name": "sweep", "sweep": name, "store": str(args.store), **report.to_json()}, summary(report))
    if report.interrupted:
        return 130
    return 1 if report.failed else 0


def cmd_results(args):
    from .sweep import results, summarize

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
    if args.format == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif args.format == "json":
        print(json.dumps({"store": str(args.store), "count": len(df),
                          # full precision (pandas' to_json rounds to 10 digits); NaN as null
                          "groups" if args.group_by else "runs":
                              df.astype(object).where(df.notna(), None).to_dict(orient="records")}, indent=1))
    elif df.empty:
        print("no runs match")
    else:
        print(_results_table(df, explicit=bool(args.columns or args.group_by),
                             noun="groups" if args.group_by else "runs"))
    return 0


def _results_table(df, explicit: bool, noun: str = "runs") -> str:
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


# ---------------------------------------------------------------------------- validate
def cmd_validate(args):
    from pathlib import Path

    from .numerics.simulate import resolve_device
    from .validation.claim import Context, names, run_claims
    from .validation.report import write_notes, write_report

    if args.list:
        from .validation.claim import REGISTRY

        names()
        _emit(args, {"claims": [{"name": c.name, "kind": c.kind, "statement": c.statement}
                                for c in REGISTRY.values()]},
              "\n".join(f"{c.name:20s} {c.kind:10s} {c.statement}" for c in REGISTRY.values()))
        return 0
    device = str(resolve_device(args.device))
    ctx = Context(quick=args.quick, device=device, report_dir=Path(args.report), seed=args.seed,
                  workers=_workers(args.workers))
    started = time.time()
    say = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    results = run_claims(args.names or None, ctx, progress=say)
    meta = {"name": "validate", "quick": args.quick, "device": device, "seed": args.seed, "started": started,
            "seconds": time.time() - started, "version": __import__("lazyrich").__version__}
    files = write_report(results, meta, ctx.report_dir)
    if args.notes:
        files["notes"] = write_notes(results, meta, args.notes)
    payload = {"claims": [{k: r.to_json()[k] for k in ("name", "kind", "verdict", "passed", "measured", "predicted",
                                                         "tolerance", "figure")} for r in results],
               "report": files, "seconds": meta["seconds"], "quick": args.quick, "device": device}
    lines = [f"{r.name:20s} {r.kind:10s} {r.verdict:13s} {'passed' if r.passed else 'NOT PASSED'}  {r.summary}"
             for r in results] + [f"report: {files['markdown']} ({files['html']})"]
    _emit(args, payload, "\n".join(lines))
    failed = any(not r.passed for r in results)
    refuted = any(r.kind == "empirical" and r.verdict == "refuted" for r in results)
    return 1 if failed or (args.strict and refuted) else 0


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
    p.add_argument("--fix-orientation", action="store_true",
                   help="keep every omega_n's direction fixed: only its norm, b and beta train")
    p.add_argument("--out", help="output folder (config.json, results.npz, result.json, state.pt)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("fixed-points", help="every regular and sliding equilibrium of the neuron flow dz/dt = F(z)")
    _field_flags(p, "loss weights g (.npy, shape (p,)); default g = y")
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

    p = sub.add_parser("continuation", help="follow equilibria of dz/dt = F(z) while a data point or the loss weights move")
    _field_flags(p, "loss weights g at the start (.npy, shape (p,)); default g = y")
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

    p = sub.add_parser("ntk", help="the NTK (or NNGP) Gram matrix of a dataset: infinite width or a finite network")
    p.add_argument("data", help=".npz with X and y (lazyrich data ...)")
    _kernel_flags(p)
    p.add_argument("--out", default=None, help="save the Gram matrix as .npy (written tile by tile)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ntk)

    p = sub.add_parser("kpca", help="kernel PCA: spectrum, label weight per eigenvector, mutual information")
    p.add_argument("data", help=".npz with X and y")
    _kernel_flags(p, with_file=True)
    p.add_argument("--top", type=int, default=None, help="keep this many components")
    p.add_argument("--center", action="store_true", help="double-centre the kernel first")
    p.add_argument("--mi", type=int, default=20, help="components that get a mutual information (0: none)")
    p.add_argument("--png", default=None, help="plot against rank")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kpca)

    p = sub.add_parser("learning-curve", help="test error against p for networks and kernels, with power-law fits")
    p.add_argument("--data", choices=["stripe", "sphere", "cylinder"], default="stripe")
    p.add_argument("--d", type=int, default=5)
    p.add_argument("--p", default="32,64,128,256", help="training-set sizes, comma-separated")
    p.add_argument("--ptest", type=int, default=2048)
    p.add_argument("--seeds", default="0:4", help="0:8, 0,3,5 or 7: each seed is a new training set and network")
    p.add_argument("--methods", default="knn,svc-ntk,lazy,feature",
                   help="comma-separated: knn, svc-ntk, kernel-ntk, lazy, feature, svc-final "
                        "(SVC with the feature network's NTK at the end of training), feature-fixed (the feature "
                        "network with the directions of its weights fixed)")
    p.add_argument("--h", type=int, default=256, help="width of the networks")
    p.add_argument("--alpha-lazy", type=float, default=1e3)
    p.add_argument("--alpha-feature", type=float, default=1e-2)
    p.add_argument("--loss", default="hinge")
    p.add_argument("--t-max", type=float, default=1e3, help="training time of networks and of the kernel flow")
    p.add_argument("--max-wall", type=float, default=60.0, help="seconds per network ensemble")
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples for the confidence intervals")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="results store for the (method, p, seed) runs (resumable), and "
                                               "result.json")
    p.add_argument("--workers", type=int, default=None, help="processes running the runs (default: one per core)")
    p.add_argument("--png", default=None, help="plot the curves and fits")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_learning_curve)

    p = sub.add_parser("validate", help="run the claims: theory against simulation, with a report and figures")
    p.add_argument("names", nargs="*", help="claims to run (default: all; --list shows them)")
    p.add_argument("--quick", action="store_true", help="reduced sizes: every claim on a CPU in minutes")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--report", default="validation-report", help="folder for report.md/.html, results.json, PNGs")
    p.add_argument("--strict", action="store_true", help="also exit non-zero when an empirical claim is refuted")
    p.add_argument("--notes", default=None, help="also write NOTES/validation.md from this report (e.g. notes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None,
                   help="processes for the claims that run sweeps (default: one per core)")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

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
    p.add_argument("--kind", default=None, help="only this job kind")
    p.add_argument("--status", choices=("done", "failed", "all"), default="done")
    p.add_argument("--sweep", default=None, help="only the runs of this sweep")
    p.add_argument("--columns", default=None, help="comma-separated columns to show (with --group-by: to average)")
    p.add_argument("--group-by", default=None, help="comma-separated columns: mean, standard error and count of the "
                                                    "results over the runs of each group (over seeds, say)")
    p.set_defaults(func=cmd_results)

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
    from .sweep import RunsFailed
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
    except RunsFailed as exc:  # the whole message: it carries the failed run's traceback
        print(f"lazyrich: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lazyrich: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (lazyrich ... | head): nothing left to say
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
