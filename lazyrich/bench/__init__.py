"""Benchmarks: lazyrich against the alternative a user would otherwise run, measured in the same run.

Each benchmark returns {"name", "alternative", "device", "cases": [...], "ratio"}, where ratio is
the alternative's time over lazyrich's (or a count ratio, as each says) at the headline case.
One module per benchmark; timing holds the one timing helper.
"""
from __future__ import annotations

from .fixed_points import bench_fixed_points
from .integrator import bench_integrator
from .ntk import bench_ntk
from .simulate import bench_simulate
from .sweep import bench_sweep
from .z_velocity import bench_z_velocity
from ..theory.errors import LazyrichError

BENCHMARKS = {"z-velocity": bench_z_velocity, "simulate": bench_simulate, "fixed-points": bench_fixed_points,
              "ntk": bench_ntk, "sweep": bench_sweep,
              "integrator": bench_integrator}


def run_benchmark(name: str, quick: bool = False, device: str | None = None) -> dict:
    if name not in BENCHMARKS:
        raise LazyrichError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    if device is not None:  # a bad name fails here, in one line, not inside the benchmark
        from ..numerics.network import resolve_device

        resolve_device(device)
    return BENCHMARKS[name](quick=quick, device=device)
