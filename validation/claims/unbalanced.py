"""Claims of the second seed's "Get rich quick" (Kunin et al. 2024): the unbalanced single neuron, solved
exactly, and the imbalance as a lazy/rich knob of the ReLU network.

- ``single-neuron-exact`` (identity): the closed-form whitened trajectory (derive single-neuron-trajectory)
  against a float64 integration of the derived flow.
- ``implicit-bias`` (identity): the rank-1 limit beta_inf(delta) (derive single-neuron-implicit-bias) against
  long integrations, for delta from -4 to 4.
- ``unbalanced-relu`` (empirical): initialisations with delta > 0, where the first layer learns faster,
  accelerate rich learning of a ReLU network.
"""
from __future__ import annotations


import numpy as np

from ...numerics import single_neuron as SN
from ...numerics.data import teacher
from ...numerics.simulator import SimulationConfig, simulate
from ...numerics.stats import mean_interval
from ..claim import Outcome, claim, combine, seed_verdict, verdict_within
from ..plotting import figure

# the command's example: beta_0 = (0.4, 0.05), Sigma_xy = (0.55, 1.1)
BETA0, SXY = np.array([0.4, 0.05]), np.array([0.55, 1.1])


@claim("single-neuron-exact", "identity", """
    For whitened inputs the single neuron f(x) = a w.x follows the closed-form trajectory derived in theory/
    (a Riccati equation for r = B w_par/(2 eta_w a), solved exactly): beta(t) agrees with a float64 DOP853
    integration of the derived flow to 1e-8, for every imbalance delta and learning rates.""")
def single_neuron_exact(ctx) -> Outcome:
    deltas = ctx.size((-4.0, -1.0, 0.0, 1.0, 4.0), tuple(np.linspace(-4, 4, 17)))
    rates = ctx.size(((1.0, 1.0), (3.0, 0.5)), ((1.0, 1.0), (3.0, 0.5), (0.5, 2.0)))
    t = np.linspace(0, ctx.size(20.0, 50.0), ctx.size(41, 201))
    rows, curves = [], []
    for eta_w, eta_a in rates:
        for delta in deltas:
            P = SN.Problem(np.eye(2), SXY, BETA0, float(delta), eta_w, eta_a)
            exact, _ = SN.exact_trajectory(P, t)
            exact = ctx.perturbed("single-neuron-exact", exact)
            sim = SN.integrate(P, t)["beta"]
            err = float(np.linalg.norm(exact - sim, axis=1).max())
            rows.append({"delta": float(delta), "eta_w": eta_w, "eta_a": eta_a, "max_error": err})
            if (eta_w, eta_a) == rates[0]:
                curves.append((delta, exact, sim))
    worst = max(r["max_error"] for r in rows)
    tol = 1e-8
    path = ctx.figure("single-neuron-exact")
    with figure(path, 1, 2, size=(10, 4)) as (ax, ax2):
        for delta, exact, sim in curves:
            line, = ax.plot(sim[:, 0], sim[:, 1], label=f"delta = {delta:g}")
            ax.plot(exact[::4, 0], exact[::4, 1], "o", mfc="none", ms=4, color=line.get_color())
        ax.plot(*SXY, "k*", ms=12)
        ax.set_xlabel("beta_1")
        ax.set_ylabel("beta_2")
        ax.set_title("lines: integration, circles: closed form", fontsize=9)
        ax.legend(fontsize=7)
        for eta in rates:
            sel = [r for r in rows if (r["eta_w"], r["eta_a"]) == eta]
            ax2.semilogy([r["delta"] for r in sel], [max(r["max_error"], 1e-17) for r in sel], "o-",
                         label=f"eta_w = {eta[0]:g}, eta_a = {eta[1]:g}")
        ax2.axhline(tol, color="k", ls=":")
        ax2.set_xlabel("delta")
        ax2.set_ylabel("max |beta_exact - beta_simulated|")
        ax2.legend(fontsize=7)
    return Outcome(verdict_within(worst, 0.0, tol), worst, 0.0, tol, str(path),
                   f"closed form vs integration over {len(rows)} (delta, eta) problems: largest error {worst:.2e} "
                   f"(tolerance {tol:g}).", {"problems": rows})


@claim("implicit-bias", "identity", """
    With a rank-1 input covariance the single neuron's flow ends on one of a line of minimisers, and which
    one is fixed by the conserved delta: beta_inf(delta) = (q/lambda_1) e + a_inf(delta) w_perp(0), a closed
    form derived in theory/. It agrees with long integrations to 1e-6 for delta from -4 to 4.""")
def implicit_bias(ctx) -> Outcome:
    deltas = np.linspace(-4, 4, ctx.size(9, 33))
    sxx = np.array([[0.25, 0.5], [0.5, 1.0]])  # rank 1, the command's example
    rows = []
    for delta in deltas:
        P = SN.Problem(sxx, SXY, BETA0, float(delta))
        closed = ctx.perturbed("implicit-bias", SN.implicit_bias(P))
        long = SN.long_integration(P)
        rows.append({"delta": float(delta), "closed": closed, "integrated": long["beta"], "t": long["t"],
                     "error": float(np.abs(closed - long["beta"]).max())})
    worst = max(r["error"] for r in rows)
    tol = 1e-6
    null = np.array([2.0, -1.0]) / np.sqrt(5)  # the direction along the minimisers
    path = ctx.figure("implicit-bias")
    with figure(path, 1, 2, size=(10, 4)) as (ax, ax2):
        fine = np.linspace(-4, 4, 161)
        ax.plot(fine, [SN.implicit_bias(SN.Problem(sxx, SXY, BETA0, float(v))) @ null for v in fine], "-",
                label="closed form")
        ax.plot(deltas, [r["integrated"] @ null for r in rows], "o", mfc="none", label="long integration")
        ax.set_xlabel("delta")
        ax.set_ylabel("position of beta_inf along the minimisers")
        ax.legend(fontsize=8)
        ax2.semilogy(deltas, [max(r["error"], 1e-17) for r in rows], "o-")
        ax2.axhline(tol, color="k", ls=":")
        ax2.set_xlabel("delta")
        ax2.set_ylabel("max |closed - integrated|")
    details = {"rows": [{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in r.items()} for r in rows]}
    return Outcome(verdict_within(worst, 0.0, tol), worst, 0.0, tol, str(path),
                   f"rank-1 beta_inf(delta) for {len(rows)} deltas in [-4, 4]: largest deviation from long "
                   f"integrations {worst:.2e} (tolerance {tol:g}); beta_inf moves along the minimisers by "
                   f"{abs(rows[-1]['closed'] @ null - rows[0]['closed'] @ null):.3f} as delta goes from -4 to 4.",
                   details)


def _kernel_distance(K0, K):
    return float(1 - (K0 * K).sum() / np.sqrt((K0 * K0).sum() * (K * K).sum()))


def _hamming(a, b, p):
    """Fraction of (neuron, point) activations that differ between two packed pattern arrays."""
    return float((np.unpackbits(a, axis=-1)[..., :p] != np.unpackbits(b, axis=-1)[..., :p]).mean())


def _relu_grid(ctx):
    d, h, p = 10, 50, ctx.size(100, 400)
    taus = ctx.size((0.1, 1.0), (0.05, 0.2, 1.0))
    deltas = ctx.size((-1.0, 0.0, 1.0), (-4.0, -1.0, 0.0, 1.0, 4.0))
    seeds = tuple(range(ctx.seed, ctx.seed + ctx.size(3, 6)))
    folder = ctx.report_dir / "unbalanced-relu"
    folder.mkdir(parents=True, exist_ok=True)
    train, test = folder / f"train_{p}.npz", folder / f"test_{p}.npz"
    teacher(p, d, ctx.seed).save(train)
    teacher(ctx.size(1000, 4000), d, ctx.seed + 1_000_003).save(test)
    t_max, K = ctx.size(30.0, 200.0), ctx.size(8, 16)
    rows = []
    for tau in taus:
        for delta in deltas:
            cfg = SimulationConfig(data=str(train), test_file=str(test), d=d, p=p, h=h, alphas=(1.0,), loss="mse",
                                   seeds=seeds, t_max=t_max, t_first=1e-3, checkpoints=K, ntk=True, track_neurons=h,
                                   device=ctx.device, init_scale=tau, imbalance=delta, **ctx.training())
            res = simulate(cfg, progress=False)
            a = res.arrays
            for e, (seed, _) in enumerate(cfg.networks()):
                S = [_kernel_distance(a["ntk"][e, 0], a["ntk"][e, k]) for k in range(K)]
                rows.append({"tau": tau, "delta": delta, "seed": seed, "t": a["t"][e].tolist(), "S": S,
                             "S_final": _kernel_distance(a["ntk"][e, 0], a["final_ntk"][e]),
                             "hamming": _hamming(a["patterns"][e, 0], a["final_patterns"][e], p),
                             "parameter_distance": float(a["final_rel_change"][e]),
                             "test_loss": float(a["final_test_loss"][e]), "train_loss": float(a["final_train_loss"][e])})
    return rows, taus, deltas, seeds


@claim("unbalanced-relu", "empirical", """
    Kunin et al.: in shallow ReLU networks, initialisations that make the first layer learn faster accelerate
    rich learning. Here every neuron starts with |beta_n| |(omega_n, b_n)| = tau^2 and imbalance
    delta = beta_n^2 - |(omega_n, b_n)|^2: delta > 0 makes the first layer fast. Measured on a teacher of 3
    ReLU neurons in d = 10, a student of 50 neurons trained on the square loss: at small tau, delta > 0 moves
    the NTK further from its start early in training (half-way through the log-spaced checkpoints) and changes
    more activation patterns by the end than delta < 0, for every seed. The kernel distance at the end, the
    test loss and the parameter distance are reported beside it.""")
def unbalanced_relu(ctx) -> Outcome:
    rows, taus, deltas, seeds = _relu_grid(ctx)
    tau, lo, hi = taus[0], min(deltas), max(deltas)

    def paired(key, k=None):
        get = (lambda r: r[key][k]) if k is not None else (lambda r: r[key])
        by = {(r["delta"], r["seed"]): get(r) for r in rows if r["tau"] == tau}
        return [by[(hi, s)] - by[(lo, s)] for s in seeds]

    early = len(rows[0]["t"]) // 2  # a checkpoint early in training (log-spaced times)
    parts = {"S_early": paired("S", early), "S_final": paired("S_final"), "hamming": paired("hamming"),
             "test_loss": paired("test_loss"), "parameter_distance": paired("parameter_distance")}
    verdicts = {name: seed_verdict(parts[name], 0.0, above=True) for name in ("S_early", "hamming")}
    verdict = combine(verdicts.values())
    intervals = {name: mean_interval(v) for name, v in parts.items()}
    path = ctx.figure("unbalanced-relu")
    with figure(path, 1, 3, size=(14, 4)) as (ax, ax2, ax3):
        for t in taus:
            for key, axis in (("S_final", ax), ("hamming", ax2)):
                axis.plot(deltas, [np.mean([r[key] for r in rows if r["tau"] == t and r["delta"] == dl])
                                   for dl in deltas], "o-", label=f"tau = {t:g}")
        for dl in deltas:
            sel = [r for r in rows if r["tau"] == tau and r["delta"] == dl]
            ax3.semilogx(sel[0]["t"], np.mean([r["S"] for r in sel], 0), label=f"delta = {dl:g}")
        ax.set_xlabel("delta")
        ax.set_ylabel("kernel distance at the end")
        ax2.set_xlabel("delta")
        ax2.set_ylabel("Hamming distance of activation patterns")
        ax3.set_xlabel("t")
        ax3.set_ylabel(f"kernel distance S(t), tau = {tau:g}")
        for axis in (ax, ax2, ax3):
            axis.legend(fontsize=7)
    iv = {k: f"{m:+.3f} [{low:+.3f}, {high:+.3f}]" for k, (m, low, high) in intervals.items()}
    summary = (f"tau = {tau:g}, delta = {hi:g} minus delta = {lo:g}, paired over {len(seeds)} seeds: kernel distance "
               f"early {iv['S_early']}, at the end {iv['S_final']}; Hamming distance {iv['hamming']}; test loss "
               f"{iv['test_loss']}; parameter distance {iv['parameter_distance']} "
               f"(verdicts {verdicts}).")
    return Outcome(verdict, {k: v[0] for k, v in intervals.items()}, "> 0", "every seed", str(path), summary,
                   {"rows": rows, "paired": parts, "intervals": intervals, "verdicts": verdicts})
