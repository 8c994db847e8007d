"""Kernel machines: the kernel gradient flow the lazy network follows, SVC and k-nearest neighbours.

In the lazy limit (alpha -> infinity) the network's function follows the gradient flow in
function space with its NTK frozen at initialisation (notes/conventions.md). With kernels in
NTK scaling (numerics.ntk: h times the finite NTK of the simulator's f):

    dF(x)/dt = (1/p) sum_mu g_mu Theta(x, x_mu),   F(0) = 0,   g_mu = -l'(y_mu F(x_mu)) y_mu.

:func:`kernel_gradient_flow` integrates exactly this, with the same loss, so a network at large
alpha can be compared with its kernel machine point by point. The baselines of the talk, SVC
with a precomputed kernel and 5-nearest neighbours, come from scikit-learn.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data import check_inputs, check_labels
from ..network import loss_functions
from ...theory.errors import LazyrichError


class KernelMachineError(LazyrichError):
    """Bad input to a kernel machine: shapes, NaN, labels that are not +-1."""


def check_kernel(K, shape, name) -> np.ndarray:
    """A Gram matrix (a tensor or an array) as float64 of the expected shape, finite."""
    K = np.asarray(K.detach().cpu().numpy() if isinstance(K, torch.Tensor) else K, dtype=np.float64)
    if K.shape != shape:
        raise KernelMachineError(f"{name} must have shape {shape}, got {K.shape}")
    if not np.isfinite(K).all():
        raise KernelMachineError(f"{name} contains NaN or infinite values")
    return K


def classification_error(F, y) -> float:
    """Fraction of points with margin y F <= 0 (the simulator's convention: a tie is an error)."""
    return float(np.mean(np.asarray(y) * np.asarray(F) <= 0))


def kernel_gradient_flow(K_train, y, times, loss: str = "hinge", scale: float = 1.0, K_test=None,
                         tol: float = 1e-3) -> dict:
    """Integrate dF/dt = scale/p * K g(y F) y from F = 0 and report F at ``times``.

    K_train (p, p) and K_test (q, p): the kernel between training points and from test points to
    them. ``scale`` multiplies the kernel (1 for kernels in NTK scaling; h for the finite NTK of
    the simulator's 1/h network). Euler steps that move F by at most ``tol`` (a kink of the hinge
    is crossed, not resolved). Returns {"t", "F_train" (len(times), p), "F_test" (len(times), q)
    or None, "steps"}.
    """
    y = check_labels(y, None, KernelMachineError)
    p = y.shape[0]
    K_train = check_kernel(K_train, (p, p), "K_train")
    if K_test is not None:
        K_test = check_kernel(K_test, (np.shape(K_test)[0], p), "K_test")
    times = np.sort(np.asarray(times, dtype=np.float64))
    if times.size == 0 or times[0] < 0 or not np.isfinite(times).all():
        raise KernelMachineError("times must be a non-empty list of finite non-negative numbers")
    _, gfun = loss_functions(loss)
    yt = torch.as_tensor(y)
    weight = lambda F: gfun(yt * torch.as_tensor(F), yt).numpy()  # noqa: E731
    F = np.zeros(p)
    Ft = None if K_test is None else np.zeros(K_test.shape[0])
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
                Ft = Ft + step * scale / p * (K_test @ g)
            t += step
            steps += 1
        out_train.append(F.copy())
        out_test.append(None if Ft is None else Ft.copy())
    return {"t": times, "F_train": np.array(out_train), "steps": steps,
            "F_test": None if Ft is None else np.array(out_test)}


def svc_decision(K_train, y, K_test, C: float = 1e4) -> np.ndarray:
    """Decision function of scikit-learn's SVC with a precomputed kernel, on the test points.

    C = 1e4 by default: nearly the hard-margin machine, which is where the hinge-loss kernel
    gradient flow ends when the data can be separated.
    """
    from sklearn.svm import SVC

    y = check_labels(y, None, KernelMachineError)
    p = y.shape[0]
    K_train = check_kernel(K_train, (p, p), "K_train")
    K_test = check_kernel(K_test, (np.shape(K_test)[0], p), "K_test")
    if len(np.unique(y)) < 2:  # SVC refuses one class; the constant classifier is the answer
        return np.full(K_test.shape[0], y[0])
    return SVC(kernel="precomputed", C=C).fit(K_train, y).decision_function(K_test)


def knn_predict(X, y, Xt, k: int = 5) -> np.ndarray:
    """k-nearest-neighbour labels (Euclidean distance on the inputs), scikit-learn."""
    from sklearn.neighbors import KNeighborsClassifier

    X, Xt = check_inputs(X, KernelMachineError), check_inputs(Xt, KernelMachineError)
    y = check_labels(y, X.shape[0], KernelMachineError)
    if Xt.shape[1] != X.shape[1]:
        raise KernelMachineError(f"test inputs have d = {Xt.shape[1]}, training inputs d = {X.shape[1]}")
    if k < 1:
        raise KernelMachineError(f"k must be a positive integer, got {k}")
    return KNeighborsClassifier(n_neighbors=min(k, X.shape[0])).fit(X, y).predict(Xt)
