"""Claims of one large gradient step (Ba et al. 2022, the second seed).

- ``one-step-spike`` (identity): the top left singular vector of the first gradient G_0 aligns with the
  teacher direction as derived (derive one-step-alignment), within the finite-size error measured here.
- ``one-step-risk`` (empirical): the paper's ordering of the risks. A small step (eta = Theta(1)) improves on
  the random features but stays above the best linear predictor; a large one (eta = Theta(sqrt h)) goes
  below it.
"""
from __future__ import annotations

import math

import numpy as np

from ...numerics.one_step import OneStepConfig, one_step
from ...numerics.stats import mean_interval
from ..claim import Outcome, claim, combine, verdict_interval, verdict_within
from ..plotting import figure


@claim("one-step-spike", "identity", """
    After one gradient step from the paper's initialisation, the first gradient G_0 carries a rank-one spike
    whose top left singular vector u_1 aligns with the single-index teacher direction beta*:
    |cos(u_1, beta*)| = mu_1* (mu_1*^2 + E[y^2] d/p)^(-1/2) in the proportional limit (ReLU teacher, p/d = 2
    and 5). The measured mean over seeds agrees within its finite-size error: three standard errors over
    seeds plus the distance between the limit and the finite-(d, p) formula.""")
def one_step_spike(ctx) -> Outcome:
    d = ctx.size(200, 800)
    seeds = tuple(range(ctx.seed, ctx.seed + ctx.size(6, 8)))
    rows = []
    for ratio in (2, 5):
        cfg = OneStepConfig(d=d, p=ratio * d, h=d, teacher="relu", ptest=2)
        out = one_step(cfg, seeds, risks=False)
        vals = [r["spike_cosine"] for r in out["runs"]]
        m, lo, hi = mean_interval(vals)
        se = float(np.std(vals, ddof=1) / math.sqrt(len(vals)))
        pred = ctx.perturbed("one-step-spike", out["predicted_cosine"])
        tol = 3 * se + abs(out["predicted_cosine_finite"] - out["predicted_cosine"])
        rows.append({"p_over_d": ratio, "measured": m, "ci": [lo, hi], "predicted": pred,
                     "predicted_finite": out["predicted_cosine_finite"], "tolerance": tol,
                     "verdict": verdict_within(m, pred, tol), "values": vals})
    verdict = combine(r["verdict"] for r in rows)
    path = ctx.figure("one-step-spike")
    from ...theory import one_step as T

    curve = T.predicted_alignment().subs({T.mu1: 0.5, T.norm2: 0.5, T.noise: 0})
    with figure(path) as ax:
        psi = np.linspace(0.2, 8, 100)
        ax.plot(psi, [float(curve.subs(T.psi, v)) for v in psi], "-", label="derived (proportional limit)")
        for r in rows:
            ax.errorbar([r["p_over_d"]], [r["measured"]], yerr=[[r["measured"] - r["ci"][0]], [r["ci"][1] - r["measured"]]],
                        fmt="o", color="k")
        ax.set_xlabel("p/d")
        ax.set_ylabel("|cos(u_1, beta*)|")
        ax.set_title(f"ReLU teacher, d = h = {d}, {len(seeds)} seeds", fontsize=9)
        ax.legend(fontsize=8)
    summary = "; ".join(f"p/d = {r['p_over_d']}: measured {r['measured']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}], "
                        f"predicted {r['predicted']:.4f} (finite d: {r['predicted_finite']:.4f}), tolerance "
                        f"{r['tolerance']:.4f}" for r in rows)
    return Outcome(verdict, [r["measured"] for r in rows], [r["predicted"] for r in rows],
                   [r["tolerance"] for r in rows], str(path), f"d = h = {d}, {len(seeds)} seeds. " + summary,
                   {"rows": rows})


@claim("one-step-risk", "empirical", """
    Ba et al.: ridge regression on the features after one small step (eta = Theta(1)) improves on the initial
    random features but cannot beat the best linear predictor on the input; after a large step
    (eta = Theta(sqrt h)) it can, for suitable teachers. Measured for the ReLU and tanh teachers at p/d = 2,
    against the population risk of the best linear predictor (derived) and, beside it, the linear ridge fitted
    on the same sample.""")
def one_step_risk(ctx) -> Outcome:
    d = ctx.size(150, 600)
    seeds = tuple(range(ctx.seed, ctx.seed + ctx.size(3, 6)))
    steps = ctx.size((("const", 1.0), ("sqrt-h", 1.0)), (("const", 1.0), ("const", 5.0), ("sqrt-h", 0.5),
                                                         ("sqrt-h", 1.0), ("sqrt-h", 2.0)))
    rows = []
    for teacher in ("relu", "tanh"):
        for scaling, eta in steps:
            cfg = OneStepConfig(d=d, p=2 * d, h=d, eta=eta, eta_scaling=scaling, teacher=teacher, ptest=ctx.size(2000, 4000))
            out = one_step(cfg, seeds)
            rows.append({"teacher": teacher, "scaling": scaling, "eta": eta, "eta_effective": cfg.eta_effective,
                         "risk_linear": out["risk_linear"],
                         **{k: [r[k] for r in out["runs"]] for k in ("risk_random_features", "risk_after_step",
                                                                    "risk_linear_ridge", "singular_ratio")}})
    parts = {}
    for r in rows:
        gain = np.array(r["risk_random_features"]) - np.array(r["risk_after_step"])
        over_lin = np.array(r["risk_after_step"]) - r["risk_linear"]
        g, o = mean_interval(gain), mean_interval(over_lin)
        key = f"{r['teacher']} {r['scaling']} eta={r['eta']:g}"
        if r["scaling"] == "const" and r["eta"] == 1.0:  # small step: better than RF, not better than linear
            parts[key + ": improves on RF"] = verdict_interval(g[1], g[2], 0.0, above=True)
            parts[key + ": above linear"] = verdict_interval(o[1], o[2], 0.0, above=True)
        if r["scaling"] == "sqrt-h":  # large step: below the best linear predictor
            parts[key + ": below linear"] = verdict_interval(o[1], o[2], 0.0, above=False)
        r.update({"gain_over_rf": g, "excess_over_linear": o})
    small = [v for k, v in parts.items() if "const" in k]
    large = [v for k, v in parts.items() if "sqrt-h" in k]
    # the paper's statement for the large step is "for certain teachers": one teacher going below suffices
    verdict = combine(small + (["confirmed"] if "confirmed" in large else large[:1] or ["inconclusive"]))
    path = ctx.figure("one-step-risk")
    with figure(path, 1, 2, size=(11, 4)) as axes:
        for ax, teacher in zip(axes, ("relu", "tanh")):
            sel = [r for r in rows if r["teacher"] == teacher]
            x = [r["eta_effective"] for r in sel]
            for key, label in (("risk_after_step", "after the step"), ("risk_random_features", "random features"),
                               ("risk_linear_ridge", "linear ridge (same sample)")):
                ax.semilogx(x, [np.mean(r[key]) for r in sel], "o-", label=label)
            ax.axhline(sel[0]["risk_linear"], color="k", ls=":", label="best linear (population)")
            ax.set_xlabel("effective step eta_eff (W_1 = W_0 + eta_eff sqrt(h) G_0)")
            ax.set_ylabel("test risk")
            ax.set_title(f"{teacher} teacher, d = h = {d}, p = {2 * d}", fontsize=9)
            ax.legend(fontsize=7)
    lines = [f"{r['teacher']} eta_eff {r['eta_effective']:.3g}: RF {np.mean(r['risk_random_features']):.4f}, after "
             f"{np.mean(r['risk_after_step']):.4f}, linear ridge {np.mean(r['risk_linear_ridge']):.4f}, best linear "
             f"{r['risk_linear']:.4f}" for r in rows]
    return Outcome(verdict, parts, "small: RF > after > linear; large: after < linear", "95 % intervals over seeds",
                   str(path), f"d = h = {d}, p = {2 * d}, {len(seeds)} seeds. " + "; ".join(lines) + f". Parts: {parts}.",
                   {"rows": rows, "parts": parts})
