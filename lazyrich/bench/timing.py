"""One timing helper for every benchmark: the best of a few runs, and the device's matmul peak."""
from __future__ import annotations

import time

import torch


def best_time(fn, repeats: int = 3, sync=lambda: None) -> float:
    fn()  # warm-up (compilation caches, allocator)
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_flops(device: str, dtype=torch.float64) -> float:
    """The device's matmul throughput, measured now: the denominator of the FLOP fraction."""
    n = 2048 if device.startswith("cuda") else 1024
    a = torch.randn(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    return 2 * n ** 3 / best_time(lambda: a @ a, sync=sync)
