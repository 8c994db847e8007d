"""The claim of L2-regularised ReLU networks (Jacot 2022, the second seed): ``l2-sparsity``.

Identity: on the tight example (X = I_N, targets Y_N) the trained minimum has the derived cost,
cost/lam = N^2 - 2 lam N (N - 1) -> N^2 (derive l2-representation-cost), and its cost is carried by the
N^2/4 derived edge directions. Bound: on scalar-label data (stripe, sphere) the distinct neurons at a
local minimum number at most N(N + 1). Findings: how they compare with N + 1 (Caratheodory: some
minimiser needs no more, for one output) and with the talk's attractor count on the same data.
"""
from __future__ import annotations

import numpy as np

from ...numerics import l2_sparsity as L
from ...numerics.data.models import make
from ..claim import Outcome, claim, combine, verdict_within
from ..plotting import figure

# relative to N^2, on cost/lam: L-BFGS stops within ~1e-9 of the minimal loss, ~1e-5 in cost/lam at lam = 1e-4
COST_TOL = 1e-6


def _tight(ctx, sizes, lams, seeds) -> list[dict]:
    rows = []
    for n in sizes:
        problem = L.tight_example(n)
        for lam in lams:
            out = L.l2_sparsity(problem, L.L2Config(h=ctx.size(48, 96), lam=lam), seeds)
            pred = ctx.perturbed("l2-sparsity", out["predicted_cost_over_lambda"])
            pred_dirs = ctx.perturbed("l2-sparsity", out["predicted_directions"])
            costs, dirs = out["cost_over_lambda"]["values"], out["directions"]["values"]
            worst = max(abs(c - pred) for c in costs) / (n * n)
            rows.append({"N": n, "lam": lam, "cost_over_lambda": costs, "predicted": pred, "limit": n * n,
                         "directions": dirs, "predicted_directions": pred_dirs,
                         "share_near_predicted": [r["share_near_predicted"] for r in out["runs"]],
                         "verdict_cost": verdict_within(worst, 0.0, COST_TOL),
                         "verdict_directions": "confirmed" if all(d == pred_dirs for d in dirs) else "refuted"})
    return rows


def _data(ctx, models, sizes, lam, seeds) -> list[dict]:
    rows = []
    for model in models:
        for n in sizes:
            ds = make(model, n, 5, ctx.seed)
            problem = L.data_problem(ds.X, ds.y, f"{model} p={n}")
            h = min(2 * n * (n + 1), 512)
            attractors = not ctx.quick or (model, n) == (models[0], sizes[0])
            out = L.l2_sparsity(problem, L.L2Config(h=h, lam=lam), seeds, attractors=attractors)
            dirs = out["directions"]["values"]
            rows.append({"model": model, "N": n, "h": h, "lam": lam, "directions": dirs,
                         "patterns": out["patterns"]["values"], "distinct_neurons": out["distinct_neurons"]["values"],
                         "bound_one_output": out["bound_one_output"], "bound": out["bound"],
                         "attractors": out.get("attractors"),
                         "verdict": "confirmed" if max(dirs + out["patterns"]["values"]) <= out["bound"] else "refuted"})
    return rows


@claim("l2-sparsity", "identity", """
    Jacot (2022): an L2-regularised shallow ReLU network at a local minimum needs at most N(N + 1) distinct
    neurons, and the tight example X = I_N with targets Y_N needs N^2/4. Measured: on the tight example the
    trained cost over lambda equals the derived N^2 - 2 lambda N (N - 1) (to 1e-6 N^2) and the cost is carried
    by exactly the N^2/4 edge directions; on stripe and sphere data (one output) the distinct neurons and
    activation patterns number at most N(N + 1). Beside them, N + 1 and the talk's attractor count on the
    same data (findings).""")
def l2_sparsity(ctx) -> Outcome:
    seeds = tuple(range(ctx.seed, ctx.seed + ctx.size(1, 4)))
    tight = _tight(ctx, ctx.size((4,), (4, 6)), ctx.size((1e-2, 1e-3), (1e-2, 1e-3, 1e-4)), seeds)
    data = _data(ctx, ctx.size(("stripe",), ("stripe", "sphere")), ctx.size((8,), (8, 16)), ctx.size(1e-3, 1e-4), seeds)
    verdict = combine([r["verdict_cost"] for r in tight] + [r["verdict_directions"] for r in tight]
                      + [r["verdict"] for r in data])
    path = ctx.figure("l2-sparsity")
    with figure(path, 1, 2, size=(11, 4)) as (ax, ax2):
        for n in sorted({r["N"] for r in tight}):
            sel = [r for r in tight if r["N"] == n]
            lams = np.array([r["lam"] for r in sel])
            grid = np.logspace(np.log10(lams.min()) - 0.5, np.log10(lams.max()) + 0.5, 50)
            line, = ax.loglog(grid, 2 * grid * n * (n - 1), "-", label=f"derived, N = {n}")
            for r in sel:
                gap = [max(n * n - c, 1e-12) for c in r["cost_over_lambda"]]
                ax.loglog([r["lam"]] * len(gap), gap, "o", color=line.get_color())
        ax.set_xlabel("lambda")
        ax.set_ylabel("N^2 - cost / lambda")
        ax.set_title("tight example: the approach to R(Y_N) = N^2; trained (dots), derived (lines)", fontsize=9)
        ax.legend(fontsize=8)
        for r in data:
            x = r["N"] + (0.3 if r["model"] == "sphere" else 0.0)
            ax2.plot([x] * len(r["directions"]), r["directions"], "o", color="C0" if r["model"] == "stripe" else "C1")
            if r["attractors"]:
                ax2.plot([x], [r["attractors"]["stable"]], "s", mfc="none", color="k")
        ns = sorted({r["N"] for r in data})
        ax2.plot(ns, [n + 1 for n in ns], "k--", label="N + 1")
        ax2.set_xlabel("N (training points)")
        ax2.set_ylabel("distinct neurons")
        ax2.set_title("stripe (blue), sphere (orange); squares: attractors of the talk's net", fontsize=9)
        ax2.legend(fontsize=8)
    text = "; ".join(f"tight N = {r['N']}, lambda = {r['lam']:g}: cost/lambda {np.mean(r['cost_over_lambda']):.6f} "
                     f"(derived {r['predicted']:.6f}, limit {r['limit']}), directions {r['directions']} "
                     f"(derived {r['predicted_directions']:g})" for r in tight)
    text += "; " + "; ".join(
        f"{r['model']} N = {r['N']} (h = {r['h']}, lambda = {r['lam']:g}): directions {r['directions']}, patterns "
        f"{r['patterns']}, N + 1 = {r['bound_one_output']}, N(N + 1) = {r['bound']}"
        + (f", attractors {r['attractors']['stable']} stable, {r['attractors']['reached']} reached" if r["attractors"] else "")
        for r in data)
    measured = [float(np.mean(r["cost_over_lambda"])) for r in tight]
    return Outcome(verdict, measured, [r["predicted"] for r in tight], "1e-6 N^2", str(path), text + ".",
                   {"tight": tight, "data": data})
