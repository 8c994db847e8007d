"""``lazyrich bench ntk``: the closed-form empirical NTK against torch.func on the same network.

The alternatives are the two generic ways to get an NTK Gram matrix (as in neural-tangents):
Jacobian contraction J J^T (``ratio`` is its time over the closed form's) and NTK-vector
products J (J^T e), one column at a time. All in float64; the agreement is reported.
"""
from __future__ import annotations

import torch

from ..numerics.kernels.ntk import auto_tile, empirical_ntk
from ..numerics.kernels.ntk_references import ntk_parametrization, reference_ntk
from .timing import best_time, peak_flops


def _performed_flops(p: int, h: int, tile: int) -> float:
    """Multiply-adds of the two (tile x h x tile) products on the tiles the symmetric Gram computes."""
    total = 0
    for i in range(0, p, tile):
        for j in range(i, p, tile):
            total += 4 * (min(tile, p - i) * min(tile, p - j) * h)
    return float(total)


def _case(p: int, h: int, d: int, device: str, nvp_columns: int) -> dict:
    gen = torch.Generator(device="cpu").manual_seed(0)
    new = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64).to(device)  # noqa: E731
    X = new(p, d)
    params = {"omega": new(h, d), "b": new(h), "beta": new(h)}
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    closed = lambda: empirical_ntk(params["omega"], params["b"], params["beta"], X)  # noqa: E731
    K = closed()
    t_closed = best_time(closed, repeats=7, sync=sync)
    jacobian = lambda: reference_ntk("jacobian", ntk_parametrization, params, X)  # noqa: E731
    J = jacobian()
    t_jac = best_time(jacobian, repeats=2, sync=sync)
    cols = torch.arange(min(nvp_columns, p))
    products = lambda: reference_ntk("vector-products", ntk_parametrization, params, X, columns=cols)  # noqa: E731
    V = products()
    t_cols = best_time(products, repeats=1, sync=sync)
    tile = auto_tile(p, device)
    flops = _performed_flops(p, h, tile)
    return {"p": p, "h": h, "d": d, "closed_form_s": t_closed, "jacobian_contraction_s": t_jac,
            "ntk_vector_products_s": t_cols * p / cols.numel(), "nvp_columns_timed": int(cols.numel()),
            "max_abs_diff_jacobian": float((K - J).abs().max()),
            "max_abs_diff_nvp": float((K[:, cols].T - V).abs().max()),
            "closed_form_gflops": flops / t_closed / 1e9,
            "ratio": t_jac / t_closed, "ratio_nvp": t_cols * p / cols.numel() / t_closed}


def bench_ntk(quick: bool = False, device: str | None = None) -> dict:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not quick:
        sizes = [(1024, 1024, 10), (4096, 4096, 10)]
    elif quick:
        sizes = [(256, 256, 10)]
    else:
        sizes = [(256, 256, 10), (1024, 1024, 10)]
    cases = [_case(p, h, d, device, nvp_columns=p if p <= 256 else 128) for p, h, d in sizes]
    peak = peak_flops(device)
    for c in cases:
        c["fraction_of_matmul_peak"] = c["closed_form_gflops"] * 1e9 / peak
    agree = max(max(c["max_abs_diff_jacobian"], c["max_abs_diff_nvp"]) for c in cases)
    return {"name": "ntk", "alternative": "torch.func Jacobian contraction (and NTK-vector products)",
            "device": device, "dtype": "float64", "threads": torch.get_num_threads(),
            "matmul_peak_gflops": peak / 1e9, "cases": cases, "agreement": agree,
            "agree_1e-10": bool(agree < 1e-10),
            "ratio": cases[-1]["ratio"]}
