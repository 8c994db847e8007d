"""Attractor counts (issue 3, item 5): how many distinct stable equilibria the h neurons of a
freshly initialised network reach, as a function of p, h and d.

Early in training every point is in the hinge loss, g = y, and each neuron follows the fixed field
of its signs (sign b, sign beta) (notes/fixed_points.md). A network initialised as in the talk
(omega, b, beta standard normal) has four classes of neurons, one per pair of signs, each with its
own field and its own equilibria. A neuron settles at a stable equilibrium of its class's field,
or goes to the origin (b -> 0), dies (no point active) or escapes. A(h) is the number of distinct
stable equilibria, over the four classes, that at least one of the h neurons reaches (basins.py
integrates them and assigns each endpoint to an equilibrium within 1e-3). The networks of width
h are the first h neurons of one network of the largest width, so A(h) never decreases with h on
a seed. The h -> infinity limit is the number of stable equilibria: each has an open basin, which
the initial distribution of z (positive density everywhere) reaches with positive probability.

Fit: log A = c + a log p + b log h by least squares over all (p, h, seed) rows with A > 0; the
confidence intervals come from a bootstrap over seeds (whole seeds resampled with replacement).
The talk's preliminary claim is A ~ p sqrt(h) (a = 1, b = 1/2) until it saturates at A ~ h.
"""
from __future__ import annotations

import numpy as np

from ..theory.derived import derive
from .basins import basins
from .equilibria import find_equilibria
from .neuron_field import NeuronField

SIGNS = ((1, 1), (1, -1), (-1, 1), (-1, -1))  # (sign b, sign beta): the four classes of neurons


def network_neurons(d: int, h: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z (h, d), sign b and sign beta of the neurons of network ``seed`` (init_params: standard normal)."""
    from .network import init_params

    P = init_params(h, d, seed)
    omega, b, beta = (t.detach().cpu().numpy() for t in P.tuple())
    z = np.asarray(derive("z-position").compile("numpy", "z")(omega=omega, b=b))
    return z, np.sign(b).astype(int), np.sign(beta).astype(int)


def reached(X, y, h: int, seed: int, device: str = "cpu") -> dict:
    """Integrate the h neurons of network ``seed`` on the data (X, y) with g = y.

    Returns ``label`` (h,): for each neuron, a global id of the stable equilibrium it reaches
    (ids are distinct across the four classes), or -1; ``stable``: the number of stable
    equilibria (the h -> infinity limit of A); ``equilibria``; ``status``: counts of the
    endpoint statuses; ``complete``: whether every class's enumeration is guaranteed complete.
    """
    X = np.asarray(X, dtype=np.float64)
    if int(h) != h or h < 1:
        raise ValueError(f"h must be a positive integer, got {h!r}")
    z, sb, sbeta = network_neurons(X.shape[1], int(h), seed)
    label = np.full(h, -1)
    out = {"stable": 0, "equilibria": 0, "complete": True, "status": {}}
    for s_b, s_beta in SIGNS:
        idx = np.flatnonzero((sb == s_b) & (sbeta == s_beta))
        f = NeuronField(X, y, s_b, s_beta)
        fp = find_equilibria(f, polish=False)
        stable = np.array([e.stable for e in fp.equilibria], dtype=bool)
        if len(idx):
            B = basins(f, fp.equilibria, z0=z[idx], device=device)
            hit = (B.assigned >= 0) & stable[np.maximum(B.assigned, 0)] if len(stable) else np.zeros(len(idx), bool)
            label[idx[hit]] = out["equilibria"] + B.assigned[hit]  # offset: ids distinct across classes
            for k, v in B.counts.items():
                out["status"][k] = out["status"].get(k, 0) + v
        out["stable"] += int(stable.sum())
        out["equilibria"] += len(fp.equilibria)
        out["complete"] &= bool(fp.complete)
    out["label"] = label
    return out


def attractor_counts(label, hs) -> list[int]:
    """A(h) for the first h neurons, for each h in ``hs``."""
    label = np.asarray(label)
    for h in hs:
        if not 1 <= h <= len(label):
            raise ValueError(f"h = {h} must lie in [1, {len(label)}] (the neurons integrated)")
    return [int(len(np.unique(label[:h][label[:h] >= 0]))) for h in hs]


def count_table(model: str, d: int, ps, hs, seeds, d_par: int | None = None, device: str = "cpu",
                progress=None, store=None, workers: int = 1) -> list[dict]:
    """One row per (p, seed, h): A, the number of stable equilibria and of all equilibria, and
    the fraction of the h neurons that reach a stable equilibrium.

    Each (p, seed) is a run of the sweep machinery (job kind ``attractor-count``, h = the largest
    h; a smaller h takes the first h of its neurons, from the run's saved labels): with ``store``
    (a directory) the runs are saved as they finish and a study resumes, or grows, without
    redoing any; ``workers`` processes run them; ``progress(row)`` is called on each row.
    """
    from ..sweep import make_run, run_many

    ps, hs, seeds = _ints(ps, "p"), _ints(hs, "h"), _ints(seeds, "seed", low=0)
    cells = [(p, seed) for p in ps for seed in seeds]
    runs = [make_run("attractor-count", {"model": model, "d": d, "p": p, "seed": seed, "h": max(hs), "d_par": d_par})
            for p, seed in cells]
    done = run_many(runs, store, name="attractor-count", load_arrays=True, device=str(device), workers=workers,
                    progress=False)
    rows = []
    for (p, seed), run in zip(cells, runs):
        res, label = done[run.key]["result"], done[run.key]["arrays"]["label"]
        for h, A in zip(hs, attractor_counts(label, hs)):
            rows.append({"model": model, "d": d, "p": p, "h": h, "seed": seed, "A": A, "stable": res["stable"],
                         "equilibria": res["equilibria"], "fraction_at_stable": float((label[:h] >= 0).mean()),
                         "complete": res["complete"]})
            if progress is not None:
                progress(rows[-1])
    return rows


def _ints(values, name, low=1) -> list[int]:
    values = list(values)
    if not values:
        raise ValueError(f"no value of {name} given")
    for v in values:
        if int(v) != v or v < low:
            raise ValueError(f"every {name} must be an integer >= {low}, got {v!r}")
    return sorted({int(v) for v in values})


def fit_exponents(rows, key: str = "A", n_boot: int = 2000, seed: int = 0) -> dict:
    """Least squares log A = c + a log p + b log h over the rows with A > 0, and 95% bootstrap
    intervals over seeds. An exponent whose variable takes a single value is not fitted (None)."""
    rows = [r for r in rows if r[key] > 0]
    if not rows:
        raise ValueError(f"no row with {key} > 0 to fit")
    P, H = (np.log([r[k] for r in rows]) for k in ("p", "h"))
    logA = np.log([r[key] for r in rows])
    cols = [name for name, v in (("a", P), ("b", H)) if len(np.unique(v)) > 1]
    if not cols:
        raise ValueError("p and h each take a single value: there is no exponent to fit")
    design = np.column_stack([np.ones(len(rows))] + [P if c == "a" else H for c in cols])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise ValueError("log p and log h are collinear in these rows: the exponents are not identifiable")
    coef = np.linalg.lstsq(design, logA, rcond=None)[0]
    seeds = np.array([r["seed"] for r in rows])
    uniq = np.unique(seeds)
    groups = [np.flatnonzero(seeds == s) for s in uniq]
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot if len(uniq) > 1 else 0):
        take = np.concatenate([groups[i] for i in rng.integers(len(uniq), size=len(uniq))])
        if np.linalg.matrix_rank(design[take]) == design.shape[1]:
            boot.append(np.linalg.lstsq(design[take], logA[take], rcond=None)[0])
    boot = np.array(boot).reshape(-1, design.shape[1])
    out = {"c": float(coef[0]), "n_rows": len(rows), "n_seeds": len(uniq), "n_boot": len(boot)}
    for name in ("a", "b"):
        if name in cols:
            j = 1 + cols.index(name)
            ci = np.percentile(boot[:, j], [2.5, 97.5]).tolist() if len(boot) else [None, None]
            out[name], out[f"{name}_ci"] = float(coef[j]), ci
        else:
            out[name], out[f"{name}_ci"] = None, [None, None]
    resid = logA - design @ coef
    out["rms_log_residual"] = float(np.sqrt(np.mean(resid ** 2)))
    return out


def unsaturated(rows, frac: float = 0.5) -> list[dict]:
    """The rows far from both ceilings: A below ``frac`` of min(h, number of stable equilibria)."""
    return [r for r in rows if r["A"] < frac * min(r["h"], r["stable"])]


def judge_claim(rows) -> dict:
    """Fits on all rows and on the unsaturated ones, and the verdict on A ~ p sqrt(h), saturating at A ~ h."""
    out = {"fit_all": _try_fit(rows), "fit_unsaturated": _try_fit(unsaturated(rows))}
    big_h = max(r["h"] for r in rows)
    top = [r for r in rows if r["h"] == big_h]
    out["fit_stable"] = _try_fit(top, key="stable")  # the h -> infinity limit against p
    out["at_largest_h"] = {"h": big_h, "mean_A": float(np.mean([r["A"] for r in top])),
                           "mean_stable": float(np.mean([r["stable"] for r in top])),
                           "mean_A_over_stable": float(np.mean([r["A"] / max(r["stable"], 1) for r in top])),
                           "mean_A_over_h": float(np.mean([r["A"] / r["h"] for r in top]))}
    out["verdict"] = _verdict(out)
    return out


def _try_fit(rows, key="A"):
    try:
        return fit_exponents(rows, key=key)
    except ValueError as exc:
        return {"error": str(exc)}


def _inside(value, ci):
    return ci[0] is not None and ci[0] <= value <= ci[1]


def _verdict(j) -> str:
    fit = j["fit_unsaturated"] if "error" not in j["fit_unsaturated"] else j["fit_all"]
    which = "unsaturated rows" if fit is j["fit_unsaturated"] else "all rows"
    if "error" in fit:
        return f"no fit: {fit['error']}"
    parts = []
    for name, claimed, var in (("a", 1.0, "p"), ("b", 0.5, "h")):
        if fit[name] is None:
            parts.append(f"{var} not varied")
        else:
            lo, hi = fit[f"{name}_ci"]
            ok = "consistent with" if _inside(claimed, fit[f"{name}_ci"]) else "NOT consistent with"
            parts.append(f"{name} = {fit[name]:.2f} [{lo:.2f}, {hi:.2f}] ({var} exponent; {ok} the claimed {claimed:g})"
                         if lo is not None else f"{name} = {fit[name]:.2f} (one seed: no interval)")
    top = j["at_largest_h"]
    sat = ("saturates at the number of stable equilibria (A / stable = {:.2f} at h = {}), far below h (A / h = {:.3f})"
           if top["mean_A_over_stable"] > 0.5 and top["mean_A_over_h"] < 0.25 else
           "A / stable = {:.2f} at h = {}, A / h = {:.3f}").format(top["mean_A_over_stable"], top["h"], top["mean_A_over_h"])
    return f"fit on the {which}: " + "; ".join(parts) + f". Saturation: {sat}."


def study(model: str, d: int, ps, hs, seeds, d_par: int | None = None, device: str = "cpu", progress=None,
          store=None, workers: int = 1) -> dict:
    """The table, the fits and the verdict (count_table + judge_claim)."""
    rows = count_table(model, d, ps, hs, seeds, d_par=d_par, device=device, progress=progress, store=store,
                       workers=workers)
    return {"model": model, "d": d, "rows": rows, **judge_claim(rows)}


def plot(result: dict, path):
    """A against h (log-log), one line per p (mean over seeds), with the ceilings h and the stable count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    hs = sorted({r["h"] for r in rows})
    for p in sorted({r["p"] for r in rows}):
        mean = [np.mean([r["A"] for r in rows if r["p"] == p and r["h"] == h]) for h in hs]
        stable = np.mean([r["stable"] for r in rows if r["p"] == p])
        line, = ax.plot(hs, mean, "o-", label=f"p = {p}")
        ax.axhline(stable, color=line.get_color(), ls=":", lw=1)
    ax.plot(hs, hs, "k--", lw=1, label="A = h")
    ax.set(xscale="log", yscale="log", xlabel="h (neurons)", ylabel="A (stable equilibria reached)",
           title=f"{result['model']}, d = {result['d']} (dotted: stable equilibria)")
    ax.set_xticks(hs, [str(h) for h in hs], minor=False)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
