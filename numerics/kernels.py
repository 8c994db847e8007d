"""Kernel tools: the empirical NTK of a network, and the kernel machine its lazy limit trains.

In the lazy limit (alpha -> infinity) the network's function follows the gradient flow in
function space with the NTK frozen at initialisation (notes/conventions.md):

    dF(x)/dt = (h/p) sum_mu g_mu Theta_0(x, x_mu),   F(0) = 0,   g_mu = -l'(y_mu F(x_mu)) y_mu.

:func:`kernel_gradient_flow` integrates exactly this, with the same loss, so the network at
large alpha can be compared with its kernel machine point by point.
"""
from __future__ import annotations

import numpy as np
import torch

from ..theory.derived import derive
from .ensemble import loss_functions


def empirical_ntk(omega, b, beta, X, Xp=None) -> torch.Tensor:
    """Theta(x_mu, x'_nu) of one network (omega (h, d), b, beta (h,)), from the derived formula."""
    K = derive("ntk-finite").compile("torch", "Theta")
    return K(omega=omega, b=b, beta=beta, x=X, xp=X if Xp is None else Xp)


def kernel_gradient_flow(K_train, y, times, loss: str = "hinge", scale: float = 1.0, K_test=None,
                         tol: float = 1e-3) -> dict:
    """Integrate dF/dt = scale/p * K g(y F) y from F = 0 and report F at ``times``.

    K_train (p, p) and K_test (q, p) are the kernel between training points and from test
    points to them; ``scale`` is h for a network's NTK (the time convention). Euler steps
    that move F by at most ``tol`` (a kink of the hinge is crossed, not resolved).
    Returns {"t", "F_train" (len(times), p), "F_test" (len(times), q) or None, "steps"}.
    """
    K_train = np.asarray(K_train, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    p = y.shape[0]
    if K_train.shape != (p, p):
        raise ValueError(f"K_train must have shape (p, p) = ({p}, {p}), got {K_train.shape}")
    if K_test is not None and np.shape(K_test)[1] != p:
        raise ValueError(f"K_test must have shape (q, p) with p = {p}, got {np.shape(K_test)}")
    if not np.isfinite(K_train).all():
        raise ValueError("K_train contains NaN or infinite values")
    _, gfun = loss_functions(loss)
    weight = lambda F: gfun(torch.as_tensor(y * F), torch.as_tensor(y)).numpy()  # noqa: E731
    times = np.sort(np.asarray(times, dtype=np.float64))
    F = np.zeros(p)
    Ft = None if K_test is None else np.zeros(np.shape(K_test)[0])
    out_train, out_test = [], []
    t, steps = 0.0, 0
    for target in times:
        while t < target:
            g = weight(F)
            rate = scale / p * (K_train @ g)
            fastest = np.abs(rate).max()
            step = min(target - t, tol / fastest if fastest > 0 else target - t)
            F = F + step * rate
            if Ft is not None:
                Ft = Ft + step * scale / p * (np.asarray(K_test) @ g)
            t += step
            steps += 1
        out_train.append(F.copy())
        out_test.append(None if Ft is None else Ft.copy())
    return {"t": times, "F_train": np.array(out_train), "steps": steps,
            "F_test": None if Ft is None else np.array(out_test)}
