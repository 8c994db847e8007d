"""Empirical claim ``stripe-compression``: feature training compresses the stripe model onto x_1.

The stripe model's label depends on x_1 only (x_par; the other d - 1 coordinates are x_perp).
The talk says that in the feature regime

(a) the weights align with x_par: rms omega_par / rms omega_perp at the end of training grows
    with p; measured as an exponent, ratio ~ p^k, fitted over p with a bootstrap interval;
(b) the end-of-training NTK loses its dependence on x_perp as the compressed-coordinate NTK
    predicts: the kernel of the trained network is compared with that of the same network with
    omega_perp set to 0 (``numerics.kernels.ntk.compressed_ntk_parts``: Theta_par + Theta_perp x_perp.x'_perp),
    by their relative Frobenius distance, at initialisation and at the end;
(c) the label's projection on the top kernel eigenvectors grows: the cumulative label weight of
    the top RANK components and the mutual information of the top component, init against end;
(d) the end-of-training NTK used as a kernel machine (SVC) performs as well as the network: its
    test error is at most SVC_TOLERANCE above the network's.

(a) is fitted on one ensemble run per p (the seeds are network initialisations on one training
set per p); (b)-(d) use the networks of the largest p, paired per seed, with Student-t intervals
over the seeds. Each part is confirmed when its interval lies on the claimed side, refuted when it
lies on the other side, inconclusive otherwise; the claim is confirmed when all four are,
refuted when one is.
"""
from __future__ import annotations

import math

import numpy as np

from ...numerics.kernels.kernel_machines import classification_error, svc_decision
from ...numerics.kernels.kernel_pca import kernel_pca
from ...numerics.kernels.ntk import compressed_ntk_parts, empirical_ntk
from ...numerics.simulator import SimulationConfig, build_datasets, simulate
from ...numerics.stats import mean_interval, power_law_fit
from ..claim import Outcome, Trained, claim, combine, verdict_interval
from ..plotting import figure
from ...theory.errors import LazyrichError

LOSS = "hinge"
D = 5
SVC_TOLERANCE = 0.02  # "as well as the network": SVC test error at most this much above the network's
RANK = 10  # the cumulative label weight is read at this rank
LEVEL = 0.95  # confidence level of every interval
BOOTSTRAP = 2000

# quick: every network stops by t_max (deterministic, unlike a wall-clock limit) or by its margins;
# the ratio keeps changing late in hinge training, so the stopping time is part of the result.
# tol_output 0.5 moves F by up to 0.5 per step: at t = 8 (p = 128) rms omega_par, rms omega_perp and
# the test error agree with tol_output 0.02 to 1 % (measured), at a twentieth of the steps; the
# margin stop is then m >= 0.5.
# alpha: quick, 0.1, the feature regime a CPU reaches in seconds (parameter rates scale like 1/alpha); full, 1e-3, a
# feature regime that is a limit (issue 17), read at convergence (filippov brings every margin to 1)
QUICK = {"ps": (32, 64, 128, 256, 512), "h": 128, "seeds": 4, "t_max": 20.0, "tol_output": 0.5, "ptest": 2000,
         "max_wall": None, "alpha": 0.1}
FULL = {"ps": (128, 256, 512, 1024, 2048), "h": 1024, "seeds": 8, "t_max": 200.0, "tol_output": 0.2,
        "ptest": 10000, "max_wall": 1800.0, "alpha": 1e-3}


# ------------------------------------------------------------------------------------ statistics
def relative_distance(K, reference) -> float:
    """|K - reference|_F / |K|_F."""
    K, reference = (np.asarray(a, dtype=np.float64) for a in (K, reference))
    return float(np.linalg.norm(K - reference) / np.linalg.norm(K))


# ------------------------------------------------------------------------------------ kernels
def compressed_kernel(omega, b, beta, X, informative=(0,)) -> tuple[np.ndarray, float]:
    """The NTK of the network with omega_perp set to 0, from its compressed-coordinate parts.

    Returns (Theta_par + Theta_perp * (X_perp X_perp^T), the share of the x_perp family in it,
    |Theta_perp * X_perp X_perp^T|_F / |kernel|_F): the part notes/kernels.md says survives
    compression, because df/domega carries x_perp even when omega does not.
    """
    omega = np.array(omega, dtype=np.float64)
    perp = np.ones(omega.shape[1], dtype=bool)
    perp[list(informative)] = False
    omega[:, perp] = 0.0
    par, coef = (t.numpy() for t in compressed_ntk_parts(omega, b, beta, X, informative=informative))
    Xp = np.asarray(X, dtype=np.float64)[:, perp]
    perp_part = coef * (Xp @ Xp.T)
    K = par + perp_part
    return K, float(np.linalg.norm(perp_part) / np.linalg.norm(K))


def kernel_measures(params, train, test, device=None) -> dict:
    """The kernel observables of one network (parameters ``params``) on the stripe data.

    ``device``: where the two empirical kernels are computed (the test kernel is the large one)."""
    K = empirical_ntk(*params, train.X, device=device).cpu().numpy()
    Kt = empirical_ntk(*params, test.X, train.X, device=device).cpu().numpy()
    Kc, perp_share = compressed_kernel(*params, train.X)
    pca = kernel_pca(K, train.y, top=max(RANK, 30), mi_components=2)
    return {"distance_to_compressed": relative_distance(K, Kc), "perp_family_share": perp_share,
            "cumulative_label_weight": float(pca.cumulative[RANK - 1]),
            "cumulative_curve": pca.cumulative.tolist(), "mi_top": pca.mutual_information.tolist(),
            "svc_test_error": classification_error(svc_decision(K, train.y, Kt), test.y)}


# ------------------------------------------------------------------------------------ training
def _train(ctx, sizes) -> list[dict]:
    """One ensemble run per p (the seeds share the training set); the ratio per network and in time."""
    runs = []
    for p in sizes["ps"]:
        cfg = SimulationConfig(data="stripe", d=D, p=int(p), ptest=sizes["ptest"], data_seed=ctx.seed, h=sizes["h"],
                               alphas=(sizes["alpha"],), loss=LOSS,
                               seeds=tuple(ctx.seed + s for s in range(sizes["seeds"])),
                               device=ctx.device, t_max=sizes["t_max"], t_first=sizes["t_max"] / 200,
                               checkpoints=12, tol_output=sizes["tol_output"], max_wall=sizes["max_wall"],
                               track_neurons=1, **ctx.training())
        train, test = build_datasets(cfg)
        res = simulate(cfg, progress=False, datasets=(train, test))
        a = res.arrays
        runs.append({"p": int(p), "result": res, "train": train, "test": test,
                     "ratio": a["final_rms_parallel"] / a["final_rms_perp"],
                     "ratio_t": a["t"], "ratio_curve": a["rms_parallel"] / a["rms_perp"]})
    return runs


def _common_time_fit(runs, rng_seed: int) -> dict:
    """The ratio's exponent in p at the last checkpoint where every network is still training.

    The end of training comes later for larger p; this separates "more data" from "trained longer"."""
    curves = [r["ratio_curve"] for r in runs]
    live = np.all([np.isfinite(c).all(0) for c in curves], axis=0)
    if not live.any():
        return {"t": None, "exponent": None, "ci": None}
    k = int(np.flatnonzero(live)[-1])
    fit = power_law_fit([r["p"] for r in runs], np.array([c[:, k] for c in curves]), True, BOOTSTRAP, rng_seed)
    return {"t": float(runs[0]["ratio_t"][0, k]), "exponent": fit["exponent"], "ci": fit["ci"]}


def _paired(last, device) -> dict:
    """Kernel observables at init and at the end for every network of the largest p."""
    res, rows = last["result"], {"init": [], "end": []}
    for e, net in enumerate(res.networks()):
        for when, final in (("init", False), ("end", True)):
            rows[when].append(kernel_measures(res.params(e, final=final), last["train"], last["test"], device))
    rows["network_test_error"] = [net["test_error"] for net in res.networks()]
    return rows


def _series(rows, when, key):
    return np.array([r[key] for r in rows[when]], dtype=np.float64)


# ------------------------------------------------------------------------------------ verdicts
def _part_b(rows) -> tuple[str, dict]:
    ratio = _series(rows, "end", "distance_to_compressed") / _series(rows, "init", "distance_to_compressed")
    mean, lo, hi = mean_interval(ratio)
    return verdict_interval(lo, hi, 1.0, above=False), {"distance_end_over_init": mean,
                                                       "distance_end_over_init_ci": [lo, hi]}


def _part_c(rows) -> tuple[str, dict]:
    gain_w = _series(rows, "end", "cumulative_label_weight") - _series(rows, "init", "cumulative_label_weight")
    mi = lambda when: np.array([r["mi_top"][0] for r in rows[when]])  # noqa: E731
    gain_mi = mi("end") - mi("init")
    (mw, lw, hw), (mm, lm, hm) = mean_interval(gain_w), mean_interval(gain_mi)
    verdict = combine([verdict_interval(lw, hw, 0.0), verdict_interval(lm, hm, 0.0)])
    return verdict, {"label_weight_gain": mw, "label_weight_gain_ci": [lw, hw], "mi_top_gain": mm,
                     "mi_top_gain_ci": [lm, hm]}


def _part_d(rows) -> tuple[str, dict]:
    gap = _series(rows, "end", "svc_test_error") - np.array(rows["network_test_error"])
    mean, lo, hi = mean_interval(gap)
    verdict = "confirmed" if hi <= SVC_TOLERANCE else "refuted" if lo > SVC_TOLERANCE else "inconclusive"
    return verdict, {"svc_minus_network": mean, "svc_minus_network_ci": [lo, hi]}


# ------------------------------------------------------------------------------------ figure
def _figure(path, runs, fit, rows):
    ps = np.array([r["p"] for r in runs])
    ratios = np.array([r["ratio"] for r in runs])
    with figure(path, 2, 3, (15, 8.5)) as ax:
        for i, p in enumerate(ps):
            ax[0, 0].plot(np.full(ratios.shape[1], p), ratios[i], ".", color="C0", alpha=0.5)
        ax[0, 0].plot(ps, np.exp(np.log(ratios).mean(1)), "o", color="C0", label="geometric mean over seeds")
        grid = np.geomspace(ps.min(), ps.max(), 50)
        ax[0, 0].plot(grid, fit["prefactor"] * grid ** fit["exponent"], "k-",
                      label=f"p^{fit['exponent']:.2f} [{fit['ci'][0]:.2f}, {fit['ci'][1]:.2f}]")
        ax[0, 0].set(xscale="log", yscale="log", xlabel="p", ylabel="rms omega_par / rms omega_perp",
                     title="(a) alignment at the end of training")
        ax[0, 0].legend(fontsize=8)
        for i, r in enumerate(runs):
            for e in range(r["ratio_t"].shape[0]):
                ax[0, 1].plot(r["ratio_t"][e], r["ratio_curve"][e], "-", color=f"C{i}", alpha=0.6,
                              label=f"p = {r['p']}" if e == 0 else None)
        ax[0, 1].set(xscale="log", xlabel="t", ylabel="rms omega_par / rms omega_perp", title="(a) alignment in time")
        ax[0, 1].legend(fontsize=8)
        for when, colour in (("init", "C7"), ("end", "C3")):
            ax[0, 2].plot(np.arange(len(rows[when])), _series(rows, when, "distance_to_compressed"), "o", color=colour,
                          label=when)
        ax[0, 2].set(xlabel="network (seed)", ylabel="|K - K_compressed|_F / |K|_F", ylim=(0, None),
                     title=f"(b) distance to the compressed NTK, p = {runs[-1]['p']}")
        ax[0, 2].legend(fontsize=8)
        for when, colour in (("init", "C7"), ("end", "C3")):
            for k, r in enumerate(rows[when]):
                curve = r["cumulative_curve"]
                ax[1, 0].plot(np.arange(1, len(curve) + 1), curve, "-", color=colour, alpha=0.7,
                              label=when if k == 0 else None)
        ax[1, 0].axvline(RANK, color="k", lw=0.8, ls=":")
        ax[1, 0].set(xscale="log", xlabel="rank", ylabel="cumulative label weight", ylim=(0, 1),
                     title="(c) label on the top kernel eigenvectors")
        ax[1, 0].legend(fontsize=8)
        width = 0.35
        for j, (when, colour) in enumerate((("init", "C7"), ("end", "C3"))):
            mi = np.array([r["mi_top"] for r in rows[when]])
            ax[1, 1].bar(np.arange(mi.shape[1]) + (j - 0.5) * width, mi.mean(0), width, color=colour, label=when,
                         yerr=mi.std(0) if mi.shape[0] > 1 else None)
        ax[1, 1].axhline(math.log(2), color="k", lw=0.8, ls=":")
        ax[1, 1].set(xticks=[0, 1], xticklabels=["top 1", "top 2"], ylabel="nats",
                     title="(c) MI of the top kernel components with the label")
        ax[1, 1].legend(fontsize=8)
        errors = {"network": rows["network_test_error"], "SVC, final NTK": _series(rows, "end", "svc_test_error"),
                  "SVC, initial NTK": _series(rows, "init", "svc_test_error")}
        for j, (name, vals) in enumerate(errors.items()):
            ax[1, 2].bar(j, np.mean(vals), color=f"C{j}", alpha=0.6)
            ax[1, 2].plot(np.full(len(vals), j), vals, "k.")
        ax[1, 2].set(xticks=range(len(errors)), xticklabels=list(errors), ylabel="test error",
                     title="(d) the final NTK as a kernel machine")


def _common_text(common) -> str:
    if common["t"] is None:
        return ""
    return (f" (at t = {common['t']:.2g}, when every network still trains: p^{common['exponent']:.2f} "
            f"[{common['ci'][0]:.2f}, {common['ci'][1]:.2f}])")


# ------------------------------------------------------------------------------------ the claim
@claim("stripe-compression", "empirical", """
    In the feature regime on the stripe model the weights align with x_par (rms omega_par /
    rms omega_perp at the end of training grows with p, exponent fitted), the end-of-training NTK
    loses its dependence on x_perp as the compressed-coordinate NTK predicts (it approaches the
    kernel of the same network with omega_perp = 0), the label's projection on the top kernel
    eigenvectors grows, and the end-of-training NTK used as a kernel machine (SVC) performs as well
    as the network.""")
def stripe_compression(ctx) -> Outcome:
    sizes = ctx.size(QUICK, FULL)
    if sizes["seeds"] < 2 or len(sizes["ps"]) < 2:
        raise LazyrichError(f"stripe-compression needs at least 2 seeds and 2 sizes p, got {sizes}")
    runs = _train(ctx, sizes)
    ratios = np.array([r["ratio"] for r in runs])
    fit = power_law_fit([r["p"] for r in runs], ratios, True, BOOTSTRAP, ctx.seed)  # geometric mean over seeds
    common = _common_time_fit(runs, ctx.seed)
    rows = _paired(runs[-1], ctx.device)
    parts = {"a": verdict_interval(*fit["ci"], 0.0)}
    stats = {}
    for name, fn in (("b", _part_b), ("c", _part_c), ("d", _part_d)):
        parts[name], found = fn(rows)
        stats.update(found)
    stops = {r["p"]: sorted(set(r["result"].stop_reason)) for r in runs}
    mean_of = lambda when, key: float(np.mean(_series(rows, when, key)))  # noqa: E731
    mi_top = lambda when: float(np.mean([r["mi_top"][0] for r in rows[when]]))  # noqa: E731
    last = runs[-1]
    measured = {
        "ps": [r["p"] for r in runs], "ratio_mean": np.exp(np.log(ratios).mean(1)).tolist(),
        "ratio_exponent": fit["exponent"], "ratio_exponent_ci": fit["ci"],
        "ratio_exponent_common_time": common["exponent"], "ratio_exponent_common_time_ci": common["ci"],
        "common_time": common["t"],
        "rms_parallel_end": float(np.mean(last["result"].arrays["final_rms_parallel"])),
        "rms_perp_end": float(np.mean(last["result"].arrays["final_rms_perp"])),
        "distance_to_compressed_init": mean_of("init", "distance_to_compressed"),
        "distance_to_compressed_end": mean_of("end", "distance_to_compressed"),
        "perp_family_share_end": mean_of("end", "perp_family_share"),
        f"label_weight_rank{RANK}_init": mean_of("init", "cumulative_label_weight"),
        f"label_weight_rank{RANK}_end": mean_of("end", "cumulative_label_weight"),
        "mi_top_init": mi_top("init"), "mi_top_end": mi_top("end"),
        "network_test_error": float(np.mean(rows["network_test_error"])),
        "svc_final_ntk_test_error": mean_of("end", "svc_test_error"),
        "svc_initial_ntk_test_error": mean_of("init", "svc_test_error"),
        **stats, "part_verdicts": parts, "stop_reasons": stops,
        "t_end": [float(np.mean(r["result"].arrays["final_t"])) for r in runs],
    }
    path = ctx.figure("stripe-compression")
    _figure(path, runs, fit, rows)
    converged = all(s == ["margins"] for s in stops.values())
    m = measured
    summary = (
        f"alpha = {sizes['alpha']:g}, h = {sizes['h']}, {sizes['seeds']} seeds, p = {m['ps']}. (a) {parts['a']}: "
        f"rms ratio "
        f"{m['ratio_mean'][0]:.2f} -> {m['ratio_mean'][-1]:.2f}, ~ p^{fit['exponent']:.2f} "
        f"[{fit['ci'][0]:.2f}, {fit['ci'][1]:.2f}]{_common_text(common)}. (b) {parts['b']}: distance to the "
        f"compressed NTK "
        f"{m['distance_to_compressed_init']:.3f} -> {m['distance_to_compressed_end']:.3f} (x_perp family "
        f"{m['perp_family_share_end']:.2f} of the compressed kernel). (c) {parts['c']}: label weight at rank {RANK} "
        f"{m[f'label_weight_rank{RANK}_init']:.2f} -> {m[f'label_weight_rank{RANK}_end']:.2f}, MI of the top "
        f"component {m['mi_top_init']:.2f} -> {m['mi_top_end']:.2f} nats. (d) {parts['d']}: test error network "
        f"{m['network_test_error']:.3f}, SVC final NTK {m['svc_final_ntk_test_error']:.3f}, SVC initial NTK "
        f"{m['svc_initial_ntk_test_error']:.3f}. "
        + ("All networks converged (margins)." if converged else
           f"Not all networks converged: stops by p {stops}, mean stop time {[round(t, 1) for t in m['t_end']]}; "
           "the ratio keeps changing late in hinge training, so (a) is the ratio at that time."))
    return Outcome(combine(parts.values()), measured,
                   {"ratio_exponent": "> 0", "distance_end_over_init": "< 1", "label_weight_gain": "> 0",
                    "mi_top_gain": "> 0", "svc_minus_network": f"<= {SVC_TOLERANCE}"},
                   {"level": LEVEL, "svc_minus_network": SVC_TOLERANCE, "rank": RANK}, str(path), summary,
                   {"sizes": dict(sizes), "alpha": sizes["alpha"], "loss": LOSS, "d": D},
                   trained=Trained.total(Trained.of(r["result"].networks(), f"p = {r['p']}, ") for r in runs))
