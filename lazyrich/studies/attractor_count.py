"""The attractor-count study: A, the distinct stable equilibria reached by h neurons, against p and h.

Each (p, seed) is a run of the sweep machinery (job kind ``attractor-count``: the neurons of one
network integrated on one training set with g = y, numerics.fixed_points.attractor_count); the
table has one row per (p, seed, h), the fits are log A = c + a log p + b log h by least squares
over the rows with A > 0, with 95 % bootstrap intervals over whole seeds (numerics.stats). The
verdict on the talk's A ~ p sqrt(h) (a = 1, b = 1/2) until it saturates at A ~ h is the
``attractors`` claim's (validation).
"""
from __future__ import annotations

import numpy as np

from ..numerics.fixed_points.attractor_count import attractor_counts
from ..numerics.stats import log_linear_fit
from ..sweep import make_run, run_many
from ..theory.errors import LazyrichError


def count_table(model: str, d: int, ps, hs, seeds, d_par: int | None = None, device: str = "cpu",
                progress=None, store=None, workers: int = 1) -> list[dict]:
    """One row per (p, seed, h): A, the number of stable equilibria and of all equilibria, and
    the fraction of the h neurons that reach a stable equilibrium.

    Each (p, seed) is a run of the sweep machinery (job kind ``attractor-count``, h = the largest
    h; a smaller h takes the first h of its neurons, from the run's saved labels): with ``store``
    (a directory) the runs are saved as they finish and a study resumes, or grows, without
    redoing any; ``workers`` processes run them; ``progress(row)`` is called on each row.
    """
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
        raise LazyrichError(f"no value of {name} given")
    for v in values:
        if int(v) != v or v < low:
            raise LazyrichError(f"every {name} must be an integer >= {low}, got {v!r}")
    return sorted({int(v) for v in values})


def fit_exponents(rows, key: str = "A", n_boot: int = 2000, seed: int = 0) -> dict:
    """Least squares log A = c + a log p + b log h over the rows with A > 0, and 95% bootstrap
    intervals over seeds. An exponent whose variable takes a single value is not fitted (None)."""
    rows = [r for r in rows if r[key] > 0]
    if not rows:
        raise LazyrichError(f"no row with {key} > 0 to fit")
    columns = {"a": ("p", [r["p"] for r in rows]), "b": ("h", [r["h"] for r in rows])}
    return log_linear_fit([r[key] for r in rows], columns, [r["seed"] for r in rows], bootstrap=n_boot, rng_seed=seed)


def unsaturated(rows, frac: float = 0.5) -> list[dict]:
    """The rows far from both ceilings: A below ``frac`` of min(h, number of stable equilibria)."""
    return [r for r in rows if r["A"] < frac * min(r["h"], r["stable"])]


def fits(rows) -> dict:
    """Fits on all rows and on the unsaturated ones, of the stable count at the largest h, and the
    means at the largest h."""
    out = {"fit_all": _try_fit(rows), "fit_unsaturated": _try_fit(unsaturated(rows))}
    big_h = max(r["h"] for r in rows)
    top = [r for r in rows if r["h"] == big_h]
    out["fit_stable"] = _try_fit(top, key="stable")  # the h -> infinity limit against p
    out["at_largest_h"] = {"h": big_h, "mean_A": float(np.mean([r["A"] for r in top])),
                           "mean_stable": float(np.mean([r["stable"] for r in top])),
                           "mean_A_over_stable": float(np.mean([r["A"] / max(r["stable"], 1) for r in top])),
                           "mean_A_over_h": float(np.mean([r["A"] / r["h"] for r in top]))}
    return out


def _try_fit(rows, key="A"):
    try:
        return fit_exponents(rows, key=key)
    except ValueError as exc:
        return {"error": str(exc)}


def study(model: str, d: int, ps, hs, seeds, d_par: int | None = None, device: str = "cpu", progress=None,
          store=None, workers: int = 1) -> dict:
    """The table and its fits (count_table + fits)."""
    rows = count_table(model, d, ps, hs, seeds, d_par=d_par, device=device, progress=progress, store=store,
                       workers=workers)
    return {"model": model, "d": d, "rows": rows, **fits(rows)}


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
