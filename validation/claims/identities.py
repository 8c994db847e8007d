"""Identities: checks that must pass if lazyrich is right.

- ``z-velocity``: the neurons' z measured in simulated training move with the derived dz/dt.
- ``ntk-init``: the empirical NTK at initialisation converges to the analytic one like h^-1/2.
- ``lazy-limit``: at large alpha, |omega - omega_0|/|omega_0| ~ 1/alpha and the network is the
  kernel machine of its initial NTK.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ...numerics import network as N
from ...numerics.data import make
from ...numerics.kernels.kernel_machines import kernel_gradient_flow
from ...numerics.kernels.ntk import analytic_kernel, empirical_ntk, neuron_terms
from ...numerics.simulator import SimulationConfig, build_datasets, simulate
from ...theory.derived import derive
from ..claim import Outcome, claim, verdict_within
from ..plotting import figure


@claim("z-velocity", "identity", """
    In simulated training (feature regime, stripe model) each neuron's position
    z = -sqrt(d) b omega/|omega|^2 moves with the velocity dz/dt derived symbolically in theory/
    (derive z-velocity), evaluated at the recorded z, b, beta and margins.""")
def z_velocity(ctx) -> Outcome:
    p, h = ctx.size((64, 64), (1024, 1024))
    T, gap = 0.5, 1e-7  # two checkpoints a relative 1e-7 apart, during training
    # the Euler controller at any size: the identity is dz/dt off the kinks, where an Euler step of 1e-7 is the
    # formula itself. The Filippov integrator holds neurons on their switching surfaces (u = 0, a pair weight
    # inside [0, 1]), whose dz/dt is the sliding velocity, not the formula's: at p = h = 64, t = 0.5, 9 of the 64
    # neurons, 6 of them with a pair within 1e-9 of its surface (measured)
    cfg = SimulationConfig(data="stripe", d=5, p=p, ptest=0, h=h, alphas=(0.1,), loss="hinge", seeds=(ctx.seed,),
                           t_first=T, t_max=T * (1 + gap), checkpoints=2, track_neurons=h, device=ctx.device,
                           integrator="euler")
    res = simulate(cfg, progress=False)
    train, _ = build_datasets(cfg)
    a = res.arrays
    z0, z1 = a["z"][0, 0], a["z"][0, 1]
    dt = a["t"][0, 1] - a["t"][0, 0]
    measured = (z1 - z0) / dt
    X = torch.as_tensor(train.X)
    y = torch.as_tensor(train.y)
    g = N.loss_weights(torch.as_tensor(a["margins"][0, 0]), y, cfg.loss)
    predicted = derive("z-velocity").compile("torch", "zdot")(
        z=torch.as_tensor(z0), b=torch.as_tensor(a["b"][0, 0]), beta=torch.as_tensor(a["beta"][0, 0]), x=X, g=g,
        alpha=cfg.alphas[0]).numpy()
    predicted = ctx.perturbed("z-velocity", predicted)
    # a neuron whose activation pattern changes inside the step has no velocity there: leave it out
    same = (a["patterns"][0, 0] == a["patterns"][0, 1]).all(1)
    moving = np.linalg.norm(predicted, axis=1) > 0
    keep = same & moving
    err = np.linalg.norm(measured - predicted, axis=1)[keep]
    speed = np.linalg.norm(predicted, axis=1)[keep]
    rel = err / speed
    worst = float(rel.max()) if rel.size else float("nan")
    tol = 1e-5  # the Euler step of length dt leaves an O(dt) = O(1e-7) error
    # a neuron that barely moves is measured from z1 - z0, which carries the rounding of z itself:
    # about eps |z| per coordinate, divided by dt. Each neuron may deviate by tol relative to its
    # speed plus 10 such roundings (at p = h = 1024: |dz/dt| = 2e-4 for the slowest, |z| = 3,
    # so the rounding alone is 6e-5 of its speed)
    rounding = 10 * np.finfo(np.float64).eps * (np.linalg.norm(z0, axis=1) + np.linalg.norm(z1, axis=1))[keep] / dt
    within = err <= tol * speed + rounding
    path = ctx.figure("z-velocity")
    with figure(path, 1, 2, (10, 4)) as axes:
        axes[0].loglog(np.linalg.norm(predicted, axis=1)[keep], np.linalg.norm(measured, axis=1)[keep], ".")
        lim = [np.linalg.norm(predicted, axis=1)[keep].min(), np.linalg.norm(predicted, axis=1)[keep].max()]
        axes[0].plot(lim, lim, "k-", lw=0.8)
        axes[0].set(xlabel="|dz/dt| derived", ylabel="|dz/dt| measured", title="speed of every neuron")
        axes[1].hist(np.log10(np.maximum(rel, 1e-18)), bins=30)
        axes[1].axvline(math.log10(tol), color="r", label="tolerance")
        axes[1].set(xlabel="log10 relative error", ylabel="neurons", title="derived vs measured")
        axes[1].legend()
    return Outcome("confirmed" if rel.size and within.all() else "refuted",
                   {"max_relative_error": worst, "median_relative_error": float(np.median(rel)) if rel.size else None,
                    "neurons_within_tolerance": int(within.sum()), "neurons_compared": int(keep.sum()),
                    "dt": float(dt)},
                   {"relative_error": 0.0},
                   {"relative_error": tol, "plus_rounding": "10 eps (|z0| + |z1|)/dt, per neuron"}, str(path),
                   f"{int(keep.sum())} of {h} neurons compared (the others switch activation inside the step or "
                   f"do not move), {int(within.sum())} within tolerance; largest relative error {worst:.2e}, median "
                   f"{float(np.median(rel)) if rel.size else float('nan'):.2e}, for a step dt = {dt:.1e}.")


@claim("ntk-init", "identity", """
    The empirical NTK of a network at initialisation (NTK scaling) converges to the analytic
    infinite-width NTK derived in theory/: its rms deviation falls like h^-1/2, and every entry
    of the widest network lies within 4 Monte Carlo standard errors of the limit.""")
def ntk_init(ctx) -> Outcome:
    p, widths, seeds = ctx.size((48, [64, 256, 1024, 4096], 8), (256, [64, 256, 1024, 4096, 16384, 65536], 16))
    device = torch.device(ctx.device)
    X = torch.as_tensor(make("stripe", p, 5, seed=ctx.seed).X, device=device)
    exact = ctx.perturbed("ntk-init", analytic_kernel(X))
    rms = []
    for h in widths:
        errs = []
        for s in range(seeds):
            g = torch.Generator().manual_seed(1000 * h + s)
            params = [torch.randn(*shape, generator=g, dtype=torch.float64).to(device) for shape in ((h, 5), (h,), (h,))]
            errs.append(float(((empirical_ntk(*params, X) - exact) ** 2).mean()))
        rms.append(math.sqrt(float(np.mean(errs))))
    slope = float(np.polyfit(np.log(widths), np.log(rms), 1)[0])
    # z-scores of the widest network, from the spread of its own neuron terms
    h = widths[-1]
    g = torch.Generator().manual_seed(7)
    omega, b, beta = (torch.randn(*shape, generator=g, dtype=torch.float64).to(device) for shape in ((h, 5), (h,), (h,)))
    terms = neuron_terms(omega, b, beta, X[:16])
    zscore = ((terms.mean(0) - exact[:16, :16]) / (terms.std(0) / math.sqrt(h))).abs()
    within = float((zscore <= 4).double().mean())
    tol = 0.1
    verdict = "confirmed" if verdict_within(slope, -0.5, tol) == "confirmed" and within >= 0.99 else "refuted"
    path = ctx.figure("ntk-init")
    with figure(path, 1, 1, (5.5, 4)) as ax:
        ax.loglog(widths, rms, "o", label="measured")
        ax.loglog(widths, rms[0] * (np.array(widths) / widths[0]) ** -0.5, "k--", label=r"$h^{-1/2}$")
        ax.set(xlabel="width h", ylabel="rms |Theta_h - Theta_inf|", title=f"empirical vs analytic NTK, p = {p}")
        ax.legend()
    return Outcome(verdict, {"slope": slope, "rms": rms, "fraction_within_4_se": within}, {"slope": -0.5},
                   {"slope": tol, "fraction_within_4_se": 0.99}, str(path),
                   f"rms error {rms[0]:.3g} at h = {widths[0]} down to {rms[-1]:.3g} at h = {widths[-1]} "
                   f"({seeds} seeds): slope {slope:.3f}; {within:.1%} of the entries of the h = {h} kernel within "
                   "4 standard errors.")


@claim("lazy-limit", "identity", """
    At large alpha the trained network is the kernel machine of its NTK at initialisation
    (same loss, same time), and its weights move by |omega - omega_0|/|omega_0| ~ 1/alpha.""")
def lazy_limit(ctx) -> Outcome:
    p, h, alphas = ctx.size((32, 256, (1e2, 1e3, 1e4)), (256, 1024, (1e1, 1e2, 1e3, 1e4, 1e5)))
    cfg = SimulationConfig(data="stripe", d=5, p=p, ptest=200, h=h, alphas=alphas, loss="hinge", seeds=(ctx.seed,),
                           t_max=3.0, checkpoints=3, tol_output=1e-3, device=ctx.device)
    res = simulate(cfg, progress=False)
    train, test = build_datasets(cfg)
    change = np.array([n["rel_change_omega"] for n in res.networks()])
    slope = float(np.polyfit(np.log(alphas), np.log(change), 1)[0])
    X, Xt = torch.as_tensor(train.X), torch.as_tensor(test.X)
    init = res.params(0, final=False)
    K = ctx.perturbed("lazy-limit", empirical_ntk(*init, X).numpy())
    Kt = ctx.perturbed("lazy-limit", empirical_ntk(*init, Xt, X).numpy())
    gaps = []
    for e, net in enumerate(res.networks()):
        final = [torch.as_tensor(v) for v in res.params(e, final=True)]
        start = [torch.as_tensor(v) for v in init]
        F_net = net["alpha"] * (N.output(*final, Xt) - N.output(*start, Xt)).numpy()
        F_ker = kernel_gradient_flow(K, train.y, [net["t"]], cfg.loss, K_test=Kt)["F_test"][-1]
        gaps.append(float(np.abs(F_net - F_ker).max() / max(1e-12, np.abs(F_ker).max())))
    tol_slope, tol_gap = 0.1, 1e-2
    ok = verdict_within(slope, -1.0, tol_slope) == "confirmed" and gaps[-1] <= tol_gap
    path = ctx.figure("lazy-limit")
    with figure(path, 1, 1, (5.5, 4)) as ax:
        ax.loglog(alphas, change, "o-", label=r"$|\omega-\omega_0|/|\omega_0|$")
        ax.loglog(alphas, gaps, "s-", label="max |F_net - F_kernel| / max |F_kernel| (test)")
        ax.loglog(alphas, change[0] * (np.array(alphas) / alphas[0]) ** -1.0, "k--", label=r"$1/\alpha$")
        ax.set(xlabel=r"$\alpha$", title=f"lazy limit, stripe p = {p}, h = {h}, hinge")
        ax.legend(fontsize=8)
    return Outcome("confirmed" if ok else "refuted",
                   {"slope_rel_change": slope, "rel_change_omega": change.tolist(), "relative_gap_test": gaps},
                   {"slope_rel_change": -1.0, "relative_gap_test": 0.0},
                   {"slope_rel_change": tol_slope, "relative_gap_test_at_largest_alpha": tol_gap}, str(path),
                   f"|omega - omega_0|/|omega_0| falls with slope {slope:.3f} in alpha; the network's test outputs "
                   f"differ from the kernel machine's by {gaps[-1]:.2e} (relative) at alpha = {alphas[-1]:g}.")
