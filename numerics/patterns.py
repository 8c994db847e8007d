"""Activation patterns: which training points each neuron is active on, with one tolerance for u ~ 0.

The one definition shared by every count of distinct neurons: the talk's attractors (validation's
pattern groups), the L2-sparsity count (numerics.l2_sparsity) and the reduction of a trained network.
A neuron is active on point mu when u_{n mu} > tol * max_mu |u_{n mu}|: the tolerance is relative to
the neuron's own scale, so the pattern does not change when a neuron and the data are rescaled, and a
neuron that sits on a switching surface (u = 0 up to rounding, where the ReLU is 0 and sliding
integrators hold it) counts as inactive there.
"""
from __future__ import annotations

import numpy as np
from ..theory.errors import LazyrichError

PATTERN_TOL = 1e-9


def active(u, tol: float = PATTERN_TOL) -> np.ndarray:
    """bool (n, p) from pre-activations u (n, p)."""
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 2:
        raise LazyrichError(f"pre-activations must have shape (neurons, points), got shape {u.shape}")
    if not np.isfinite(u).all():
        raise LazyrichError("pre-activations contain NaN or infinite values")
    if not tol >= 0:
        raise LazyrichError(f"the pattern tolerance must be >= 0, got {tol}")
    return active_mask(u, tol) if u.size else np.zeros(u.shape, dtype=bool)


def active_mask(u, tol: float = PATTERN_TOL):
    """The rule of :func:`active` without its checks, on numpy arrays or torch tensors of shape
    (..., neurons, points): the simulator applies it to a whole ensemble at every checkpoint, where a
    NaN (a network that diverged) must give "inactive" rather than an error."""
    scale = u.abs().amax(-1, keepdim=True) if hasattr(u, "amax") else np.abs(u).max(-1, keepdims=True)
    return u > tol * scale


def count_patterns(active) -> int:
    """Number of distinct activation patterns among the active neurons (rows of a bool (neurons, points)
    array with at least one True): the talk's number of attractors reached."""
    rows = np.asarray(active, dtype=bool)
    labels = group_labels(rows[rows.any(1)])
    return int(labels.max()) + 1 if len(labels) else 0


def group_labels(patterns, extra=None) -> np.ndarray:
    """One integer label per row: rows with the same pattern (and the same ``extra`` key, such as the
    sign of the readout) share a label; labels are 0, 1, ... in order of first appearance."""
    patterns = np.asarray(patterns, dtype=bool)
    if patterns.ndim != 2:
        raise LazyrichError(f"activation patterns must have shape (neurons, points), got shape {patterns.shape}")
    keys = np.packbits(patterns, axis=1) if patterns.shape[1] else np.zeros((len(patterns), 0), np.uint8)
    if extra is not None:
        extra = np.asarray(extra).reshape(len(patterns), -1)
        keys = np.concatenate([keys.astype(np.int64), extra.astype(np.int64)], axis=1)
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # relabel by first appearance
    return order[inverse.reshape(-1)]


def group_sizes(labels) -> np.ndarray:
    """Sizes of the groups, largest first."""
    labels = np.asarray(labels)
    return np.sort(np.bincount(labels))[::-1] if len(labels) else np.zeros(0, dtype=np.int64)
