"""``lazyrich bench sweep``: what the sweep machinery costs per run, local against Dask.

Two sets of runs, each timed four ways in the same process: a plain loop calling the job
functions (no store, no workers: the obvious alternative), the local backend with 1 and with 2
workers, and Dask on a LocalCluster of 2 workers. Fresh stores every time.

- many small runs (``kernel`` jobs of a few ms): at two sizes N1 < N2, so that each backend's
  wall time is split as wall = startup + N x per_run; its overhead per run is per_run minus the
  loop's time per run divided by the workers (worker time not spent computing: scheduling,
  serialisation, the store);
- a few heavier runs (``simulate``, a fraction of a second each): the parallel speed-up.

``ratio``: the loop's wall time over the local backend's with 2 workers, on the heavier runs.
"""
from __future__ import annotations

import tempfile
import time

from ..sweep.execute import run_sweep
from ..sweep.jobs import kind_spec
from ..sweep.spec import expand
from ..sweep.store import Store

BACKENDS = (("local", 1), ("local", 2), ("dask", 2))


def _kernel_runs(n: int, offset: int = 0):
    return expand({"job": {"kind": "kernel", "fixed": {"model": "stripe", "d": 3, "p": 32},
                           "seeds": list(range(offset, offset + n))}})


def _simulate_runs(n: int):
    return expand({"job": {"kind": "simulate", "seeds": n, "fixed": {
        "data": "stripe", "d": 3, "p": 64, "ptest": 100, "h": 32, "t_max": 100.0, "max_steps": 600,
        "checkpoints": 4, "track_neurons": 4, "alpha": 0.1}}})


def _loop(runs) -> float:
    t0 = time.perf_counter()
    for r in runs:
        kind_spec(r.kind).run(dict(r.params), "cpu")
    return time.perf_counter() - t0


def _sweep(runs, backend: str, workers: int) -> float:
    with tempfile.TemporaryDirectory() as where, Store(where) as store:
        t0 = time.perf_counter()
        report = run_sweep(runs, store, name="bench", backend=backend, workers=workers, device="cpu", progress=False)
        wall = time.perf_counter() - t0
    if report.done != len(runs):
        raise RuntimeError(f"bench sweep: {report.failed} of {len(runs)} runs failed: {report.failures[:1]}")
    return wall


def bench_sweep(quick: bool = False, device: str | None = None) -> dict:
    n1, n2 = (40, 200) if quick else (100, 1000)
    heavy = 8 if quick else 24
    _loop(_kernel_runs(2, offset=10 ** 6))  # imports and first-call caches out of the timings
    small = _kernel_runs(n2)
    loop_small = _loop(small) / n2
    cases = []
    for backend, workers in BACKENDS:
        walls = [_sweep(_kernel_runs(n, offset=n), backend, workers) for n in (n1, n2)]
        per_run = (walls[1] - walls[0]) / (n2 - n1)
        cases.append({"case": "small runs", "backend": backend, "workers": workers, "runs": n2,
                      "wall_s": walls[1], "startup_s": max(0.0, walls[0] - n1 * per_run), "per_run_ms": 1e3 * per_run,
                      "overhead_per_run_ms": 1e3 * (per_run - loop_small / workers),
                      "loop_per_run_ms": 1e3 * loop_small})
    runs = _simulate_runs(heavy)
    loop_heavy = _loop(runs)
    cases.append({"case": "heavier runs", "backend": "loop (no store)", "workers": 1, "runs": heavy,
                  "wall_s": loop_heavy, "speedup_vs_loop": 1.0})
    for backend, workers in BACKENDS:
        wall = _sweep(runs, backend, workers)
        cases.append({"case": "heavier runs", "backend": backend, "workers": workers, "runs": heavy, "wall_s": wall,
                      "speedup_vs_loop": loop_heavy / wall})
    head = next(c for c in cases if c["case"] == "heavier runs" and c["backend"] == "local" and c["workers"] == 2)
    return {"name": "sweep", "alternative": "a plain loop over the job functions (no store, one process)",
            "device": "cpu", "cases": cases, "ratio": head["speedup_vs_loop"]}
