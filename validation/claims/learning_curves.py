"""Empirical claim ``learning-curves``: test error against p, lazy against feature, two data models.

The talk says:

(A) stripe model: the feature regime's learning-curve exponent beta (eps ~ p^-beta) is larger
    than the lazy regime's; the kernel baselines are SVC with the NTK at initialisation
    (``svc-ntk``, the converged lazy limit) and 5-nearest neighbours (``knn``);
(B) sphere model: lazy beats feature below a crossover p*;
(C) sphere model: fixing the orientation of the weights (only their norms, b and beta train)
    improves the feature regime.

Every number comes from ``numerics.learning_curves.learning_curve`` (a new training set and
network per seed), one sweep run per (method, p, seed), kept in a results store in the report
folder (REPORT/learning-curves/stripe/quick ...), so an interrupted run resumes. Statistics:

(A) the difference beta_feature - beta_lazy, by a bootstrap over seeds that resamples the same
    seeds for both methods (they share each training set); confirmed when its interval is above 0.
(B) per p, the paired difference of test errors feature - lazy averaged over seeds; p* where it
    changes sign from + to - (log-linear interpolation), or outside the range. The differences
    of all (p, seed) cells below p* are pooled (Student-t interval): confirmed when it lies above
    0. When lazy is better at no p, the pooled interval over all cells decides: refuted when it
    lies below 0 (feature better), inconclusive otherwise.
(C) the paired difference fixed - free orientation over all (p, seed) cells, Student-t interval;
    confirmed when it lies below 0.

A hinge network stops when its margins are reached, or at the step or time limit. A lazy network
that did not converge has an inflated test error, which favours (A) and disfavours (B): so (A) is
confirmed then only if the feature exponent also exceeds svc-ntk's (the lazy limit at
convergence), and a refutation of (B) becomes inconclusive.
"""
from __future__ import annotations

import math

import numpy as np

from ...numerics.kernels.learning_cells import LearningCurveConfig
from ...numerics.stats import mean_interval, percentile_interval, power_law_difference
from ...studies.learning_curves import draw_learning_curves, learning_curve
from ..claim import Outcome, Trained, claim, combine, verdict_interval
from ..plotting import figure
from ...theory.errors import LazyrichError

LOSS = "hinge"
# the limit checks (issue 17): at the largest p the stripe model's networks again, (alpha) feature at alpha / SHIFT
# and lazy at alpha * SHIFT, (width) at 2h; the same training sets. A regime is a limit in alpha, and h is wide
# enough, when the paired change of the test error has its 95 % interval within +-LIMIT_TOLERANCE
SHIFT, LIMIT_TOLERANCE = 10.0, 0.01
VARIANTS = {  # name: (the sizes changed, the config field that says what moved, per method)
    "alpha": (lambda z: {**z, "alpha_lazy": z["alpha_lazy"] * SHIFT, "alpha_feature": z["alpha_feature"] / SHIFT},
              lambda m: f"alpha_{m}"),
    "width": (lambda z: {**z, "h": 2 * z["h"]}, lambda m: "h"),
}
LEVEL = 0.95
TRAINED = ("lazy", "feature", "feature-fixed")  # the methods that train a network
METHODS = {"stripe": ("knn", "svc-ntk", "lazy", "feature"),
           "sphere": ("knn", "svc-ntk", "lazy", "feature", "feature-fixed")}

# quick: a step limit (deterministic, unlike a wall-clock one) caps the slow hinge tails; with
# tol_output 0.5 a network stops at margins >= 0.5 (stripe, p = 256: the test errors at the stop agree
# with tol_output 0.2 within 0.002, measured, with a half to a third of the steps)
# (full sizes: the feature regime at alpha <= 1e-3 and the lazy one at >= 1e3, and the sphere model at d = 10, the
# talk's figure, issue 17; quick sizes stay milder)
QUICK = {"d": 5, "ps": (16, 32, 64, 128), "seeds": 3, "h": 128, "ptest": 2000, "t_max": 2000.0, "max_steps": 1200,
         "tol_output": 0.5, "max_wall": None, "bootstrap": 1000, "alpha_lazy": 1e3, "alpha_feature": 0.1, "d_sphere": 5}
FULL = {"d": 5, "ps": (64, 128, 256, 512, 1024), "seeds": 6, "h": 1024, "ptest": 10000, "t_max": 1e4,
        "max_steps": 20000, "tol_output": 0.2, "max_wall": 1200.0, "bootstrap": 2000, "alpha_lazy": 1e3,
        "alpha_feature": 1e-3, "d_sphere": 10}


# ------------------------------------------------------------------------------------ statistics
def error_table(records, method: str, ps, seeds) -> np.ndarray:
    """Test errors of ``method`` as an array (len(ps), len(seeds))."""
    by = {(r["p"], r["seed"]): r["test_error"] for r in records if r["method"] == method}
    missing = [(p, s) for p in ps for s in seeds if (p, s) not in by]
    if missing:
        raise LazyrichError(f"no record of {method} for (p, seed) {missing[:3]}")
    return np.array([[by[(p, s)] for s in seeds] for p in ps], dtype=np.float64)


def beta_difference(ps, errors_a, errors_b, bootstrap: int = 1000, rng_seed: int = 0, level: float = LEVEL) -> dict:
    """beta_a - beta_b of eps = A p^-beta fitted to the mean errors, with a paired bootstrap.

    ``errors_a``, ``errors_b``: (len(ps), seeds), column s of both from the same training set, so
    each resample draws the same seeds for both. Sizes with a zero mean error are left out.
    """
    # beta = -k, so beta_a - beta_b is the exponent difference k_b - k_a
    return power_law_difference(ps, errors_b, errors_a, bootstrap, rng_seed, level)


def crossover(ps, gap) -> dict:
    """Where the mean of gap(p) (feature minus lazy error) first turns from > 0 to <= 0.

    Log-linear interpolation between the two sizes around the change. Returns {"p_star",
    "where"}: "inside", "above" (lazy better at every p: p* beyond the largest) or "below"
    (lazy better at no p)."""
    ps, gap = np.asarray(ps, dtype=np.float64), np.asarray(gap, dtype=np.float64)
    if not (gap > 0).any():
        return {"p_star": None, "where": "below"}
    first = int(np.flatnonzero(gap > 0)[0])
    later = np.flatnonzero(gap[first:] <= 0)
    if later.size == 0:
        return {"p_star": None, "where": "above"}
    j = first + int(later[0])
    i = j - 1
    x0, x1 = math.log(ps[i]), math.log(ps[j])
    frac = gap[i] / (gap[i] - gap[j])
    return {"p_star": float(math.exp(x0 + frac * (x1 - x0))), "where": "inside"}


def p_star_bootstrap(ps, gap, bootstrap: int, rng_seed: int = 0, level: float = LEVEL) -> dict:
    """p* under a bootstrap over seeds: the columns of ``gap`` (len(ps), seeds) resampled with replacement, the
    crossover of each resample's mean. Returns how often it lies inside the range, above or below it, and the
    percentile interval of p* over the resamples where it lies inside (None when none does)."""
    rng = np.random.default_rng(rng_seed)
    gap = np.asarray(gap, dtype=np.float64)
    where, inside = {"inside": 0, "above": 0, "below": 0}, []
    for _ in range(bootstrap):
        c = crossover(ps, gap[:, rng.integers(0, gap.shape[1], gap.shape[1])].mean(1))
        where[c["where"]] += 1
        if c["where"] == "inside":
            inside.append(c["p_star"])
    return {"fractions": {k: v / bootstrap for k, v in where.items()}, "ci": percentile_interval(inside, level)}


# ------------------------------------------------------------------------------------ runs
def _curve(ctx, data: str, sizes, variant: str | None = None) -> dict:
    """The learning curves of ``data`` (every method, every p); a VARIANTS name: the networks alone at the largest
    p, with the variant's sizes, in a store of their own."""
    methods, ps, store = METHODS[data], tuple(sizes["ps"]), f"learning-curves/{data}"
    if variant is not None:
        methods, ps, store, sizes = ("lazy", "feature"), ps[-1:], f"{store}-{variant}", VARIANTS[variant][0](sizes)
    d = sizes.get("d_sphere", sizes["d"]) if data == "sphere" else sizes["d"]
    cfg = LearningCurveConfig(
        data=data, d=d, ps=ps, ptest=sizes["ptest"],
        seeds=tuple(ctx.seed + s for s in range(sizes["seeds"])), methods=methods, h=sizes["h"],
        alpha_lazy=sizes["alpha_lazy"], alpha_feature=sizes["alpha_feature"], loss=LOSS,
        t_max=sizes["t_max"], max_wall=sizes["max_wall"], device=ctx.device, bootstrap=sizes["bootstrap"],
        extra={"tol_output": sizes["tol_output"], "max_steps": sizes["max_steps"]}, **ctx.training())
    return learning_curve(cfg, out=ctx.store(store), progress=False, workers=ctx.workers)


def limit_check(base: dict, other: dict, p: int, seeds, field) -> dict:
    """Per regime, the paired change of the test error at size p from the base runs to the other ones (records
    of both, one per seed, the same training set): what moved (``field(method)``, a config field, before and after),
    mean, 95 % interval, and what it says: "stopped" (the interval within +-LIMIT_TOLERANCE: the number no longer
    depends on what moved), "moving" (the interval entirely beyond it) or "undecided" (it straddles the tolerance:
    more seeds decide)."""
    out = {}
    for m in ("feature", "lazy"):
        change = error_table(other["records"], m, [p], seeds)[0] - error_table(base["records"], m, [p], seeds)[0]
        mean, lo, hi = mean_interval(change)
        stopped = -LIMIT_TOLERANCE <= lo and hi <= LIMIT_TOLERANCE
        moving = lo > LIMIT_TOLERANCE or hi < -LIMIT_TOLERANCE
        out[m] = {"values": [res["config"][field(m)] for res in (base, other)], "p": p, "change": mean,
                  "change_ci": [lo, hi], "stopped": stopped,
                  "verdict": "stopped" if stopped else "moving" if moving else "undecided"}
    return out


def _trained(results: dict) -> Trained:
    """The trained networks of every (data, method) (the kernel methods train none), as Trained."""
    parts = []
    for name, res in results.items():
        for m in TRAINED:
            for p in sorted({r["p"] for r in res["records"]}):
                rows = [r for r in res["records"] if r["method"] == m and r["p"] == p]
                if rows:
                    parts.append(Trained.of(rows, f"{name}/{m} p = {p}, "))
    return Trained.total(parts)


def _converged(result, method: str) -> float:
    """Fraction of the networks of ``method`` that reached their margins."""
    stops = [r.get("stop_reason") for r in result["records"] if r["method"] == method]
    return float(np.mean([s == "margins" for s in stops])) if stops else float("nan")


# ------------------------------------------------------------------------------------ the three parts
def _part_a(result, sizes, seeds) -> tuple[str, dict]:
    ps, rec, boot = sizes["ps"], result["records"], sizes["bootstrap"]
    table = {m: error_table(rec, m, ps, seeds) for m in ("feature", "lazy", "svc-ntk")}
    vs_lazy = beta_difference(ps, table["feature"], table["lazy"], boot)
    vs_svc = beta_difference(ps, table["feature"], table["svc-ntk"], boot)
    ci = vs_lazy["ci"] or [None, None]
    verdict = verdict_interval(ci[0], ci[1], 0.0)
    lazy_ok = _converged(result, "lazy") == 1.0
    if verdict == "confirmed" and not lazy_ok:
        svc_ci = vs_svc["ci"] or [None, None]
        verdict = verdict if verdict_interval(svc_ci[0], svc_ci[1], 0.0) == "confirmed" else "inconclusive"
    return verdict, {"beta_feature_minus_lazy": vs_lazy["difference"], "beta_feature_minus_lazy_ci": vs_lazy["ci"],
                     "beta_feature_minus_svc_ntk": vs_svc["difference"],
                     "beta_feature_minus_svc_ntk_ci": vs_svc["ci"]}


def _part_b(result, sizes, seeds) -> tuple[str, dict]:
    ps = sizes["ps"]
    gap = error_table(result["records"], "feature", ps, seeds) - error_table(result["records"], "lazy", ps, seeds)
    intervals = [mean_interval(g) for g in gap]
    cross = crossover(ps, gap.mean(1))
    below = [i for i, p in enumerate(ps) if cross["where"] == "above" or
             (cross["where"] == "inside" and p < cross["p_star"])]
    # the cells below p*, pooled (all of them when lazy is better at no p: is feature then better?)
    mean, lo, hi = mean_interval(gap[below or list(range(len(ps)))].ravel())
    verdict = verdict_interval(lo, hi, 0.0)
    if below and verdict == "refuted":
        verdict = "inconclusive"  # lazy better on average at those p, worse in the pooled interval: no clear answer
    if verdict == "refuted" and _converged(result, "lazy") < 1.0:
        verdict = "inconclusive"
    return verdict, {"feature_minus_lazy": gap.mean(1).tolist(),
                     "feature_minus_lazy_ci": [[lo_, hi_] for _, lo_, hi_ in intervals],
                     "feature_minus_lazy_below_p_star": mean, "feature_minus_lazy_below_p_star_ci": [lo, hi],
                     "p_star": cross["p_star"], "p_star_where": cross["where"],
                     "p_star_bootstrap": p_star_bootstrap(ps, gap, sizes["bootstrap"])}


def crossover_from_fits(fit_feature, fit_lazy) -> float | None:
    """Where the two fitted power laws A p^-beta meet: (A_f/A_l)^(1/(beta_f - beta_l)), if they do."""
    bf, bl = fit_feature["beta"], fit_lazy["beta"]
    if bf is None or bl is None or bf == bl:
        return None
    return float((fit_feature["prefactor"] / fit_lazy["prefactor"]) ** (1.0 / (bf - bl)))


def _part_c(result, sizes, seeds) -> tuple[str, dict]:
    ps = sizes["ps"]
    gap = error_table(result["records"], "feature-fixed", ps, seeds) - \
        error_table(result["records"], "feature", ps, seeds)
    mean, lo, hi = mean_interval(gap.ravel())
    return verdict_interval(lo, hi, 0.0, above=False), {
        "fixed_minus_free": mean, "fixed_minus_free_ci": [lo, hi], "fixed_minus_free_per_p": gap.mean(1).tolist()}


def _betas(result) -> dict:
    return {m: {"beta": f["beta"], "ci": f["beta_ci"], "mean_error": f["mean_error"]}
            for m, f in result["fits"].items()}


# ------------------------------------------------------------------------------------ figure
def _plot_curves(ax, result, title):
    draw_learning_curves(ax, result, title, fontsize=7)


def _figure(path, stripe, sphere, b_stats, c_stats, ps):
    with figure(path, 1, 3, (16, 4.8)) as ax:
        _plot_curves(ax[0], stripe, "(A) stripe model")
        _plot_curves(ax[1], sphere, "(B, C) sphere model")
        ci = np.array(b_stats["feature_minus_lazy_ci"])
        mean = np.array(b_stats["feature_minus_lazy"])
        ax[2].errorbar(ps, mean, yerr=[mean - ci[:, 0], ci[:, 1] - mean], fmt="o-", capsize=3,
                       label="feature - lazy")
        ax[2].plot(ps, c_stats["fixed_minus_free_per_p"], "s--", label="fixed - free orientation (feature)")
        ax[2].axhline(0, color="k", lw=0.8)
        if b_stats["p_star"] is not None:
            ax[2].axvline(b_stats["p_star"], color="C3", ls=":", label=f"p* = {b_stats['p_star']:.0f}")
        ax[2].set(xscale="log", xlabel="p", ylabel="difference of test errors",
                  title="sphere: paired differences (95 % intervals)")
        ax[2].legend(fontsize=8)


# ------------------------------------------------------------------------------------ the claim
def _p_star_text(b) -> str:
    boot = b["p_star_bootstrap"]
    share = ", ".join(f"{k} {v:.0%}" for k, v in boot["fractions"].items())
    spread = f"; p* {_ci(boot['ci'], '.0f')} where inside" if boot["ci"] is not None else ""
    if b["p_star_where"] == "inside":
        head = f"p* = {b['p_star']:.0f}"
    else:
        head = "p* above the largest p (lazy better throughout)" if b["p_star_where"] == "above" else \
            "no p with lazy better (p* below the range, if any)"
    return f"{head} (bootstrap over seeds: {share}{spread})"


@claim("learning-curves", "empirical", """
    Stripe model: the feature regime's learning-curve exponent beta is larger than the lazy
    regime's (kernel baselines: SVC with the initial NTK, 5-nearest neighbours). Sphere model:
    lazy beats feature below a crossover p*, and fixing the orientation of the weights improves
    the feature regime.""")
def learning_curves(ctx) -> Outcome:
    sizes = ctx.size(QUICK, FULL)
    if sizes["seeds"] < 2 or len(sizes["ps"]) < 2:
        raise LazyrichError(f"learning-curves needs at least 2 seeds and 2 sizes p, got {sizes}")
    seeds = [ctx.seed + s for s in range(sizes["seeds"])]
    stripe, sphere = _curve(ctx, "stripe", sizes), _curve(ctx, "sphere", sizes)
    variants = {name: _curve(ctx, "stripe", sizes, name) for name in VARIANTS}
    limits = {name: limit_check(stripe, res, sizes["ps"][-1], seeds, VARIANTS[name][1])
              for name, res in variants.items()}
    (va, a), (vb, b), (vc, c) = _part_a(stripe, sizes, seeds), _part_b(sphere, sizes, seeds), \
        _part_c(sphere, sizes, seeds)
    converged = {f"{name}/{m}": _converged(res, m) for name, res in (("stripe", stripe), ("sphere", sphere))
                 for m in ("lazy", "feature", "feature-fixed") if m in METHODS[name]}
    measured = {"ps": list(sizes["ps"]), "stripe": _betas(stripe), "sphere": _betas(sphere), **a, **b, **c,
                "p_star_from_fits": crossover_from_fits(sphere["fits"]["feature"], sphere["fits"]["lazy"]),
                "converged_fraction": converged, "part_verdicts": {"A": va, "B": vb, "C": vc},
                "alpha_limit": limits["alpha"], "width_limit": limits["width"]}
    path = ctx.figure("learning-curves")
    _figure(path, stripe, sphere, b, c, sizes["ps"])
    beta = lambda res, m: res["fits"][m]["beta"]  # noqa: E731
    not_conv = [k for k, v in converged.items() if v < 1]
    summary = (
        f"d = {sizes['d']} (sphere {sizes.get('d_sphere', sizes['d'])}), h = {sizes['h']}, alpha lazy "
        f"{sizes['alpha_lazy']:g} / feature {sizes['alpha_feature']:g}, hinge, p = {list(sizes['ps'])}, "
        f"{sizes['seeds']} seeds. (A) {va}: stripe beta feature "
        f"{_num(beta(stripe, 'feature'))}, "
        f"lazy {_num(beta(stripe, 'lazy'))}, svc-ntk {_num(beta(stripe, 'svc-ntk'))}, knn {_num(beta(stripe, 'knn'))}; "
        f"feature - lazy = {_num(a['beta_feature_minus_lazy'])} {_ci(a['beta_feature_minus_lazy_ci'])}. "
        f"(B) {vb}: sphere feature - lazy test error per p {[round(v, 3) for v in b['feature_minus_lazy']]}, "
        f"{_p_star_text(b)}; pooled below p* {b['feature_minus_lazy_below_p_star']:.3f} "
        f"{_ci(b['feature_minus_lazy_below_p_star_ci'])}; the fitted power laws meet at p = "
        f"{_num(measured['p_star_from_fits'], '.3g')}. (C) {vc}: fixed - free orientation {c['fixed_minus_free']:.3f} "
        f"{_ci(c['fixed_minus_free_ci'])}. {_limit_text(limits)} "
        + (f"Not all networks stopped on their margins (their integrator's margin rule; fraction: "
           f"{', '.join(f'{k} {converged[k]:.2f}' for k in not_conv)})." if not_conv else
           "All networks stopped on their margins (their integrator's margin rule)."))
    return Outcome(combine([va, vb, vc]), measured,
                   {"beta_feature_minus_lazy": "> 0 (stripe)", "feature_minus_lazy": "> 0 below p* (sphere)",
                    "fixed_minus_free": "< 0 (sphere)"},
                   {"level": LEVEL}, str(path), summary,
                   {"sizes": dict(sizes), "loss": LOSS},
                   trained=_trained({"stripe": stripe, "sphere": sphere,
                                     **{f"stripe ({name} check)": res for name, res in variants.items()}}))


def _limit_text(limits: dict) -> str:
    """The limit checks in a sentence each."""
    out = []
    for name, limit in limits.items():
        what = "alpha" if name == "alpha" else "h"
        parts = [f"{m} {what} {v['values'][0]:g} -> {v['values'][1]:g} changes the test error by {v['change']:+.4f} "
                 f"{_ci(v['change_ci'])} ({v['verdict']})" for m, v in limit.items()]
        out.append(f"{name.capitalize()} limit (stripe, p = {next(iter(limit.values()))['p']}, tolerance "
                   f"+-{LIMIT_TOLERANCE:g}): " + "; ".join(parts) + ".")
    return " ".join(out)


def _num(v, fmt: str = ".2f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _ci(ci, fmt: str = ".3g") -> str:
    return "" if ci is None else f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"
