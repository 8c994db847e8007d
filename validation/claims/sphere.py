"""Empirical claim ``sphere-phases``: where the neurons' z lie in the sphere model, by phase.

The talk shows four panels of the positions z = -sqrt(d) b omega/|omega|^2 (sphere model, d = 2):
(A) at initialisation, (B) at the end of lazy training, (C) during and (D) at the end of feature
training, and says: lazy training leaves z essentially where it was; feature training first
gathers the neurons into a circular structure that keeps the task's rotational symmetry, which
then "explodes into a finite number of attractors" (symmetry broken).

The statistics (validation.measures) are plain numpy functions of z (and of the activation
patterns), so that the tests can check them on synthetic inputs with known answers. They are
computed on the *cutting* neurons, those active on some but not all training points: a neuron active on no point never
moves (no gradient), one active on every point is linear on the data and its z, outside the data,
carries no feature; only cutting neurons draw a boundary in input space.
"""
from __future__ import annotations

import math

import numpy as np

from ...numerics import network as N
from ...numerics.simulator import SimulationConfig, build_datasets, simulate
from ...numerics.stats import finite_mean
from ..claim import Outcome, Trained, claim, combine, seed_verdict
from ..measures import (SHELL, activations, ball_spread, cutting, directions, mean_resultant_length,
                        median_displacement, nn_angle_ratio, participation_ratio, pattern_groups, points,
                        radial_spread, rayleigh_p, shell_fraction, z_clusters)
from ..plotting import figure

CLUSTER_TOL = 0.05  # z closer than CLUSTER_TOL r* belong to one cluster (single linkage)
LAZY_DISPLACEMENT = 0.05  # lazy: median |z_end - z_0| below this fraction of r* means "did not move"
GROUPS_KEPT = 0.8  # lazy: the effective number of activation groups keeps this fraction of its initial value
GROUPS_COLLAPSED = 0.5  # feature end: the effective number of groups falls below this fraction
NN_UNIFORM = 0.5  # nearest-neighbour angle ratio above it: directions spread as uniform ones (1 = uniform)


def phase_statistics(z, active, radius: float) -> dict:
    """The statistics of one panel, on its cutting neurons (z (h, d), active (h, p) bool)."""
    keep = cutting(active)
    # only cutting neurons need a position: a neuron with omega = 0 (z undefined) is constant on the data
    zc = points(np.asarray(z, dtype=np.float64)[keep])
    groups = pattern_groups(np.asarray(active, dtype=bool)[keep])
    clusters = z_clusters(zc, CLUSTER_TOL * radius)
    r = np.linalg.norm(zc, axis=1) / radius
    return {"cutting_neurons": int(keep.sum()),
            "median_radius": float(np.median(r)) if len(r) else float("nan"),
            "shell_fraction": shell_fraction(zc, radius),
            "radial_spread": radial_spread(zc),
            "mean_resultant_length": mean_resultant_length(zc), "rayleigh_p": rayleigh_p(zc),
            "nn_angle_ratio": nn_angle_ratio(zc),
            "pattern_groups": int(len(groups)), "pattern_groups_effective": participation_ratio(groups),
            "z_clusters": int(len(clusters)), "z_clusters_effective": participation_ratio(clusters)}


def during_checkpoint(train_loss) -> int | None:
    """The first checkpoint where the training loss has fallen to half its value at the first one.

    The talk gives no time for its panel "during feature training": half-way in loss, the neurons
    have moved far from initialisation and the network has not yet fitted the data.
    """
    loss = np.asarray(train_loss, dtype=np.float64)
    if loss.size == 0 or not np.isfinite(loss[0]):
        return None
    ok = np.flatnonzero(np.isfinite(loss) & (loss <= 0.5 * loss[0]))
    return int(ok[0]) if ok.size else None


def simulate_phases(sizes: dict, device: str = "cpu", seed: int = 0, training: dict | None = None) -> dict:
    """Train feature and lazy networks on one sphere dataset; return the four panels per seed.

    sizes: d, p, h, ptest, seeds, alpha_feature, alpha_lazy, t_max, max_wall (a guard only),
    checkpoints; training: further SimulationConfig settings (the integrator). Returns {"panels": {phase:
    [(z, active) per seed]}, "trajectory": [[(t, z, active) per checkpoint of the feature network] per seed],
    "networks", "radius", "X", "y", "during_t", "wall"}.
    """
    seeds = tuple(seed + s for s in range(sizes["seeds"]))
    # the quadratic hinge: with the plain hinge the networks slide along their margins for far longer
    # than a quick run allows (notes/simulator.md, "Time to convergence")
    cfg = SimulationConfig(data="sphere", d=sizes["d"], p=sizes["p"], ptest=sizes["ptest"], h=sizes["h"],
                           alphas=(sizes["alpha_feature"], sizes["alpha_lazy"]), loss="quadratic-hinge",
                           seeds=seeds, data_seed=seed, t_first=1e-2, t_max=sizes["t_max"],
                           checkpoints=sizes["checkpoints"], max_wall=sizes["max_wall"], track_neurons=sizes["h"],
                           device=device, **(training or {}))
    res = simulate(cfg, progress=False)
    train, _ = build_datasets(cfg)
    a, S = res.arrays, len(seeds)
    panels = {"init": [], "lazy end": [], "feature during": [], "feature end": []}
    trajectory, during_t = [], []
    for s in range(S):
        # networks are alpha-major: the feature network of seed s is e = s, the lazy one S + s
        omega0, b0, _ = res.params(s, final=False)
        panels["init"].append((N.neuron_positions(omega0, b0), activations(omega0, b0, train.X)))
        for phase, e in (("feature end", s), ("lazy end", S + s)):
            omega, b, _ = res.params(e, final=True)
            panels[phase].append((N.neuron_positions(omega, b), activations(omega, b, train.X)))
        recorded = np.flatnonzero(np.isfinite(a["t"][s]))
        trajectory.append([(float(a["t"][s, k]), a["z"][s, k],
                            np.unpackbits(a["patterns"][s, k], axis=1)[:, :cfg.p].astype(bool)) for k in recorded])
        k = during_checkpoint(a["train_loss"][s])
        if k is None:  # never halved its loss: the last recorded state is the best "during" there is
            k = int(recorded[-1])
        _, z, active = trajectory[-1][list(recorded).index(k)]
        panels["feature during"].append((z, active))
        during_t.append(float(a["t"][s, k]))
    return {"panels": panels, "trajectory": trajectory, "networks": res.networks(),
            "radius": float(train.meta["radius"]), "X": train.X, "y": train.y, "during_t": during_t,
            "wall": res.wall_s}


# ------------------------------------------------------------------------------------ verdict
def circle_score(spread: float, nn_ratio: float, ball: float) -> float:
    """> 1 when a state is a circle (radially thinner than a uniform ball) with uniform directions."""
    if not (math.isfinite(spread) and math.isfinite(nn_ratio)) or spread < 0:
        return float("nan")
    radial = ball / spread if spread > 0 else math.inf  # a perfect circle is as thin as it gets
    return min(radial, nn_ratio / NN_UNIFORM)


def trajectory_statistics(trajectory, radius: float) -> list[dict]:
    """Per checkpoint of one feature network: t, radial spread, NN-angle ratio, effective groups."""
    rows = []
    for t, z, active in trajectory:
        keep = cutting(active)
        if keep.sum() < 2:
            continue
        zc = z[keep]
        rows.append({"t": t, "radial_spread": radial_spread(zc), "nn_angle_ratio": nn_angle_ratio(zc),
                     "median_radius": float(np.median(np.linalg.norm(zc, axis=1)) / radius),
                     "pattern_groups_effective": participation_ratio(pattern_groups(active[keep]))})
    return rows


def best_circle(rows: list[dict], ball: float) -> dict | None:
    """The checkpoint that looks most like the talk's circle (the talk gives no time for it)."""
    def score(row):
        return np.nan_to_num(circle_score(row["radial_spread"], row["nn_angle_ratio"], ball), nan=-1.0)

    return max(rows, key=score) if rows else None


def evaluate(panels: dict, trajectory, radius: float, d: int) -> dict:
    """Statistics per phase and seed, and the sub-verdicts of the claim."""
    stats = {ph: [phase_statistics(z, act, radius) for z, act in runs] for ph, runs in panels.items()}
    S = len(panels["init"])

    def per(ph, key):
        return [st[key] for st in stats[ph]]

    def ratio(ph, key):  # phase over init, seed by seed
        return [a / b if b > 0 else float("nan") for a, b in zip(per(ph, key), per("init", key))]

    disp = [median_displacement(panels["init"][s][0], panels["lazy end"][s][0], cutting(panels["init"][s][1]), radius)
            for s in range(S)]
    ball = ball_spread(d)
    traj = [trajectory_statistics(tr, radius) for tr in trajectory]
    best = [best_circle(rows, ball) for rows in traj]
    best_score = [circle_score(b["radial_spread"], b["nn_angle_ratio"], ball) if b else float("nan") for b in best]
    sub = {
        # (B) lazy: neurons stay put and keep their distinct activation patterns
        "lazy_unchanged": combine([seed_verdict(disp, LAZY_DISPLACEMENT, above=False),
                                   seed_verdict(ratio("lazy end", "pattern_groups_effective"), GROUPS_KEPT, True)]),
        # (C) during feature training, at some checkpoint: a circle (radially thinner than a uniform
        # ball) whose directions are still spread as uniform ones (symmetry preserved)
        "feature_during_circle": seed_verdict(best_score, 1.0, above=True),
        # (D) end of feature training: a finite number of attractors, symmetry broken
        "feature_end_attractors": combine([
            seed_verdict(ratio("feature end", "pattern_groups_effective"), GROUPS_COLLAPSED, above=False),
            seed_verdict(per("feature end", "nn_angle_ratio"), NN_UNIFORM, above=False)]),
        # the brief's reading "concentrated near the label sphere": more neurons in the shell than at init
        "feature_near_label_sphere": seed_verdict(
            [e - i for e, i in zip(per("feature end", "shell_fraction"), per("init", "shell_fraction"))], 0.0, True),
    }
    return {"stats": stats, "lazy_displacement": disp, "ball_spread": ball, "sub_verdicts": sub,
            "trajectory": traj, "best_circle": best, "best_circle_score": best_score,
            "group_ratio_lazy": ratio("lazy end", "pattern_groups_effective"),
            "group_ratio_feature": ratio("feature end", "pattern_groups_effective")}


# the per-phase numbers of the report (seed means); every statistic per seed goes to the details
SHOWN = ("cutting_neurons", "median_radius", "shell_fraction", "radial_spread", "nn_angle_ratio", "rayleigh_p",
         "pattern_groups", "pattern_groups_effective", "z_clusters")


def _scatter(ax, sim: dict, z, keep, d: int):
    """One panel of the talk: z in the plane with the label circle (d = 2), else |z| against an angle."""
    from matplotlib.patches import Circle

    radius = sim["radius"]
    if d == 2:
        ax.scatter(sim["X"][:, 0], sim["X"][:, 1], c=sim["y"], cmap="coolwarm", s=4, alpha=0.25)
        ax.scatter(*z[keep].T, s=7, c="k")
        ax.add_patch(Circle((0, 0), radius, fill=False, color="C2", lw=1))
        lim = 1.6 * radius
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="z1", ylabel="z2")
    else:  # d >= 3: |z| against the polar angle of z/|z| from the first axis
        zc = z[keep]
        theta = np.arccos(np.clip(directions(zc)[:, 0], -1, 1)) if len(zc) else np.zeros(0)
        ax.scatter(theta, np.linalg.norm(zc, axis=1) / radius, s=7, c="k")
        ax.axhline(1.0, color="C2", lw=1)
        ax.set(xlabel="polar angle of z (rad)", ylabel="|z| / r*")


def _plot(path, sim: dict, ev: dict, d: int):
    radius, phases = sim["radius"], list(sim["panels"])
    with figure(path, 2, 5, (19, 7.5)) as axes:
        for j, ph in enumerate(phases):
            z, act = sim["panels"][ph][0]
            _scatter(axes[0][j], sim, z, cutting(act), d)
            st = ev["stats"][ph][0]
            when = f" (t = {sim['during_t'][0]:.3g})" if ph == "feature during" else ""
            axes[0][j].set_title(f"{ph}{when}: {st['cutting_neurons']} cutting neurons,\n{st['pattern_groups']} "
                                 f"activation groups, NN-angle ratio {st['nn_angle_ratio']:.2f}", fontsize=9)
            ax = axes[1][j]
            r = np.concatenate([np.linalg.norm(z[cutting(a)], axis=1) / radius for z, a in sim["panels"][ph]])
            ax.hist(r, bins=np.linspace(0, 3, 61), density=True, color="C0")
            ax.axvspan(1 - SHELL, 1 + SHELL, color="C2", alpha=0.2, label=f"label sphere +- {SHELL:.0%}")
            ax.set(xlabel="|z| / r*", ylabel="density (all seeds)",
                   title=f"shell fraction {finite_mean([s['shell_fraction'] for s in ev['stats'][ph]]):.2f}, "
                         f"spread {finite_mean([s['radial_spread'] for s in ev['stats'][ph]]):.2f}")
            ax.legend(fontsize=7)
        # the feature run in time: when does the circle form, and when do the clusters appear?
        rows = ev["trajectory"][0]
        t = [r["t"] for r in rows]
        ax = axes[0][4]
        ax.semilogx(t, [r["nn_angle_ratio"] for r in rows], "o-", ms=3, label="NN-angle ratio (1 = uniform)")
        ax.semilogx(t, [r["radial_spread"] / ev["ball_spread"] for r in rows], "s-", ms=3,
                    label="radial spread / uniform ball's")
        ax.axhline(1.0, color="k", lw=0.6)
        ax.axhline(NN_UNIFORM, color="k", lw=0.6, ls="--")
        ax.set(xlabel="t", yscale="log", title=f"feature run, seed 0: a circle needs\nspread ratio < 1 and NN ratio > "
                                                 f"{NN_UNIFORM} (dashed)")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
        ax = axes[1][4]
        ax.semilogx(t, [r["pattern_groups_effective"] for r in rows], "o-", ms=3, label="effective activation groups")
        ax.semilogx(t, [r["median_radius"] * 100 for r in rows], "s-", ms=3, label="100 x median |z| / r*")
        ax.set(xlabel="t", title="clusters form as the neurons gather")
        ax.legend(fontsize=7)


@claim("sphere-phases", "empirical", """
    Sphere model: the neurons' positions z stay where they were initialised in lazy training; in
    feature training they first gather into a circular structure that keeps the rotational
    symmetry, which at the end of training breaks into a finite number of attractors (clusters of
    neurons sharing one activation pattern).""")
def sphere_phases(ctx) -> Outcome:
    sizes = ctx.size(
        dict(d=2, p=64, h=128, ptest=1000, seeds=3, alpha_feature=0.1, alpha_lazy=1000.0, t_max=1e4, max_wall=120.0,
             checkpoints=32),
        # full: the feature regime at alpha <= 1e-3, a limit (issue 17)
        dict(d=2, p=512, h=1024, ptest=8192, seeds=8, alpha_feature=1e-3, alpha_lazy=1000.0, t_max=1e4,
             max_wall=3000.0, checkpoints=48))
    sim = simulate_phases(sizes, ctx.device, ctx.seed, ctx.training())
    return outcome(ctx, sim, sizes)


def outcome(ctx, sim: dict, sizes: dict) -> Outcome:
    """Statistics, verdict, figure and summary from a finished simulate_phases."""
    d, S = sizes["d"], sizes["seeds"]
    ev = evaluate(sim["panels"], sim["trajectory"], sim["radius"], d)
    sub = ev["sub_verdicts"]
    # the verdict is the talk's own statements (B, C, D); "near the label sphere" is reported beside it
    verdict = combine([sub["lazy_unchanged"], sub["feature_during_circle"], sub["feature_end_attractors"]])
    path = ctx.figure("sphere-phases")
    _plot(path, sim, ev, d)
    feat, lazy = sim["networks"][:S], sim["networks"][S:]
    unconverged = [f"alpha = {n['alpha']:g}, seed {n['seed']}: {n['stop_reason']} at t = {n['t']:.3g}, "
                   f"train loss {n['train_loss']:.2g}" for n in sim["networks"]
                   if n["stop_reason"] not in ("margins", "loss")]
    mean = lambda ph, key: finite_mean([s[key] for s in ev["stats"][ph]])  # noqa: E731
    best = [b or {} for b in ev["best_circle"]]
    measured = {ph: {key: mean(ph, key) for key in SHOWN} for ph in ev["stats"]}
    measured.update({
        "sub_verdicts": sub, "lazy_median_displacement": ev["lazy_displacement"],
        "effective_groups_ratio_lazy_end": ev["group_ratio_lazy"],
        "effective_groups_ratio_feature_end": ev["group_ratio_feature"], "during_time": sim["during_t"],
        "best_circle": {"t": [b.get("t") for b in best], "radial_spread": [b.get("radial_spread") for b in best],
                        "nn_angle_ratio": [b.get("nn_angle_ratio") for b in best], "score": ev["best_circle_score"]},
        "test_error_feature": [n["test_error"] for n in feat], "test_error_lazy": [n["test_error"] for n in lazy],
        "not_converged": unconverged})
    summary = _summary(sizes, sim, ev, measured, mean, unconverged)
    predicted = {"lazy_median_displacement_below": LAZY_DISPLACEMENT, "lazy_groups_ratio_above": GROUPS_KEPT,
                 "circle_radial_spread_below": ev["ball_spread"], "circle_nn_angle_ratio_above": NN_UNIFORM,
                 "end_groups_ratio_below": GROUPS_COLLAPSED, "end_nn_angle_ratio_below": NN_UNIFORM,
                 "end_shell_fraction_above_init": True}
    tolerance = {"seeds": S, "rule": "every seed on the claimed side: confirmed; none: refuted; else inconclusive",
                 "cluster_tol_over_radius": CLUSTER_TOL, "shell_half_width": SHELL}
    return Outcome(verdict, measured, predicted, tolerance, str(path), summary,
                   {"sizes": sizes, "radius": sim["radius"], "wall_s": sim["wall"], "per_seed": ev["stats"],
                    "feature_trajectory": ev["trajectory"]}, trained=Trained.of(sim["networks"]))


def _summary(sizes, sim, ev, measured, mean, unconverged) -> str:
    sub, bc = ev["sub_verdicts"], measured["best_circle"]
    return (
        f"d = {sizes['d']}, p = {sizes['p']}, h = {sizes['h']}, {sizes['seeds']} seeds, alpha "
        f"{sizes['alpha_feature']:g} (feature) and {sizes['alpha_lazy']:g} (lazy), quadratic hinge, r* = "
        f"{sim['radius']:.3f}. (B) Lazy: median |dz| = {finite_mean(ev['lazy_displacement']):.3f} r*, effective "
        f"activation groups {finite_mean(ev['group_ratio_lazy']):.2f} of init: {sub['lazy_unchanged']}. (C) Circle: the "
        f"checkpoint most like one has radial spread {finite_mean(bc['radial_spread']):.2f} (uniform ball "
        f"{ev['ball_spread']:.2f}, init {mean('init', 'radial_spread'):.2f}) and NN-angle ratio "
        f"{finite_mean(bc['nn_angle_ratio']):.2f} (uniform 1, threshold {NN_UNIFORM}): {sub['feature_during_circle']}; at "
        f"half the initial loss (t = {finite_mean(sim['during_t']):.3g}) the median |z| is "
        f"{mean('feature during', 'median_radius'):.2f} r*, NN-angle ratio "
        f"{mean('feature during', 'nn_angle_ratio'):.2f}, "
        f"effective groups {mean('feature during', 'pattern_groups_effective'):.1f}. (D) End: "
        f"{mean('feature end', 'pattern_groups'):.1f} activation groups (effective "
        f"{mean('feature end', 'pattern_groups_effective'):.1f}, {finite_mean(ev['group_ratio_feature']):.2f} of init) among "
        f"{mean('feature end', 'cutting_neurons'):.0f} cutting neurons, NN-angle ratio "
        f"{mean('feature end', 'nn_angle_ratio'):.2f}: {sub['feature_end_attractors']}. Near the label sphere "
        f"(|z|/r* in 1 +- {SHELL}): {mean('init', 'shell_fraction'):.2f} of the neurons at init, "
        f"{mean('feature end', 'shell_fraction'):.2f} at the end of feature training (median |z| "
        f"{mean('feature end', 'median_radius'):.2f} r*): {sub['feature_near_label_sphere']}. Test error feature "
        f"{finite_mean(measured['test_error_feature']):.3f}, lazy {finite_mean(measured['test_error_lazy']):.3f}."
        + (f" Not converged (stopped by t_max or the wall clock): {'; '.join(unconverged)}." if unconverged
           else " All networks converged."))
