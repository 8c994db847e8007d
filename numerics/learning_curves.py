"""Learning curves: test error against p over seeds for networks and kernels, and power-law fits.

Each seed is a new training set (data seed = seed) and a new network initialisation; the test
set is the simulator's (an independent sample of size ptest). Methods:

- ``lazy``, ``feature``: the network trained by the simulator at alpha_lazy / alpha_feature
  (both alphas share one ensemble run per (p, seed));
- ``svc-ntk``: SVC with the infinite-width NTK at initialisation (the talk's kernel baseline);
- ``kernel-ntk``: the kernel gradient flow with the same loss as the networks, infinite-width NTK
  (what the lazy network tends to at large alpha and width);
- ``knn``: 5-nearest neighbours on the inputs;
- ``svc-final``: SVC with the empirical NTK of the feature network at the end of its training
  (the talk: the end-of-training kernel performs as well as the network itself);
- ``feature-fixed``: the network at alpha_feature with the direction of every omega_n fixed at
  its initial value (``SimulationConfig.fix_orientation``: only the norms, b and beta train),
  same seed and training set as ``feature``.

Each (method, p, seed) is one run of the sweep machinery (lazyrich.sweep, job kind
``learning-curve``): the output folder is a results store, every run saved as it finishes, so an
interrupted curve resumes where it stopped and a curve with other settings adds its own runs.
:func:`fit_power_law` fits eps = A p^-beta by least squares on log(mean error) against log p,
with bootstrap confidence intervals over seeds.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
import json
import math
from pathlib import Path
import time

import numpy as np

METHODS = ("knn", "svc-ntk", "kernel-ntk", "lazy", "feature", "svc-final", "feature-fixed")


class LearningCurveError(ValueError):
    """Bad settings for a learning curve."""


@dataclass
class LearningCurveConfig:
    data: str = "stripe"
    d: int = 5
    ps: tuple = (32, 64, 128, 256)
    ptest: int = 2048
    seeds: tuple = (0, 1, 2, 3)
    methods: tuple = ("knn", "svc-ntk", "lazy", "feature")
    h: int = 256
    alpha_lazy: float = 1e3
    alpha_feature: float = 1e-2
    loss: str = "hinge"
    t_max: float = 1e3  # flow time for networks and the kernel flow
    max_wall: float | None = 60.0  # seconds per network ensemble
    C: float = 1e4  # SVC
    k: int = 5  # kNN
    device: str = "auto"
    bootstrap: int = 1000
    extra: dict = field(default_factory=dict)  # further SimulationConfig settings for the networks

    def validate(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise LearningCurveError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
        if not self.methods:
            raise LearningCurveError("no methods given")
        if not self.ps or any(int(p) < 2 for p in self.ps):
            raise LearningCurveError(f"ps must be training-set sizes >= 2, got {list(self.ps)}")
        if not self.seeds:
            raise LearningCurveError("seeds is empty")
        if self.ptest < 1:
            raise LearningCurveError(f"ptest must be positive, got {self.ptest}")
        if self.data not in ("stripe", "sphere", "cylinder"):
            raise LearningCurveError(f"data must be stripe, sphere or cylinder, got {self.data!r}")
        return self


def _sim_config(cfg: LearningCurveConfig, p: int, seed: int, alphas):
    from .simulate import SimulationConfig

    return SimulationConfig(data=cfg.data, d=cfg.d, p=p, ptest=cfg.ptest, data_seed=seed, h=cfg.h,
                            alphas=tuple(alphas), loss=cfg.loss, seeds=(seed,), device=cfg.device,
                            t_max=cfg.t_max, max_wall=cfg.max_wall, checkpoints=4, track_neurons=1,
                            **cfg.extra)


def run_cell(cfg: LearningCurveConfig, p: int, seed: int, methods) -> list[dict]:
    """Test errors of ``methods`` on the training set of (p, seed)."""
    from .kernel_machines import classification_error, kernel_gradient_flow, knn_predict, svc_decision
    from .ntk import analytic_kernel, empirical_ntk
    from .simulate import build_datasets, simulate

    sim_cfg = _sim_config(cfg, p, seed, [cfg.alpha_lazy])
    train, test = build_datasets(sim_cfg)
    rows = []

    def row(method, test_error, train_error, t0, **extra):
        rows.append({"method": method, "p": p, "seed": seed, "test_error": float(test_error),
                     "train_error": None if train_error is None else float(train_error),
                     "seconds": time.perf_counter() - t0, **extra})

    if "knn" in methods:
        t0 = time.perf_counter()
        row("knn", classification_error(knn_predict(train.X, train.y, test.X, cfg.k), test.y), None, t0)
    if "svc-ntk" in methods or "kernel-ntk" in methods:
        t0 = time.perf_counter()
        K, Kt = analytic_kernel(train.X).numpy(), analytic_kernel(test.X, train.X).numpy()
        if "svc-ntk" in methods:
            row("svc-ntk", classification_error(svc_decision(K, train.y, Kt, cfg.C), test.y),
                classification_error(svc_decision(K, train.y, K, cfg.C), train.y), t0)
        if "kernel-ntk" in methods:
            t0 = time.perf_counter()
            flow = kernel_gradient_flow(K, train.y, [cfg.t_max], cfg.loss, K_test=Kt)
            row("kernel-ntk", classification_error(flow["F_test"][-1], test.y),
                classification_error(flow["F_train"][-1], train.y), t0, steps=flow["steps"])
    # the feature network is trained when it or its end-of-training kernel is asked for
    wanted = set(methods) | ({"feature"} if "svc-final" in methods else set())
    regimes = [(m, a) for m, a in (("lazy", cfg.alpha_lazy), ("feature", cfg.alpha_feature)) if m in wanted]
    if regimes:
        t0 = time.perf_counter()
        res = simulate(_sim_config(cfg, p, seed, [a for _, a in regimes]), progress=False, datasets=(train, test))
        for e, (method, alpha) in enumerate(regimes):
            net = res.networks()[e]
            if method in methods:
                row(method, net["test_error"], net["train_error"], t0, alpha=alpha, stop_reason=net["stop_reason"],
                    t=net["t"], rel_change_omega=net["rel_change_omega"])
            if method == "feature" and "svc-final" in methods:
                t1 = time.perf_counter()
                params = res.params(e, final=True)
                K, Kt = empirical_ntk(*params, train.X).numpy(), empirical_ntk(*params, test.X, train.X).numpy()
                row("svc-final", classification_error(svc_decision(K, train.y, Kt, cfg.C), test.y),
                    classification_error(svc_decision(K, train.y, K, cfg.C), train.y), t1, alpha=alpha)
    if "feature-fixed" in methods:
        # fix_orientation is a setting of a whole run, so this network gets a run of its own
        t0 = time.perf_counter()
        fixed = replace(_sim_config(cfg, p, seed, [cfg.alpha_feature]), fix_orientation=True)
        net = simulate(fixed, progress=False, datasets=(train, test)).networks()[0]
        row("feature-fixed", net["test_error"], net["train_error"], t0, alpha=cfg.alpha_feature,
            stop_reason=net["stop_reason"], t=net["t"], rel_change_omega=net["rel_change_omega"])
    return rows


def learning_curve(cfg: LearningCurveConfig, out=None, progress: bool = True, workers: int = 1) -> dict:
    """Run every (method, p, seed) cell not yet in the store ``out`` (a temporary one if None); fit.

    ``workers``: processes of the local sweep backend. Returns {"config", "records", "fits":
    {method: fit}} (see :func:`fit_power_law`); with ``out``, also written to out/result.json.
    """
    from ..sweep import make_run, run_many

    cfg.validate()
    shared = {k: v for k, v in asdict(cfg).items() if k not in ("ps", "seeds", "methods", "bootstrap", "device")}
    cells = [(m, int(p), int(s)) for m in cfg.methods for p in cfg.ps for s in cfg.seeds]
    runs = [make_run("learning-curve", {**shared, "method": m, "p": p, "seed": s}) for m, p, s in cells]
    # batch: the methods of a (p, seed) cell as one unit (one training set, lazy and feature as one ensemble)
    rows = run_many(runs, out, name="learning-curve", device=cfg.device, workers=workers, batch=True,
                    progress=progress)
    records = [{"method": m, "p": p, "seed": s, **rows[r.key]["result"], "seconds": rows[r.key]["seconds"]}
               for (m, p, s), r in zip(cells, runs)]
    fits = {m: fit_power_law([r["p"] for r in records if r["method"] == m],
                             [r["test_error"] for r in records if r["method"] == m],
                             [r["seed"] for r in records if r["method"] == m], cfg.bootstrap)
            for m in cfg.methods}
    result = {"name": "learning-curve", "config": asdict(cfg), "records": records, "fits": fits}
    if out is not None:
        (Path(out) / "result.json").write_text(json.dumps(result, indent=1))
    return result


def _slope(logp, logeps):
    A = np.stack([np.ones_like(logp), logp], 1)
    coef, *_ = np.linalg.lstsq(A, logeps, rcond=None)
    return coef  # (log prefactor, -beta)


def fit_power_law(p, error, seeds=None, bootstrap: int = 1000, rng_seed: int = 0) -> dict:
    """Fit eps = A p^-beta to the mean test error over seeds at each p; bootstrap over seeds.

    Sizes whose mean error is 0 cannot enter a log fit and are left out (reported in
    ``excluded_p``). Returns {"beta", "prefactor", "beta_ci" (95 %), "p", "mean_error",
    "sem_error", "excluded_p", "points"}; beta is None when fewer than two sizes remain.
    """
    p, error = np.asarray(p, dtype=np.float64), np.asarray(error, dtype=np.float64)
    if p.shape != error.shape:
        raise LearningCurveError(f"p and error differ in length: {p.shape} and {error.shape}")
    sizes = np.unique(p)
    groups = [error[p == s] for s in sizes]
    mean = np.array([g.mean() for g in groups])
    sem = np.array([g.std(ddof=1) / math.sqrt(g.size) if g.size > 1 else float("nan") for g in groups])
    ok = mean > 0
    base = {"p": sizes.tolist(), "mean_error": mean.tolist(), "sem_error": [None if math.isnan(s) else s for s in sem],
            "excluded_p": sizes[~ok].tolist(), "points": int(error.size)}
    if ok.sum() < 2:
        return {**base, "beta": None, "prefactor": None, "beta_ci": None}
    c0, c1 = _slope(np.log(sizes[ok]), np.log(mean[ok]))
    rng = np.random.default_rng(rng_seed)
    betas = []
    for _ in range(bootstrap):
        resampled = np.array([rng.choice(g, g.size).mean() for g in groups])
        good = ok & (resampled > 0)
        if good.sum() >= 2:
            betas.append(-_slope(np.log(sizes[good]), np.log(resampled[good]))[1])
    ci = [float(np.percentile(betas, 2.5)), float(np.percentile(betas, 97.5))] if betas else None
    return {**base, "beta": float(-c1), "prefactor": float(math.exp(c0)), "beta_ci": ci}


def draw_learning_curves(ax, result: dict, title: str | None = None, fontsize: int = 8):
    """On a matplotlib axis: mean test error against p (log-log) with its standard error, and each fit."""
    for i, (method, fit) in enumerate(result["fits"].items()):
        colour = f"C{i}"
        sizes, mean = np.array(fit["p"]), np.array(fit["mean_error"])
        sem = np.array([np.nan if s is None else s for s in fit["sem_error"]])
        pos = mean > 0
        ax.errorbar(sizes[pos], mean[pos], yerr=np.nan_to_num(sem[pos]), fmt="o", color=colour, capsize=3)
        label = method
        if fit["beta"] is not None:
            grid = np.geomspace(sizes.min(), sizes.max(), 50)
            ax.plot(grid, fit["prefactor"] * grid ** -fit["beta"], "-", color=colour)
            ci = fit["beta_ci"]
            label += rf"  $\beta$ = {fit['beta']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
        ax.plot([], [], "o-", color=colour, label=label)
    if title is None:
        title = f"{result['config']['data']} model, d = {result['config']['d']}"
    ax.set(xscale="log", yscale="log", xlabel="p (training points)", ylabel="test error", title=title)
    ax.legend(fontsize=fontsize)


def plot_learning_curves(result: dict, path) -> str:
    """The learning curves and their fits as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    draw_learning_curves(ax, result)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
