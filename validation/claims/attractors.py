"""The `attractors` claim: neurons collapse onto the predicted stable equilibria; how many there are.

Two measurements:

1. Collapse, in simulated training. Early in training every point is in the hinge loss (g = y)
   and each neuron follows the fixed field of its signs (sign b, sign beta). numerics.equilibria
   predicts that field's stable equilibria, regular and sliding, for the training set. The
   simulator (feature regime) records every neuron's z; at the last checkpoint before any
   margin reaches 1 (after which g != y and the field changes) we measure the fraction of active
   neurons within a tolerance of a stable equilibrium of their own class, against the same
   fraction at initialisation (the chance level).
2. Counts (numerics.attractor_count): the number A of distinct stable equilibria that the h
   neurons of a network reach, against p and h, fitted as A ~ p^a h^b and compared with the
   talk's preliminary A ~ p sqrt(h), saturating at A ~ h.
"""
from __future__ import annotations

import numpy as np

from ...numerics.data import make
from ...numerics.fixed_points.equilibria import find_equilibria
from ...numerics.fixed_points.neuron_field import NeuronField
from ...studies.attractor_count import study
from ...sweep import make_run, run_many
from ..claim import Outcome, claim
from ..plotting import figure

TOLERANCES = (1e-2, 1e-1)  # distances to the nearest stable equilibrium, in units of max |x|


def _stable_by_class(X, y) -> dict:
    out = {}
    for sb in (1, -1):
        for sbeta in (1, -1):
            fp = find_equilibria(NeuronField(X, y, sb, sbeta), polish=False)
            out[sb, sbeta] = np.array([e.z for e in fp.equilibria if e.stable]).reshape(-1, X.shape[1])
    return out


def _distances(z, b, beta, stable, scale) -> np.ndarray:
    """Each neuron's distance to the nearest stable equilibrium of its class (inf if none)."""
    d = np.full(len(z), np.inf)
    for n in range(len(z)):
        if not (np.isfinite(z[n]).all() and b[n] != 0 and beta[n] != 0):
            continue
        E = stable[int(np.sign(b[n])), int(np.sign(beta[n]))]
        if len(E):
            d[n] = np.linalg.norm(E - z[n], axis=1).min() / scale
    return d


def _collapse_runs(ctx, alphas, seeds) -> list[dict]:
    """Train the networks (one sweep run per (alpha, seed), kept in the report folder) and measure,
    for each, the fractions of active neurons near a stable equilibrium at init and at the end of
    the g = y phase (the last checkpoint with every margin below 1)."""
    p, h = ctx.size((32, 128), (256, 1024))
    cells = [(a, s) for a in alphas for s in seeds]
    runs = [make_run("simulate", dict(data="sphere", d=2, p=p, ptest=0, h=h, alpha=a, seed=s, data_seed=s,
                                      t_first=1e-2 * a, t_max=40 * a, checkpoints=24, track_neurons=h, loss="hinge",
                                      **ctx.training()))
            for a, s in cells]
    done = run_many(runs, ctx.store("attractor-collapse"), name="attractor-collapse", load_arrays=True,
                    device=ctx.device, workers=ctx.workers, progress=False)
    return [_collapse(done[run.key]["arrays"], make("sphere", p, 2, s), a, s) for run, (a, s) in zip(runs, cells)]


def _collapse(a: dict, train, alpha: float, seed: int) -> dict:
    """The collapse measures of one network from its arrays (those of a simulate run)."""
    stable = _stable_by_class(train.X, train.y)
    scale = float(np.abs(train.X).max())
    margins = a["margins"]
    early = [k for k in range(margins.shape[0]) if np.isfinite(margins[k]).all() and margins[k].max() < 1]
    k_end = early[-1]
    active = np.unpackbits(a["patterns"], axis=2)[:, :, :train.p].any(2)  # (K, h)
    out = {"alpha": alpha, "seed": seed, "t_end": float(a["t"][k_end]), "stable": int(sum(map(len, stable.values())))}
    for label, k in (("init", 0), ("end", k_end)):
        dist = _distances(a["z"][k], a["b"][k], a["beta"][k], stable, scale)[active[k]]
        out[label] = {f"within_{tol:g}": float(np.mean(dist < tol)) for tol in TOLERANCES}
        out[label]["active"] = int(active[k].sum())
        out[f"z_{label}"] = a["z"][k][active[k]]
    out["stable_z"] = np.concatenate([v for v in stable.values() if len(v)])
    return out


def _inside(value, ci):
    return ci[0] is not None and ci[0] <= value <= ci[1]


def count_verdict(j) -> str:
    """The verdict in words on A ~ p sqrt(h), saturating at A ~ h, from the study's fits
    (lazyrich.studies.attractor_count.fits): exponents against the claimed 1 and 1/2, and where A
    saturates."""
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


@claim("attractors", "empirical", """
    In the feature regime, early in training (every point still in the hinge loss), the neurons'
    z collapse onto the stable equilibria, regular and sliding, predicted for the training set;
    the number of attractors A reached by h neurons grows like A ~ p sqrt(h) until it saturates
    at A ~ h.""")
def attractors(ctx) -> Outcome:
    seeds = ctx.size((0, 1), tuple(range(4)))
    alphas = ctx.size((1e-2,), (1e-2, 1e-3))
    runs = _collapse_runs(ctx, alphas, seeds)
    near = {lab: float(np.mean([r[lab]["within_0.1"] for r in runs])) for lab in ("init", "end")}
    tight = {lab: float(np.mean([r[lab]["within_0.01"] for r in runs])) for lab in ("init", "end")}
    collapse_ok = all(r["end"]["within_0.1"] > 0.5 and r["end"]["within_0.1"] > 2 * r["init"]["within_0.1"]
                      for r in runs)
    collapse_bad = any(r["end"]["within_0.1"] <= r["init"]["within_0.1"] for r in runs)
    ps, hs, cseeds = ctx.size(((8, 16, 32), (8, 32, 128), (0, 1, 2)),
                              ((16, 32, 64, 128), (16, 64, 256, 1024), tuple(range(6))))
    counts = study("sphere", 2, ps, hs, cseeds, device=ctx.device, store=ctx.store("attractor-count"),
                   workers=ctx.workers)
    fit = counts["fit_unsaturated"] if "error" not in counts["fit_unsaturated"] else counts["fit_all"]
    law = "inconclusive"
    if "error" not in fit and fit["a_ci"][0] is not None and fit["b_ci"][0] is not None:
        a_ok = fit["a_ci"][0] <= 1.0 <= fit["a_ci"][1]
        b_ok = fit["b_ci"][0] <= 0.5 <= fit["b_ci"][1]
        law = "confirmed" if a_ok and b_ok else "refuted"
    top = counts["at_largest_h"]
    saturates_at_h = top["mean_A_over_h"] > 0.5
    # the verdict: collapse (part 1) and the count law (part 2) must both hold for "confirmed"
    if collapse_bad or law == "refuted":
        verdict = "refuted"
    elif collapse_ok and law == "confirmed":
        verdict = "confirmed"
    else:
        verdict = "inconclusive"
    path = ctx.figure("attractors")
    with figure(path, 1, 3, (15, 4.5)) as axes:
        r = runs[0]
        axes[0].plot(*r["z_init"].T, ".", color="0.7", ms=4, label="active neurons at init")
        axes[0].plot(*r["z_end"].T, ".", color="tab:blue", ms=4, label=f"at t = {r['t_end']:.3g} (margins < 1)")
        axes[0].plot(*r["stable_z"].T, "x", color="tab:red", ms=8, mew=2, label="predicted stable equilibria")
        lim = 2.5 * np.abs(r["stable_z"]).max() if len(r["stable_z"]) else 3
        axes[0].set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=f"sphere d = 2, alpha = {r['alpha']:g}")
        axes[0].legend(fontsize=7)
        for lab, colour in (("init", "0.6"), ("end", "tab:blue")):
            axes[1].bar([f"{lab}\n<{tol:g}" for tol in TOLERANCES], [np.mean([q[lab][f"within_{tol:g}"] for q in runs])
                                                                    for tol in TOLERANCES], color=colour)
        axes[1].set(ylabel="fraction of active neurons", title="near a predicted stable equilibrium (units of max|x|)")
        hs_sorted = sorted({q["h"] for q in counts["rows"]})
        for p in sorted({q["p"] for q in counts["rows"]}):
            mean = [np.mean([q["A"] for q in counts["rows"] if q["p"] == p and q["h"] == h]) for h in hs_sorted]
            axes[2].plot(hs_sorted, mean, "o-", label=f"p = {p}")
        axes[2].plot(hs_sorted, hs_sorted, "k--", lw=1, label="A = h")
        axes[2].set(xscale="log", yscale="log", xlabel="h", ylabel="A", title="attractors reached (g = y)")
        axes[2].legend(fontsize=7)
    exps = f"{len(cseeds)} seeds, p = {list(ps)}, h = {list(hs)}: " + (
        "a = n/a, b = n/a" if "error" in fit else
        f"a = {fit['a']:.2f} {np.round(fit['a_ci'], 2).tolist()}, b = {fit['b']:.2f} {np.round(fit['b_ci'], 2).tolist()}")
    summary = (f"Collapse ({len(runs)} runs, sphere d = 2): active neurons within 0.1 max|x| of a predicted stable "
               f"equilibrium {near['init']:.2f} at init -> {near['end']:.2f} at the end of the g = y phase; within "
               f"0.01: {tight['init']:.2f} -> {tight['end']:.2f} (the margins reach 1 before most neurons arrive: a "
               f"partial collapse). Counts A ~ p^a h^b: {exps} against the claimed a = 1, b = 0.5 ({law}); at "
               f"h = {top['h']} A is {top['mean_A_over_stable']:.2f} of the stable equilibria and "
               f"{top['mean_A_over_h']:.3f} of h: it saturates at the number of stable equilibria, "
               f"{'as' if saturates_at_h else 'not'} at A ~ h.")
    measured = {"collapse_within_0.1": near, "collapse_within_0.01": tight, "count_fit": fit,
                "count_at_largest_h": top, "count_law": law}
    details = {"collapse_runs": [{k: v for k, v in q.items() if not k.startswith(("z_", "stable_z"))} for q in runs],
               "count_rows": counts["rows"], "count_verdict": count_verdict(counts)}
    return Outcome(verdict, measured, {"count_exponents": {"a": 1.0, "b": 0.5}, "saturation": "A ~ h"},
                   {"collapse": "> 0.5 within 0.1 max|x| and twice the initial fraction, every run",
                    "exponents": "claimed value inside the 95 % bootstrap interval"}, str(path), summary, details)
