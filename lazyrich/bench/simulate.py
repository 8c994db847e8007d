"""``lazyrich bench simulate``: the batched ensemble against the same algorithm one network at a time."""
from __future__ import annotations

import time

import numpy as np
import torch

from ..numerics import network as N
from ..numerics.data import stripe
from ..numerics.simulator import SimulationConfig, build_datasets, simulate
from .timing import peak_flops

# this benchmark measures the batched Euler controller (the flops model is its evaluation's, and float32 is a
# question for it only: the Filippov integrator needs float64); bench integrator measures filippov
EULER = {"integrator": "euler"}


def _flops_per_evaluation(p: int, h: int, d: int) -> float:
    # pre-activations and the omega velocity (two p h d contractions), outputs, beta velocity and
    # the elementwise work, per network and velocity evaluation
    return 4 * p * h * d + 10 * p * h


def _ensemble_case(E, h, p, d, steps, device, loop_networks):
    base = dict(data="stripe", d=d, p=p, ptest=0, h=h, alphas=(1.0,), device=device, t_max=1e9,
                max_steps=steps, checkpoints=4, track_neurons=4, **EULER)
    cfg = SimulationConfig(**base, seeds=tuple(range(E)))
    data = build_datasets(cfg)
    simulate(SimulationConfig(**{**base, "max_steps": 3}, seeds=(0, 1)), progress=False, datasets=data)  # warm-up
    t0 = time.perf_counter()
    batched = simulate(cfg, progress=False, datasets=data)
    t_batched = time.perf_counter() - t0
    evals_batched = float((batched.arrays["final_steps"] + batched.arrays["final_rejected"]).sum())
    # the same algorithm, one network at a time (a subset of the networks: the rate is per network)
    t0 = time.perf_counter()
    evals_loop = 0.0
    for seed in range(loop_networks):
        one = simulate(SimulationConfig(**base, seeds=(seed,)), progress=False, datasets=data)
        evals_loop += float(one.arrays["final_steps"][0] + one.arrays["final_rejected"][0])
    t_loop = time.perf_counter() - t0
    rate_b, rate_l = evals_batched / t_batched, evals_loop / t_loop
    return {"E": E, "h": h, "p": p, "d": d, "steps_per_network": steps, "device": device,
            "batched_network_steps_per_s": rate_b, "loop_network_steps_per_s": rate_l,
            "loop_networks_measured": loop_networks, "batched_s": t_batched, "ratio": rate_b / rate_l,
            "flops_per_s": rate_b * _flops_per_evaluation(p, h, d)}


def _integrator_steps(quick: bool) -> list[dict]:
    """Steps for the same final accuracy: the error-controlled Euler flow vs scipy's RK45."""
    from scipy.integrate import solve_ivp

    h = p = 8
    d, T = 3, 0.5
    budget = 20_000 if quick else 100_000
    ds = stripe(p, d, seed=0)
    X, y = torch.as_tensor(ds.X), torch.as_tensor(ds.y)
    P = N.init_params(h, d, seed=0)
    f0 = N.output(*P.tuple(), X)
    nfev = [0]

    class OverBudget(Exception):
        pass

    flow = N.flat_velocity(X, y, f0, 1.0, "mse", h, d)

    def rhs(t, v):
        nfev[0] += 1
        if nfev[0] > budget:  # classical solvers can grind at the ReLU kinks: cap them
            raise OverBudget
        return flow(t, v)

    def margins(v):
        return (y * (N.output(*N.Params.from_flat(v, h, d).tuple(), X) - f0)).numpy()

    v0 = P.flat()

    def run_scipy(method, rtol):
        nfev[0] = 0
        try:
            sol = solve_ivp(rhs, (0, T), v0, method=method, rtol=rtol, atol=rtol * 1e-2)
            return margins(sol.y[:, -1]), nfev[0]
        except OverBudget:
            return None, budget

    ref, ref_evals = run_scipy("DOP853", 1e-10)
    if ref is None:
        return [{"integrator": "scipy DOP853 rtol=1e-10 (reference)", "evaluations": ref_evals, "finished": False}]
    rows = [{"integrator": "scipy DOP853 rtol=1e-10 (reference)", "evaluations": ref_evals, "finished": True}]
    for tol in ((1e-2, 1e-3) if quick else (1e-2, 1e-3, 1e-4)):
        r = simulate(SimulationConfig(data="stripe", d=d, p=p, ptest=0, h=h, alphas=(1.0,), seeds=(0,), loss="mse",
                                      device="cpu", t_max=T, tol_output=tol, tol_angle=tol, checkpoints=2, **EULER),
                     progress=False)
        rows.append({"integrator": f"lazyrich euler tol={tol:g}", "evaluations":
                     int(r.arrays["final_steps"][0] + r.arrays["final_rejected"][0]),
                     "finished": True, "max_margin_error": float(np.abs(r.arrays["final_margins"][0] - ref).max())})
    for rtol in (1e-3, 1e-6):
        m, evals = run_scipy("RK45", rtol)
        rows.append({"integrator": f"scipy RK45 rtol={rtol:g}", "evaluations": evals, "finished": m is not None,
                     "max_margin_error": None if m is None else float(np.abs(m - ref).max())})
    return rows


def _float32_check(steps: int, device: str) -> dict:
    """Is float32 safe? The same ensemble in both precisions: speed and how far the margins part."""
    base = dict(data="stripe", d=5, p=64, ptest=0, h=64, alphas=(1.0,), seeds=tuple(range(64)), device=device,
                t_max=1e9, max_steps=steps, checkpoints=4, track_neurons=4, **EULER)
    data = build_datasets(SimulationConfig(**base))
    out = {}
    for dtype in ("float64", "float32"):
        t0 = time.perf_counter()
        r = simulate(SimulationConfig(**base, dtype=dtype), progress=False, datasets=data)
        out[dtype] = (time.perf_counter() - t0, r.arrays["final_margins"], r.arrays["final_t"])
    diff = float(np.abs(out["float32"][1] - out["float64"][1]).max())
    return {"E": 64, "h": 64, "p": 64, "steps_per_network": steps, "speedup_float32": out["float64"][0] / out["float32"][0],
            "max_margin_difference": diff, "max_time_difference": float(np.abs(out["float32"][2] - out["float64"][2]).max()),
            "verdict": "safe at this size (margins within 1e-3)" if diff < 1e-3 else
            "not safe: use float64 where numbers are compared with theory"}


def _time_to_convergence(quick: bool, device: str) -> dict:
    """Train to convergence (quadratic hinge, every margin reached): batched vs one at a time."""
    E, loop_networks = (16, 2) if quick else (32, 4)
    base = dict(data="stripe", d=5, p=64, ptest=0, h=64, alphas=(1.0,), device=device, t_max=1e7,
                loss="quadratic-hinge", checkpoints=4, track_neurons=4, max_wall=300.0, **EULER)
    data = build_datasets(SimulationConfig(**base, seeds=(0,)))
    t0 = time.perf_counter()
    batched = simulate(SimulationConfig(**base, seeds=tuple(range(E))), progress=False, datasets=data)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for seed in range(loop_networks):
        simulate(SimulationConfig(**base, seeds=(seed,)), progress=False, datasets=data)
    t_loop_per_network = (time.perf_counter() - t0) / loop_networks
    steps = batched.arrays["final_steps"]
    return {"E": E, "h": 64, "p": 64, "d": 5, "loss": "quadratic-hinge", "alpha": 1.0,
            "converged": int(sum(r == "margins" for r in batched.stop_reason)),
            "mean_steps": float(np.mean(steps)), "mean_forced_steps": float(np.mean(batched.arrays["final_forced"])),
            "mean_flow_time": float(np.mean(batched.arrays["final_t"])), "batched_s": t_batched,
            "loop_s_estimated": t_loop_per_network * E, "loop_networks_measured": loop_networks,
            "ratio": t_loop_per_network * E / t_batched}


def bench_simulate(quick: bool = False, device: str | None = None) -> dict:
    """The batched ensemble against the same algorithm run one network at a time.

    CPU case: E = 256 networks with h = p = 64, d = 5; GPU case (when there is one): E = 64,
    h = p = 1000, d = 5. Throughput in network-steps per second (a step is one velocity
    evaluation, accepted or rejected), the FLOP/s reached against the matmul peak measured in
    the same run, and the evaluations each integrator needs for a given final accuracy.
    """
    gpu = torch.cuda.is_available() and device != "cpu"
    steps = 30 if quick else 100
    cases = [_ensemble_case(256, 64, 64, 5, steps, "cpu", loop_networks=16 if quick else 32)]
    if gpu:
        cases.append(_ensemble_case(64, 1000, 1000, 5, steps, "cuda", loop_networks=8))
    peaks = {"cpu": peak_flops("cpu")}
    if gpu:
        peaks["cuda"] = peak_flops("cuda")
    for c in cases:
        c["peak_flops_per_s"] = peaks[c["device"]]
        c["fraction_of_peak"] = c["flops_per_s"] / peaks[c["device"]]
    return {"name": "simulate", "alternative": "the same algorithm, one network at a time (a loop)",
            "device": "cuda" if gpu else "cpu", "dtype": "float64", "cases": cases,
            "integrators": _integrator_steps(quick), "convergence": _time_to_convergence(quick, "cuda" if gpu else "cpu"),
            "float32": _float32_check(steps, "cuda" if gpu else "cpu"),
            "ratio": cases[-1]["ratio"]}
