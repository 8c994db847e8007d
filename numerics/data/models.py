"""The data models of the talk: stripe, sphere and cylinder, x ~ N(0, I_d).

Sampling is reproducible: the same (model, p, d, seed, parameters) gives the same arrays.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaincinv  # chi2's median without importing scipy.stats (0.5 s)

from .checks import DataError, check_size
from .dataset import Dataset

# stripe: y = -1 on the band -0.3 < x_1 < 1.18549, whose Gaussian mass is 1/2 (balanced classes)
STRIPE_BAND = (-0.3, 1.18549)
BUILT_IN = ("stripe", "sphere", "cylinder")  # the models drawn here; "file" reads the user's own
MODELS = BUILT_IN + ("file",)


def gaussian_inputs(p: int, d: int, seed: int) -> np.ndarray:
    check_size(p, d)
    return np.random.default_rng(seed).standard_normal((p, d))


def balanced_radius(k: int) -> float:
    """Radius r with P(|x| > r) = 1/2 for x ~ N(0, I_k): the square root of chi2_k's median."""
    return float(np.sqrt(2.0 * gammaincinv(k / 2.0, 0.5)))  # chi2_k median = 2 P^-1(k/2, 1/2)


def stripe_labels(X: np.ndarray) -> np.ndarray:
    lo, hi = STRIPE_BAND
    return np.where((X[:, 0] > lo) & (X[:, 0] < hi), -1.0, 1.0)


def radial_labels(X: np.ndarray, k: int) -> np.ndarray:
    """+1 outside the balanced sphere of the first k coordinates, -1 inside."""
    return np.where(np.linalg.norm(X[:, :k], axis=1) > balanced_radius(k), 1.0, -1.0)


def stripe(p: int, d: int, seed: int = 0) -> Dataset:
    """x ~ N(0, I_d), y = -1 if -0.3 < x_1 < 1.18549 else +1: only x_1 matters."""
    X = gaussian_inputs(p, d, seed)
    return Dataset(X, stripe_labels(X), {"model": "stripe", "p": p, "d": d, "seed": seed,
                                         "band": list(STRIPE_BAND)})


def sphere(p: int, d: int, seed: int = 0) -> Dataset:
    """x ~ N(0, I_d), y = +1 outside the sphere of radius sqrt(median chi2_d), -1 inside."""
    X = gaussian_inputs(p, d, seed)
    return Dataset(X, radial_labels(X, d), {"model": "sphere", "p": p, "d": d, "seed": seed,
                                            "radius": balanced_radius(d)})


def cylinder(p: int, d: int, seed: int = 0, d_par: int = 2) -> Dataset:
    """x ~ N(0, I_d), the label is the sphere model's in the first d_par coordinates only."""
    if int(d_par) != d_par or not 1 <= d_par <= d:
        raise DataError(f"d_par must be an integer in [1, d={d}], got {d_par}")
    X = gaussian_inputs(p, d, seed)
    return Dataset(X, radial_labels(X, d_par), {"model": "cylinder", "p": p, "d": d, "seed": seed,
                                                "d_par": d_par, "radius": balanced_radius(d_par)})


def teacher(p: int, d: int, seed: int = 0, k: int = 3, teacher_seed: int = 12345) -> Dataset:
    """A teacher of k ReLU neurons: x ~ N(0, I_d), f*(x) = sum_j a_j relu(w_j.x/sqrt(d)) with w_j ~ N(0, I_d)
    and a_j = +-1 alternating, drawn from ``teacher_seed`` (one teacher for every sample seed); labels
    y = sign(f*(x) - m), m the median of f* (estimated on 10^5 points of a fixed stream), so the classes
    are balanced. The function depends on x through a k-dimensional subspace only."""
    rng = np.random.default_rng(teacher_seed)
    W = rng.standard_normal((k, d))
    a = np.where(np.arange(k) % 2 == 0, 1.0, -1.0)

    def f_star(X):
        return np.maximum(X @ W.T / np.sqrt(d), 0.0) @ a

    threshold = float(np.median(f_star(rng.standard_normal((100_000, d)))))
    X = gaussian_inputs(p, d, seed)
    y = np.where(f_star(X) > threshold, 1.0, -1.0)
    return Dataset(X, y, {"model": "teacher", "p": p, "d": d, "seed": seed, "k": k, "teacher_seed": teacher_seed})


def make(model: str, p: int, d: int, seed: int = 0, d_par: int | None = None) -> Dataset:
    """Sample one of the built-in models by name."""
    if model == "stripe":
        return stripe(p, d, seed)
    if model == "sphere":
        return sphere(p, d, seed)
    if model == "cylinder":
        return cylinder(p, d, seed, d_par=min(2, d) if d_par is None else d_par)
    raise DataError(f"unknown data model {model!r}; choose one of stripe, sphere, cylinder (or file)")

