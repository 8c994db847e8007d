"""Benchmarks: lazyrich against the obvious alternative, measured in the same run.

Each benchmark returns {"name", "alternative", "device", "cases": [...], "ratio"}, where
ratio is the alternative's time over lazyrich's at the headline case (the last, largest one).
"""
from __future__ import annotations

import time

import numpy as np

import torch


def _best_time(fn, repeats: int = 3, sync=lambda: None) -> float:
    fn()  # warm-up (compilation caches, allocator)
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_z_velocity(quick: bool = False, device: str | None = None) -> dict:
    """Compiled symbolic dz/dt for all neurons at once vs autograd through the parameter flow.

    The alternative is what one writes without the derivation: autograd of the loss for
    d theta/dt, then torch.func.jvp of z(omega, b). Both in float64 on the same device and
    inputs; the comparison also reports the largest relative difference between the two.
    """
    from ..numerics import network as N
    from ..numerics.data import stripe
    from ..validation.z_velocity import predicted_z_velocity, reference_z_velocity

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sizes = [(64, 256, 5), (256, 1024, 10)] if quick else [(64, 256, 5), (256, 1024, 10), (1024, 4096, 10)]
    cases = []
    for h, p, d in sizes:
        ds = stripe(p, d, seed=0)
        X = torch.as_tensor(ds.X, device=device)
        y = torch.as_tensor(ds.y, device=device)
        params = N.init_params(h, d, seed=0, device=device)
        f0 = N.output(*N.init_params(h, d, seed=1, device=device).tuple(), X)
        g = N.loss_weights(N.margins(*params.tuple(), X, y, f0, 1.0), y, "hinge")
        _, z, ref, _ = reference_z_velocity(params, X, y, f0, 1.0, "hinge")
        ours = predicted_z_velocity(z, params, X, g, 1.0)
        err = ((ours - ref).norm(dim=1) / ref.norm(dim=1).clamp_min(1e-300)).max().item()
        t_ours = _best_time(lambda: predicted_z_velocity(z, params, X, g, 1.0), sync=sync)
        t_alt = _best_time(lambda: reference_z_velocity(params, X, y, f0, 1.0, "hinge"), sync=sync)
        cases.append({"h": h, "p": p, "d": d, "lazyrich_s": t_ours, "alternative_s": t_alt,
                      "ratio": t_alt / t_ours, "max_rel_difference": err})
    return {"name": "z-velocity", "alternative": "autograd of the loss + torch.func.jvp of z(omega, b)",
            "device": device, "dtype": "float64", "cases": cases, "ratio": cases[-1]["ratio"]}


def _peak_flops(device: str, dtype=torch.float64) -> float:
    """The device's matmul throughput, measured now: the denominator of the FLOP fraction."""
    n = 2048 if device.startswith("cuda") else 1024
    a = torch.randn(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    return 2 * n ** 3 / _best_time(lambda: a @ a, sync=sync)


def _flops_per_evaluation(p: int, h: int, d: int) -> float:
    # pre-activations and the omega velocity (two p h d contractions), outputs, beta velocity and
    # the elementwise work, per network and velocity evaluation
    return 4 * p * h * d + 10 * p * h


def _ensemble_case(E, h, p, d, steps, device, loop_networks):
    from .simulate import SimulationConfig, build_datasets, simulate

    base = dict(data="stripe", d=d, p=p, ptest=0, h=h, alphas=(1.0,), device=device, t_max=1e9,
                max_steps=steps, checkpoints=4, track_neurons=4)
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
    import numpy as np
    from scipy.integrate import solve_ivp

    from . import network as N
    from .data import stripe
    from .simulate import SimulationConfig, simulate

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
                                      device="cpu", t_max=T, tol_output=tol, tol_angle=tol, checkpoints=2),
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
    import numpy as np

    from .simulate import SimulationConfig, build_datasets, simulate

    base = dict(data="stripe", d=5, p=64, ptest=0, h=64, alphas=(1.0,), seeds=tuple(range(64)), device=device,
                t_max=1e9, max_steps=steps, checkpoints=4, track_neurons=4)
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
    import numpy as np

    from .simulate import SimulationConfig, build_datasets, simulate

    E, loop_networks = (16, 2) if quick else (32, 4)
    base = dict(data="stripe", d=5, p=64, ptest=0, h=64, alphas=(1.0,), device=device, t_max=1e7,
                loss="quadratic-hinge", checkpoints=4, track_neurons=4, max_wall=300.0)
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
    peaks = {"cpu": _peak_flops("cpu")}
    if gpu:
        peaks["cuda"] = _peak_flops("cuda")
    for c in cases:
        c["peak_flops_per_s"] = peaks[c["device"]]
        c["fraction_of_peak"] = c["flops_per_s"] / peaks[c["device"]]
    return {"name": "simulate", "alternative": "the same algorithm, one network at a time (a loop)",
            "device": "cuda" if gpu else "cpu", "dtype": "float64", "cases": cases,
            "integrators": _integrator_steps(quick), "convergence": _time_to_convergence(quick, "cuda" if gpu else "cpu"),
            "float32": _float32_check(steps, "cuda" if gpu else "cpu"),
            "ratio": cases[-1]["ratio"]}


def _multistart_root(field, budget_s: float, seed: int = 0) -> dict:
    """The obvious alternative: scipy.optimize.root on F(z) = 0 from random starts until the
    time budget is spent; distinct roots with |F| < 1e-10 (away from z = 0) are counted."""
    from scipy.optimize import root

    from .basins import initial_positions

    starts = initial_positions(field, 100_000, seed)
    roots, tries = [], 0
    t0 = time.perf_counter()
    for z0 in starts:
        if time.perf_counter() - t0 > budget_s:
            break
        tries += 1
        sol = root(lambda z: field.velocity(z[None])[0] if z @ z > 0 else np.ones_like(z), z0, method="hybr")
        z = sol.x
        if z @ z > 1e-12 and np.linalg.norm(field.velocity(z[None])[0]) < 1e-10:
            if not any(np.linalg.norm(z - r) < 1e-6 * (1 + np.linalg.norm(r)) for r in roots):
                roots.append(z)
    return {"found": len(roots), "starts": tries, "time_s": time.perf_counter() - t0}


def bench_fixed_points(quick: bool = False, device: str | None = None) -> dict:
    """All equilibria by arrangement enumeration vs multi-start scipy.optimize.root, same time.

    Data: Gaussian inputs, labels y = sign of a Gaussian, g = y, sign b = sign beta = +1.
    ``ratio``: equilibria found by lazyrich over those found by the alternative (at least 1) at
    the headline case p = 300, d = 3, the issue's d = 3 target (its p = 1000, d = 2 target field
    has a single equilibrium on these data, so a count ratio there says nothing). Cases beyond
    ``max_vertices`` use the sampling fallback and are marked complete = false.
    """
    from .equilibria import find_equilibria
    from .neuron_field import NeuronField

    sizes = [(100, 2), (1000, 2), (100, 3), (300, 3)] if quick else \
        [(100, 2), (1000, 2), (5000, 2), (100, 3), (300, 3), (1000, 3), (5000, 3), (100, 5), (1000, 5), (5000, 5)]
    cases = []
    for p, d in sizes:
        rng = np.random.default_rng(p * 10 + d)
        X = rng.standard_normal((p, d))
        g = np.where(rng.standard_normal(p) > 0, 1.0, -1.0)
        field = NeuronField(X, g, 1, 1)
        t0 = time.perf_counter()
        res = find_equilibria(field, polish=False, fallback_samples=2000)
        elapsed = time.perf_counter() - t0
        alt = _multistart_root(field, budget_s=elapsed)
        cases.append({"p": p, "d": d, "time_s": elapsed, "enumerate_s": res.timing["enumerate_s"],
                      "classify_s": res.timing["classify_s"], "found": len(res.equilibria),
                      "stable": len(res.stable), "regular": sum(e.kind == "regular" for e in res.equilibria),
                      "complete": res.complete, "method": res.method,
                      "alternative_found": alt["found"], "alternative_starts": alt["starts"]})
    head = next(c for c in cases if (c["p"], c["d"]) == (300, 3))
    return {"name": "fixed-points", "alternative": "multi-start scipy.optimize.root (hybr) on F(z) = 0, same time",
            "device": "cpu", "cases": cases, "ratio": head["found"] / max(1, head["alternative_found"])}


from .bench_ntk import bench_ntk  # noqa: E402  (it uses the timing helpers above)
from ..sweep.bench import bench_sweep  # noqa: E402

BENCHMARKS = {"z-velocity": bench_z_velocity, "simulate": bench_simulate, "fixed-points": bench_fixed_points,
              "ntk": bench_ntk, "sweep": bench_sweep}


def run_benchmark(name: str, quick: bool = False, device: str | None = None) -> dict:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name](quick=quick, device=device)
