"""``lazyrich bench integrator``: time to convergence of the Filippov integrator against Euler with rollback.

The baseline is feature_lazy's rule (steppers.py, ``euler-rollback``), what a user of the field runs;
today's kink controller (``euler``) is measured beside it. Every integrator trains the same network
(same data, same seed) in the same process, one after the other, with a wall-clock cap; a capped
baseline makes the ratio a lower bound (``lower_bound``), a capped Filippov run an upper bound.

``smooth``: a smooth loss (MSE, alpha = 1, p = h = 64, to t = 10), where both integrators reach the same time and
the question is what accuracy a second buys: each integrator at a loose and a tight tolerance, its time, steps and
final training loss, and its distance to the tightest filippov run (the reference, the first row).
"""
from __future__ import annotations

import time

import numpy as np

from ..numerics.simulator import SimulationConfig, build_datasets, simulate

HEADLINE = {"data": "stripe", "d": 5, "p": 256, "h": 256, "data_seed": 0, "seeds": (0,), "loss": "hinge"}
CAP_S = 600.0
SMOOTH = {"data": "stripe", "d": 5, "p": 64, "h": 64, "data_seed": 0, "seeds": (0,), "loss": "mse", "alphas": (1.0,),
          "t_max": 10.0}
SMOOTH_RUNS = (("filippov", {"tol_local": 1e-9}), ("filippov", {"tol_local": 1e-7}), ("filippov", {"tol_local": 1e-5}),
               ("euler", {"tol_output": 0.02}), ("euler", {"tol_output": 2e-4}))


def _train(sizes: dict, alpha: float, integrator: str, cap: float, device) -> dict:
    cfg = SimulationConfig(**sizes, ptest=0, alphas=(alpha,), integrator=integrator, device=device or "auto",
                           t_max=1e9, checkpoints=3, track_neurons=0, max_wall=cap, max_steps=10**8)
    data = build_datasets(cfg)
    t0 = time.perf_counter()
    res = simulate(cfg, progress=False, datasets=data)
    seconds = time.perf_counter() - t0
    nets = res.networks()
    mins = [n["min_margin"] for n in nets]
    return {"integrator": integrator, "alpha": alpha, "E": len(nets), "p": cfg.p, "h": cfg.h,
            "seconds": seconds, "steps": int(sum(n["steps"] for n in nets)),
            "rejected_steps": int(sum(n["rejected_steps"] for n in nets)),
            "forced_steps": int(sum(n["forced_steps"] for n in nets)), "events": int(sum(n["events"] for n in nets)),
            "converged": all(n["converged"] for n in nets),
            "converged_fraction": float(np.mean([n["stop_reason"] == "margins" for n in nets])),
            "min_margin": float(min(mins)), "flow_time": float(max(n["t"] for n in nets)),
            "imbalance_drift": float(max(res.imbalance_drift(e) for e in range(len(nets)))),
            "capped": any(n["stop_reason"] == "wall" for n in nets)}


def smooth_losses(sizes: dict = SMOOTH, device=None) -> list[dict]:
    """Every SMOOTH_RUNS setting on the same network to the same time: one row each, the first the reference."""
    rows = []
    for integrator, tol in SMOOTH_RUNS:
        cfg = SimulationConfig(**sizes, ptest=0, integrator=integrator, device=device or "auto", checkpoints=2,
                               track_neurons=0, **tol)
        t0 = time.perf_counter()
        net = simulate(cfg, progress=False).networks()[0]
        rows.append({"case": f"{cfg.loss} alpha={cfg.alphas[0]:g} p={cfg.p} h={cfg.h} t={cfg.t_max:g}",
                     "integrator": integrator, **tol, "seconds": time.perf_counter() - t0, "steps": net["steps"],
                     "rejected_steps": net["rejected_steps"], "t": net["t"], "train_loss": net["train_loss"]})
    for row in rows:
        row["loss_error"] = abs(row["train_loss"] - rows[0]["train_loss"])
    return rows


def bench_integrator(quick: bool = False, device: str | None = None) -> dict:
    if quick:  # under 5 minutes on 2 cores
        head, cap = {**HEADLINE, "p": 64, "h": 64}, 35.0
        ensemble = {**HEADLINE, "p": 128, "h": 128, "seeds": tuple(range(4))}
    else:
        head, cap = HEADLINE, CAP_S
        ensemble = {**HEADLINE, "p": 1024, "h": 1024, "seeds": tuple(range(8))}
    cases = []
    for alpha in (1e-3, 1e3):
        for integrator in ("filippov", "euler-rollback", "euler"):
            cases.append({"case": f"alpha={alpha:g}", **_train(head, alpha, integrator, cap, device)})
    cases.append({"case": f"ensemble E={len(ensemble['seeds'])}",
                  **_train(ensemble, 1e-3, "filippov", cap if quick else CAP_S, device)})
    fil, base = cases[0], cases[1]
    return {"name": "integrator", "alternative": "euler-rollback (feature_lazy's rule)", "device": device or "auto",
            "quick": quick, "cap_s": cap, "cases": cases, "ratio": base["seconds"] / fil["seconds"],
            "lower_bound": base["capped"] and fil["converged"], "upper_bound": fil["capped"],
            "headline": {"p": head["p"], "h": head["h"], "alpha": 1e-3, "filippov_converged": fil["converged"],
                         "baseline_converged": base["converged"]},
            "smooth": smooth_losses(device=device)}
