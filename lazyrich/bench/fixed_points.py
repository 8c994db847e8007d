"""``lazyrich bench fixed-points``: every equilibrium by enumeration against multi-start scipy root finding."""
from __future__ import annotations

import time

import numpy as np

from ..numerics.fixed_points.basins import initial_positions
from ..numerics.fixed_points.equilibria import find_equilibria
from ..numerics.fixed_points.neuron_field import NeuronField


def _multistart_root(field, budget_s: float, seed: int = 0) -> dict:
    """The obvious alternative: scipy.optimize.root on F(z) = 0 from random starts until the
    time budget is spent; distinct roots with |F| < 1e-10 (away from z = 0) are counted."""
    from scipy.optimize import root

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
