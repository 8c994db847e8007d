"""Confidence intervals and bootstrap power-law fits: the one set every study and claim uses.

- :func:`mean_interval`: the Student-t interval of a mean over independent values (one per seed),
  from scipy.stats.t.
- :func:`power_law_fit`: y ~ A p^k fitted by least squares on log(mean over seeds) (or on the
  mean of log y, ``geometric``) against log p, with a percentile bootstrap over seeds.
- :func:`power_law_difference`: k_a - k_b of two such fits on paired tables (column s of both
  from the same training set), with the same resamples for both.
- :func:`log_linear_fit`: log y = c + sum_j a_j log x_j over rows, with a bootstrap over whole
  seeds (the attractor count A ~ p^a h^b).

Bootstrap: every resample draws the seeds of each size p with replacement, independently across
sizes (one draw of shape (resamples, sizes, seeds)). A resample whose mean error vanishes at a
size has no logarithm there: that size leaves the fit of that resample, and a resample left with
fewer than two sizes (or, for a difference, one that loses a size) is dropped. scipy.stats.bootstrap
cannot drop resamples, which is why the resampling is written here.
"""
from __future__ import annotations

import math

import numpy as np
from ..theory.errors import LazyrichError

LEVEL = 0.95  # the confidence level of every interval, unless a caller says otherwise


def finite_values(values) -> np.ndarray:
    """The values that are numbers: None, NaN and infinities dropped (a seed that measured nothing)."""
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)


def finite_mean(values) -> float:
    """The mean of the values that are numbers (:func:`finite_values`); NaN when there are none."""
    v = finite_values(values)
    return float(v.mean()) if v.size else float("nan")


def mean_interval(values, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean of independent values (one per seed)."""
    from scipy.stats import t as student

    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size < 2 or not np.isfinite(x).all():
        raise LazyrichError(f"an interval needs at least two finite values, got {x.tolist()}")
    half = student.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def percentile_interval(samples, level: float = LEVEL) -> list[float] | None:
    """The central ``level`` interval of bootstrap samples; None when there are none."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size == 0:
        return None
    tail = 100 * (1 - level) / 2
    return [float(np.percentile(samples, tail)), float(np.percentile(samples, 100 - tail))]


def _slopes(x, Y, mask):
    """Least-squares (intercept, slope) of each row of Y (n, P) against x (P,), on the points of mask."""
    w = mask.astype(np.float64)
    count = w.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = (w * x).sum(-1) / count
        ym = (w * np.where(mask, Y, 0.0)).sum(-1) / count
        dx = np.where(mask, x - xm[..., None], 0.0)
        slope = (dx * np.where(mask, Y - ym[..., None], 0.0)).sum(-1) / (dx * dx).sum(-1)
    return ym - slope * xm, np.where(count >= 2, slope, np.nan)


def _average(a, geometric: bool):
    """(value, usable) of each row over its last axis (the seeds): the log of the mean (usable
    where the mean is > 0), or the mean of the logs (``geometric``: positive values only)."""
    if geometric:
        return np.log(a).mean(-1), np.ones(a.shape[:-1], dtype=bool)
    mean = a.mean(-1)
    with np.errstate(divide="ignore"):
        return np.log(np.where(mean > 0, mean, 1.0)), mean > 0


def _groups(ps, groups, geometric: bool, paired: int = 1):
    """The sizes as floats and the groups as float arrays (paired, S_p), checked."""
    ps = np.asarray(ps, dtype=np.float64)
    groups = [np.asarray(g, dtype=np.float64).reshape(paired, -1) for g in groups]
    if len(groups) != ps.size or ps.size < 2 or any(g.shape[-1] == 0 for g in groups):
        raise LazyrichError(f"values must have shape (len(ps) >= 2, seeds): one non-empty group of seeds per size; "
                         f"got {len(groups)} groups for {ps.size} sizes")
    if not all(np.isfinite(g).all() and (not geometric or (g > 0).all()) for g in groups):
        raise LazyrichError("values must be finite" + (" and positive for a log fit" if geometric else ""))
    return ps, groups


def _bootstrap_averages(groups, bootstrap: int, rng_seed: int, geometric: bool):
    """(value, usable), each (paired, resamples, P): every group's average over its seeds, drawn with
    replacement within the group (the same draw for paired rows). Equal groups take one draw of
    shape (resamples, P, S); unequal ones one draw each."""
    rng = np.random.default_rng(rng_seed)
    sizes = [g.shape[-1] for g in groups]
    if len(set(sizes)) == 1:
        drawn = rng.integers(0, sizes[0], size=(bootstrap, len(groups), sizes[0]))
        picks = [drawn[:, i] for i in range(len(groups))]
    else:
        picks = [rng.integers(0, n, size=(bootstrap, n)) for n in sizes]
    out = [_average(np.take(g, pk, axis=-1), geometric) for g, pk in zip(groups, picks)]
    return np.stack([v for v, _ in out], -1), np.stack([ok for _, ok in out], -1)


def power_law_fit(ps, groups, geometric: bool = False, bootstrap: int = 1000, rng_seed: int = 0,
                  level: float = LEVEL) -> dict:
    """Fit y ~ A p^k to the values of each size (``groups``: one array of seeds per p, or a table
    (len(ps), seeds)): {"exponent" k, "prefactor" A, "ci" (of k), "used_p"}.

    Sizes whose mean vanishes cannot enter a log fit and are left out (``used_p`` lists the others);
    exponent and ci are None when fewer than two sizes remain.
    """
    ps, groups = _groups(ps, groups, geometric)
    logp = np.log(ps)
    averages = [_average(g[0], geometric) for g in groups]
    y, ok = np.array([float(v) for v, _ in averages]), np.array([bool(u) for _, u in averages])
    if ok.sum() < 2:
        return {"exponent": None, "prefactor": None, "ci": None, "used_p": ps[ok].tolist()}
    c, k = _slopes(logp, y, ok)
    yb, okb = _bootstrap_averages(groups, bootstrap, rng_seed, geometric)
    kb = _slopes(logp, yb[0], okb[0] & ok)[1]
    return {"exponent": float(k), "prefactor": float(math.exp(c)), "ci": percentile_interval(kb[np.isfinite(kb)], level),
            "used_p": ps[ok].tolist()}


def power_law_difference(ps, values_a, values_b, bootstrap: int = 1000, rng_seed: int = 0,
                         level: float = LEVEL) -> dict:
    """k_a - k_b of y ~ A p^k fitted to the mean of each paired table (len(ps), seeds), column s of
    both from the same training set, with a paired bootstrap (the same seeds drawn for both).

    Sizes where either mean vanishes are left out; a resample whose mean vanishes at a size kept
    is dropped. Returns {"difference", "ci", "used_p"}."""
    a, b = (np.asarray(v, dtype=np.float64) for v in (values_a, values_b))
    if a.shape != b.shape or a.ndim != 2:
        raise LazyrichError(f"error tables must both have shape (len(ps), seeds); got {a.shape} and {b.shape}")
    ps, groups = _groups(ps, np.stack([a, b], 1), False, paired=2)
    logp = np.log(ps)
    y, ok = _average(np.stack([a, b]), False)  # (2, P)
    ok = ok.all(0)
    if ok.sum() < 2:
        return {"difference": None, "ci": None, "used_p": ps[ok].tolist()}
    point = _slopes(logp, y[0], ok)[1] - _slopes(logp, y[1], ok)[1]
    yb, okb = _bootstrap_averages(groups, bootstrap, rng_seed, False)  # (2, B, P)
    keep = (okb | ~ok).all(-1).all(0)
    diff = _slopes(logp, yb[0], ok)[1] - _slopes(logp, yb[1], ok)[1]
    return {"difference": float(point), "ci": percentile_interval(diff[keep], level), "used_p": ps[ok].tolist()}


def log_linear_fit(y, columns: dict, seeds, bootstrap: int = 2000, rng_seed: int = 0, level: float = LEVEL) -> dict:
    """log y = c + sum_j a_j log x_j by least squares, with a bootstrap over whole seeds.

    ``columns``: {exponent name: (variable name, x (n,))}, one x per row; a variable that takes a
    single value is not fitted. ``y`` must be positive (the caller drops the rows with y <= 0).
    Returns {"c", name: a or None, f"{name}_ci": [lo, hi] or [None, None], "n_rows", "n_seeds",
    "n_boot", "rms_log_residual"}.
    """
    logy = np.log(np.asarray(y, dtype=np.float64))
    fitted = [name for name, (_, x) in columns.items() if len(np.unique(x)) > 1]
    variables = [var for var, _ in columns.values()]
    if not fitted:
        raise LazyrichError(f"{' and '.join(variables)} each take a single value: there is no exponent to fit")
    design = np.column_stack([np.ones(len(logy))] +
                             [np.log(np.asarray(columns[n][1], dtype=np.float64)) for n in fitted])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise LazyrichError(f"log {' and log '.join(variables)} are collinear in these rows: the exponents are not "
                         "identifiable")
    coef = np.linalg.lstsq(design, logy, rcond=None)[0]
    seeds = np.asarray(seeds)
    uniq = np.unique(seeds)
    groups = [np.flatnonzero(seeds == s) for s in uniq]
    rng = np.random.default_rng(rng_seed)
    boot = []
    for _ in range(bootstrap if len(uniq) > 1 else 0):
        take = np.concatenate([groups[i] for i in rng.integers(len(uniq), size=len(uniq))])
        if np.linalg.matrix_rank(design[take]) == design.shape[1]:
            boot.append(np.linalg.lstsq(design[take], logy[take], rcond=None)[0])
    boot = np.array(boot).reshape(-1, design.shape[1])
    out = {"c": float(coef[0]), "n_rows": len(logy), "n_seeds": len(uniq), "n_boot": len(boot)}
    for name in columns:
        if name in fitted:
            j = 1 + fitted.index(name)
            out[name] = float(coef[j])
            out[f"{name}_ci"] = percentile_interval(boot[:, j], level) or [None, None]
        else:
            out[name], out[f"{name}_ci"] = None, [None, None]
    out["rms_log_residual"] = float(np.sqrt(np.mean((logy - design @ coef) ** 2)))
    return out
