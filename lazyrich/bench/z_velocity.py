"""``lazyrich bench z-velocity``: the compiled symbolic dz/dt against autograd through the parameter flow."""
from __future__ import annotations

import torch

from ..numerics import network as N
from ..numerics.data import stripe
from ..numerics.z_velocity import predicted_z_velocity, reference_z_velocity
from .timing import best_time


def bench_z_velocity(quick: bool = False, device: str | None = None) -> dict:
    """Compiled symbolic dz/dt for all neurons at once vs autograd through the parameter flow.

    The alternative is what one writes without the derivation: autograd of the loss for
    d theta/dt, then torch.func.jvp of z(omega, b). Both in float64 on the same device and
    inputs; the comparison also reports the largest relative difference between the two.
    """
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
        t_ours = best_time(lambda: predicted_z_velocity(z, params, X, g, 1.0), sync=sync)
        t_alt = best_time(lambda: reference_z_velocity(params, X, y, f0, 1.0, "hinge"), sync=sync)
        cases.append({"h": h, "p": p, "d": d, "lazyrich_s": t_ours, "alternative_s": t_alt,
                      "ratio": t_alt / t_ours, "max_rel_difference": err})
    return {"name": "z-velocity", "alternative": "autograd of the loss + torch.func.jvp of z(omega, b)",
            "device": device, "dtype": "float64", "cases": cases, "ratio": cases[-1]["ratio"]}
