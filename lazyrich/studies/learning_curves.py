"""The learning-curve study: test error against p over seeds for networks and kernels, with power-law fits.

Each (method, p, seed) is one run of the sweep machinery (lazyrich.sweep, job kind
``learning-curve``, computed by numerics.kernels.learning_cells): the output folder is a results
store, every run saved as it finishes, so an interrupted curve resumes where it stopped and a
curve with other settings adds its own runs. :func:`fit_power_law` fits eps = A p^-beta by least
squares on log(mean error) against log p, with bootstrap confidence intervals over seeds
(numerics.stats).
"""
from __future__ import annotations

from dataclasses import asdict
import json
import math
from pathlib import Path

import numpy as np

from ..numerics.kernels.learning_cells import LearningCurveConfig, LearningCurveError
from ..numerics.stats import power_law_fit
from ..sweep import make_run, run_many


def learning_curve(cfg: LearningCurveConfig, out=None, progress: bool = True, workers: int = 1) -> dict:
    """Run every (method, p, seed) cell not yet in the store ``out`` (a temporary one if None); fit.

    ``workers``: processes of the local sweep backend. Returns {"config", "records", "fits":
    {method: fit}} (see :func:`fit_power_law`); with ``out``, also written to out/result.json.
    """
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


def fit_power_law(p, error, seeds=None, bootstrap: int = 1000, rng_seed: int = 0) -> dict:
    """Fit eps = A p^-beta to the mean test error over seeds at each p; bootstrap over seeds.

    ``seeds`` labels the errors (the bootstrap resamples the errors of each p). Sizes whose mean
    error is 0 cannot enter a log fit and are left out (reported in ``excluded_p``). Returns
    {"beta", "prefactor", "beta_ci" (95 %), "p", "mean_error", "sem_error", "excluded_p",
    "points"}; beta is None when fewer than two sizes remain.
    """
    p, error = np.asarray(p, dtype=np.float64), np.asarray(error, dtype=np.float64)
    if p.shape != error.shape:
        raise LearningCurveError(f"p and error differ in length: {p.shape} and {error.shape}")
    sizes = np.unique(p)
    groups = [error[p == s] for s in sizes]
    mean = np.array([g.mean() for g in groups])
    sem = np.array([g.std(ddof=1) / math.sqrt(g.size) if g.size > 1 else float("nan") for g in groups])
    base = {"p": sizes.tolist(), "mean_error": mean.tolist(), "sem_error": [None if math.isnan(s) else s for s in sem],
            "excluded_p": sizes[~(mean > 0)].tolist(), "points": int(error.size)}
    if len(sizes) < 2:
        return {**base, "beta": None, "prefactor": None, "beta_ci": None}
    fit = power_law_fit(sizes, groups, bootstrap=bootstrap, rng_seed=rng_seed)
    if fit["exponent"] is None:
        return {**base, "beta": None, "prefactor": None, "beta_ci": None}
    ci = None if fit["ci"] is None else [-fit["ci"][1], -fit["ci"][0]]
    return {**base, "beta": -fit["exponent"], "prefactor": fit["prefactor"], "beta_ci": ci}


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
