"""The kernel commands: ``ntk`` (a Gram matrix), ``kpca`` (kernel PCA) and ``learning-curve``."""
from __future__ import annotations

import time

from .common import (UsageError, add_imbalance_arguments, add_integrator_argument, count, emit, imbalance_settings,
                     parse_floats, parse_seeds, positive_float, worker_count)


def kernel_source(args, X, Xp=None, out=None):
    """The kernel the flags select, between the rows of X and Xp: (K, a description for JSON)."""
    from ..numerics.kernels.ntk import analytic_kernel, empirical_ntk
    from ..numerics.network import init_params, resolve_device
    from ..numerics.simulator import SimulationResult

    device = resolve_device(getattr(args, "device", "cpu") or "cpu")
    kind = getattr(args, "kind", "ntk")
    if args.analytic:
        return analytic_kernel(X, Xp, kind=kind, device=device, out=out), {"source": "analytic", "kind": kind}
    if kind != "ntk":
        raise UsageError("--kind nngp needs --analytic (a finite network gives its NTK)")
    if args.width is not None:
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


def kernel_flags(p, with_file=False):
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--analytic", action="store_true", help="the infinite-width kernel (derived in theory/)")
    src.add_argument("--width", type=int, help="the empirical NTK of a network of this width at initialisation")
    src.add_argument("--result", help="the empirical NTK of a network trained by `lazyrich simulate --out DIR`")
    if with_file:
        src.add_argument("--kernel", help="a Gram matrix saved as .npy (e.g. by `lazyrich ntk --out`)")
    p.add_argument("--seed", type=count(0), default=0, help="network seed for --width")
    p.add_argument("--network", type=int, default=0, help="which network of --result (index in result.json)")
    p.add_argument("--initial", action="store_true", help="with --result: the NTK at initialisation, not at the end")
    p.add_argument("--kind", choices=["ntk", "nngp"], default="ntk", help="with --analytic: NTK or NNGP")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda")


def cmd_ntk(args):
    import numpy as np

    from ..numerics import data as D

    ds = D.load(args.data)
    t0 = time.perf_counter()
    out = None
    if args.out is not None:
        # written tile by tile into a file mapped in memory: p up to 1e5 needs no p x p array in RAM
        out = np.lib.format.open_memmap(args.out, mode="w+", dtype=np.float64, shape=(ds.p, ds.p))
    K, info = kernel_source(args, ds.X, out=out)
    if out is not None:
        out.flush()
    seconds = time.perf_counter() - t0
    Kn = np.asarray(K) if out is not None else K.cpu().numpy()
    payload = {"name": "ntk", "data": str(args.data), **info, "p": ds.p, "d": ds.d, "shape": [ds.p, ds.p],
               "out": args.out, "seconds": seconds, "diagonal_mean": float(np.mean(np.diag(Kn))),
               "max_asymmetry": float(np.abs(Kn - Kn.T).max()) if ds.p <= 5000 else None}
    if ds.p <= 4000:
        from ..numerics.kernels.kernel_pca import gram_eigh

        payload["min_eigenvalue"] = float(gram_eigh(Kn, vectors=False)[0])
    text = [f"{info['kind']} Gram matrix ({info['source']}) of {ds.p} points in d = {ds.d}: {seconds:.3f} s",
            f"  mean diagonal {payload['diagonal_mean']:.6g}"
            + (f", smallest eigenvalue {payload['min_eigenvalue']:.3g}" if "min_eigenvalue" in payload else "")]
    if args.out:
        text.append(f"  wrote {args.out}")
    emit(args, payload, "\n".join(text))


def cmd_kpca(args):
    from ..numerics import data as D
    from ..numerics.kernels.kernel_pca import kernel_pca, plot_kernel_pca

    ds = D.load(args.data)
    if args.kernel:
        from ..numerics.data.files import read_array

        K = read_array(args.kernel, "--kernel", shape=(ds.p, ds.p), mmap=True)
        info = {"source": "file", "kernel": str(args.kernel)}
    else:
        K, info = kernel_source(args, ds.X)
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
    emit(args, payload, "\n".join(lines))


def cmd_learning_curve(args):
    from ..numerics.kernels.learning_cells import LearningCurveConfig
    from ..studies.learning_curves import learning_curve, plot_learning_curves

    ps = parse_floats(args.p, "--p")
    if any(v != int(v) or v < 2 for v in ps):
        raise UsageError(f"--p must be integers >= 2, got {args.p!r}")
    ps = tuple(int(v) for v in ps)
    cfg = LearningCurveConfig(data=args.data, d=args.d, ps=ps, ptest=args.ptest, seeds=parse_seeds(args.seeds),
                              methods=tuple(args.methods.split(",")), h=args.h, alpha_lazy=args.alpha_lazy,
                              alpha_feature=args.alpha_feature, loss=args.loss, t_max=args.t_max,
                              max_wall=args.max_wall, device=args.device, bootstrap=args.bootstrap,
                              integrator=args.integrator, **imbalance_settings(args))
    result = learning_curve(cfg, out=args.out, progress=not args.json, workers=worker_count(args.workers))
    if args.png:
        result["png"] = plot_learning_curves(result, args.png)
    lines = [f"learning curves, {args.data} model, d = {args.d}, p = {list(ps)}, {len(cfg.seeds)} seeds"]
    for method, fit in result["fits"].items():
        errs = "  ".join(f"{e:.4f}" for e in fit["mean_error"])
        beta = "beta = n/a" if fit["beta"] is None else \
            f"beta = {fit['beta']:.3f} [{fit['beta_ci'][0]:.3f}, {fit['beta_ci'][1]:.3f}]" if fit["beta_ci"] else \
            f"beta = {fit['beta']:.3f}"
        lines.append(f"  {method:10s} {beta}   mean test error: {errs}")
    emit(args, result, "\n".join(lines))


def add_parsers(sub):
    p = sub.add_parser("ntk", help="the NTK (or NNGP) Gram matrix of a dataset: infinite width or a finite network")
    p.add_argument("data", help=".npz with X and y (lazyrich data ...)")
    kernel_flags(p)
    p.add_argument("--out", default=None, help="save the Gram matrix as .npy (written tile by tile)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ntk)

    p = sub.add_parser("kpca", help="kernel PCA: spectrum, label weight per eigenvector, mutual information")
    p.add_argument("data", help=".npz with X and y")
    kernel_flags(p, with_file=True)
    p.add_argument("--top", type=count(1), default=None, help="keep this many components")
    p.add_argument("--center", action="store_true", help="double-centre the kernel first")
    p.add_argument("--mi", type=count(0), default=20, help="components that get a mutual information (0: none)")
    p.add_argument("--png", default=None, help="plot against rank")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kpca)

    p = sub.add_parser("learning-curve", help="test error against p for networks and kernels, with power-law fits")
    add_imbalance_arguments(p)
    add_integrator_argument(p)
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
    p.add_argument("--max-wall", type=positive_float, default=60.0, help="seconds per network ensemble")
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples for the confidence intervals")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="results store for the (method, p, seed) runs (resumable), and "
                                               "result.json")
    p.add_argument("--workers", type=int, default=None, help="processes running the runs (default: one per core)")
    p.add_argument("--png", default=None, help="plot the curves and fits")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_learning_curve)
