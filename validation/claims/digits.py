"""Empirical claim ``digits``: on real data the neurons' z sparsify in the feature regime.

The talk (last slides): for a fully connected net trained on 10-PCA MNIST "we observe the same kind
of sparsification in z space" as the sphere model's attractors, and "sparsification - in this case -
does not seem to be detrimental (feature > lazy)". Offline stand-in for MNIST: scikit-learn's bundled
8x8 digits (1797 images, no download), even (y = +1) against odd (y = -1) digits, projected on the
10 leading principal components of the training images and standardised (numerics.data.Projection,
fitted on the training split only). Users with the MNIST IDX files can build the same data with
numerics.data.mnist.

Sparsification is measured without a scale: the median distance from each cutting neuron's z to
its nearest neighbour, over the median |z| (z also moves as a whole: towards the origin in the
feature regime, which alone would shrink every absolute distance), and the nearest-neighbour angle
ratio of sphere-phases (1 for uniform directions, near 0 for clustered ones). The talk's strict
attractors, neurons with one activation pattern, are counted too.
"""
from __future__ import annotations


import numpy as np

from ...numerics import network as N
from ...numerics.data.digits import COMPONENTS, parity_digits
from ...numerics.simulator import SimulationConfig, simulate
from ...numerics.stats import finite_mean, finite_values, mean_interval
from ..claim import Outcome, Trained, claim, combine, seed_verdict, verdict_interval
from ..measures import activations, cutting, nn_angle_ratio, pattern_groups, z_clusters
from ..plotting import figure
from ...theory.errors import LazyrichError

SPARSE = 0.5  # feature end: relative NN distance below this fraction of its initial value
KEPT = 0.8  # lazy end: relative NN distance above this fraction of its initial value (the control)
CLUSTER_REL = 0.05  # z clusters: single linkage at this fraction of the median |z| of the same state
def relative_nn_distance(z) -> float:
    """Median distance from each point to its nearest neighbour, over the median |z|."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or len(z) < 2:
        raise LazyrichError(f"need at least 2 points of shape (n, d), got shape {z.shape}")
    sq = (z ** 2).sum(1)
    dist2 = sq[:, None] + sq[None, :] - 2 * z @ z.T
    np.fill_diagonal(dist2, np.inf)
    nn = np.sqrt(np.clip(dist2.min(1), 0, None))
    scale = np.median(np.sqrt(sq))
    if scale <= 0:
        raise LazyrichError("the median |z| is 0: no scale to measure distances against")
    return float(np.median(nn) / scale)


def sparsity_statistics(z, active) -> dict:
    """Sparsity of one network state, on its cutting neurons."""
    keep = cutting(active)
    zc = np.asarray(z, dtype=np.float64)[keep]
    n = int(keep.sum())
    if n < 2:
        return {"cutting_neurons": n, "relative_nn_distance": float("nan"), "nn_angle_ratio": float("nan"),
                "patterns_per_neuron": float("nan"), "z_clusters_per_neuron": float("nan")}
    tol = CLUSTER_REL * float(np.median(np.linalg.norm(zc, axis=1)))
    return {"cutting_neurons": n, "relative_nn_distance": relative_nn_distance(zc),
            "nn_angle_ratio": nn_angle_ratio(zc),
            "patterns_per_neuron": len(pattern_groups(np.asarray(active, bool)[keep])) / n,
            "z_clusters_per_neuron": len(z_clusters(zc, tol)) / n if tol > 0 else float("nan")}


def seed_interval(values, level: float = 0.95) -> tuple[float | None, float | None]:
    """Student-t confidence interval of the mean over seeds; (None, None) below 2 finite values."""
    v = finite_values(values)
    return (None, None) if v.size < 2 else mean_interval(v, level)[1:]


def train_seed(sizes: dict, seed: int, device: str, training: dict) -> dict:
    """One data split and one network initialisation, trained at the feature and the lazy alpha."""
    train, test = parity_digits(seed, sizes["p"])
    cfg = SimulationConfig(data="sklearn-digits", d=COMPONENTS, p=train.p, ptest=test.p, h=sizes["h"],
                           alphas=(sizes["alpha_feature"], sizes["alpha_lazy"]), loss="quadratic-hinge",
                           seeds=(seed,), t_first=1e-2, t_max=sizes["t_max"], checkpoints=4, track_neurons=1,
                           max_wall=sizes["max_wall"], device=device, **training)
    res = simulate(cfg, progress=False, datasets=(train, test))
    states = {"init": res.params(0, final=False)[:2], "feature end": res.params(0)[:2],
              "lazy end": res.params(1)[:2]}
    snaps = {k: (N.neuron_positions(om, b), activations(om, b, train.X)) for k, (om, b) in states.items()}
    return {"snapshots": snaps, "stats": {k: sparsity_statistics(*v) for k, v in snaps.items()},
            "networks": res.networks(), "X": train.X, "y": train.y, "ptest": test.p}


def evaluate(runs: list[dict]) -> dict:
    """Sub-verdicts from the per-seed runs."""
    def ratio(phase):  # relative NN distance at the end over its initial value, seed by seed
        return [r["stats"][phase]["relative_nn_distance"] / r["stats"]["init"]["relative_nn_distance"] for r in runs]

    err_f = [r["networks"][0]["test_error"] for r in runs]
    err_l = [r["networks"][1]["test_error"] for r in runs]
    gain = [lz - ft for ft, lz in zip(err_f, err_l)]  # > 0: the feature regime generalises better
    low, high = seed_interval(gain)
    sub = {"feature_sparsifies": seed_verdict(ratio("feature end"), SPARSE, above=False),
           "lazy_does_not": seed_verdict(ratio("lazy end"), KEPT, above=True),
           "feature_beats_lazy": verdict_interval(low, high, 0.0, above=True)}
    return {"sub_verdicts": sub, "ratio_feature": ratio("feature end"), "ratio_lazy": ratio("lazy end"),
            "test_error_feature": err_f, "test_error_lazy": err_l, "gain": gain, "gain_interval": (low, high)}


def _plot(path, runs: list[dict], ev: dict):
    first = runs[0]
    with figure(path, 1, 4, (18, 4.3)) as axes:
        for ax, phase in zip(axes[:3], ("init", "lazy end", "feature end")):
            z, act = first["snapshots"][phase]
            keep = cutting(act)
            ax.scatter(first["X"][:, 0], first["X"][:, 1], c=first["y"], cmap="coolwarm", s=4, alpha=0.25)
            ax.scatter(z[keep, 0], z[keep, 1], s=5, c="k")
            st = first["stats"][phase]
            ax.set(xlabel="z on PC 1", ylabel="z on PC 2", xlim=(-3, 3), ylim=(-3, 3),
                   title=f"{phase}: {st['cutting_neurons']} cutting neurons\nNN distance / |z| "
                         f"{st['relative_nn_distance']:.3f}, NN-angle ratio {st['nn_angle_ratio']:.2f}")
            ax.title.set_fontsize(9)
        ax = axes[3]
        seeds = np.arange(len(runs))
        ax.bar(seeds - 0.2, ev["test_error_lazy"], 0.4, label="lazy")
        ax.bar(seeds + 0.2, ev["test_error_feature"], 0.4, label="feature")
        ax.set(xlabel="seed (split and initialisation)", ylabel="test error", xticks=seeds,
               title="even vs odd, 8x8 digits, 10 PCs")
        ax.legend(fontsize=8)


@claim("digits", "empirical", """
    Real data (scikit-learn's 8x8 digits, even against odd, 10 principal components, standardised):
    in the feature regime the neurons' positions z sparsify (gather onto few locations, as the
    sphere model's attractors) while in the lazy regime they stay spread as at initialisation, and
    this sparsification is not detrimental: the feature regime's test error is below the lazy one's.""")
def digits(ctx) -> Outcome:
    sizes = ctx.size(dict(p=256, h=256, seeds=3, alpha_feature=0.03, alpha_lazy=1000.0, t_max=1e4, max_wall=60.0),
                     # full: the wall-clock limit is per seed, a guard against a stuck run, not a stop rule
                     dict(p=1024, h=2048, seeds=8, alpha_feature=0.03, alpha_lazy=1000.0, t_max=1e5,
                          max_wall=900.0))
    runs = [train_seed(sizes, ctx.seed + s, ctx.device, ctx.training()) for s in range(sizes["seeds"])]
    return outcome(ctx, runs, sizes)


def outcome(ctx, runs: list[dict], sizes: dict) -> Outcome:
    """Verdict, figure and summary from the per-seed runs of train_seed."""
    ev = evaluate(runs)
    sub = ev["sub_verdicts"]
    verdict = combine(sub.values())
    path = ctx.figure("digits")
    _plot(path, runs, ev)
    mean = lambda phase, key: finite_mean([r["stats"][phase][key] for r in runs])  # noqa: E731
    keys = ("cutting_neurons", "relative_nn_distance", "nn_angle_ratio", "patterns_per_neuron", "z_clusters_per_neuron")
    unconverged = [f"alpha = {n['alpha']:g}, seed {n['seed']}: {n['stop_reason']} at t = {n['t']:.3g}, train loss "
                   f"{n['train_loss']:.2g}" for r in runs for n in r["networks"]
                   if n["stop_reason"] not in ("margins", "loss")]
    measured = {phase: {k: mean(phase, k) for k in keys} for phase in ("init", "lazy end", "feature end")}
    low, high = ev["gain_interval"]
    measured.update({"sub_verdicts": sub, "nn_distance_ratio_feature": ev["ratio_feature"],
                     "nn_distance_ratio_lazy": ev["ratio_lazy"], "test_error_feature": ev["test_error_feature"],
                     "test_error_lazy": ev["test_error_lazy"], "lazy_minus_feature_error_95ci": [low, high],
                     "not_converged": unconverged})
    interval = "n/a" if low is None else f"[{low:+.4f}, {high:+.4f}]"
    summary = (
        f"Even vs odd, p = {sizes['p']} training images (test: the other {runs[0]['ptest']}), h = {sizes['h']}, "
        f"{sizes['seeds']} seeds (split and initialisation), alpha {sizes['alpha_feature']:g} (feature) and "
        f"{sizes['alpha_lazy']:g} (lazy), quadratic hinge. NN distance / median |z| of the cutting neurons: "
        f"{mean('init', 'relative_nn_distance'):.3f} at init, {mean('lazy end', 'relative_nn_distance'):.3f} lazy "
        f"({finite_mean(ev['ratio_lazy']):.2f} of init: {sub['lazy_does_not']}), "
        f"{mean('feature end', 'relative_nn_distance'):.3f} feature ({finite_mean(ev['ratio_feature']):.2f} of init: "
        f"{sub['feature_sparsifies']}); NN-angle ratio {mean('init', 'nn_angle_ratio'):.2f} -> "
        f"{mean('feature end', 'nn_angle_ratio'):.2f} (feature), {mean('lazy end', 'nn_angle_ratio'):.2f} (lazy); "
        f"z clusters per neuron {mean('init', 'z_clusters_per_neuron'):.2f} -> "
        f"{mean('feature end', 'z_clusters_per_neuron'):.2f}; distinct activation patterns per neuron "
        f"{mean('init', 'patterns_per_neuron'):.2f} -> {mean('feature end', 'patterns_per_neuron'):.2f} (the talk's "
        f"strict attractors). Test error feature {finite_mean(ev['test_error_feature']):.4f}, lazy "
        f"{finite_mean(ev['test_error_lazy']):.4f}; lazy - feature 95% CI {interval}: {sub['feature_beats_lazy']}."
        + (f" Not converged (stopped by t_max or the wall clock): {'; '.join(unconverged)}." if unconverged
           else " All networks converged."))
    predicted = {"nn_distance_ratio_feature_below": SPARSE, "nn_distance_ratio_lazy_above": KEPT,
                 "lazy_minus_feature_error_above": 0.0}
    tolerance = {"seeds": sizes["seeds"], "ratios": "every seed on the claimed side: confirmed; none: refuted",
                 "errors": "95% t-interval of the paired difference over seeds against 0"}
    return Outcome(verdict, measured, predicted, tolerance, str(path), summary,
                   {"sizes": sizes, "per_seed": [r["stats"] for r in runs]},
                   trained=Trained.of(n for r in runs for n in r["networks"]))
