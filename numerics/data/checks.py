"""Input checks shared by every numerical tool: arrays of points, labels, sizes.

Each check raises the caller's own error class (``error``), so that a kernel tool says
KernelError and a data file says DataError, with the same words for the same problem.
"""
from __future__ import annotations

import numpy as np
from ...theory.errors import LazyrichError


# The largest and smallest |x| a data point may have. The neuron field (d + 2 x.z) z - |z|^2 x is not
# scale-invariant: its equilibria move like d/|x| (notes/fixed_points.md, "Scale"), so |x|^2 and |z*|^2 ~
# d^2/|x|^2 must both be float64 numbers; the training flow's gradients carry the same products.
SCALE_RANGE = (1e-150, 1e150)


class DataError(LazyrichError):
    """A dataset that cannot be used: bad shapes, NaN or infinite values, labels other than +-1."""


def check_inputs(X, error=DataError) -> np.ndarray:
    """Validate and convert inputs to X (p, d) float64: numeric, 2-d, non-empty, finite.

    ``error`` is the exception class to raise (each caller names its own domain)."""
    X = np.asarray(X)
    if X.dtype.kind not in "fiu":
        raise error(f"X must be a numeric array, got dtype {X.dtype}")
    if X.ndim != 2:
        raise error(f"X must have shape (p, d), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise error(f"empty dataset: X has shape {X.shape}, so p = {X.shape[0]}, d = {X.shape[1]}")
    X = X.astype(np.float64)
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise error(f"X contains NaN or infinite values (first at row {bad[0]}, column {bad[1]})")
    top = max(np.abs(X).max(), 1e-300)  # the norms on X / top, so that |x|^2 cannot overflow
    norms = np.sqrt(np.sum((X / top) ** 2, axis=1)) * top
    nonzero = norms[norms > 0]
    lo, hi = SCALE_RANGE
    if len(nonzero) and (nonzero.min() < lo or nonzero.max() > hi):
        raise error(f"the points' norms span [{nonzero.min():.3g}, {nonzero.max():.3g}], outside [{lo:g}, {hi:g}]: "
                    "the field of a neuron is not scale-invariant (its equilibria move like d/|x|) and float64 "
                    "cannot hold |x|^2 and d^2/|x|^2 there; rescale the data")
    return X


def check_labels(y, p: int | None = None, error=DataError) -> np.ndarray:
    """Labels as y (p,) float64 in {-1, +1} (a (p, 1) column is accepted), one per point when
    ``p`` (the number of points) is given."""
    y = np.asarray(y)
    if y.dtype.kind not in "fiu":
        raise error(f"y must be a numeric array, got dtype {y.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise error(f"y must have shape (p,), got shape {y.shape}")
    if p is not None and y.shape[0] != p:
        raise error(f"X has {p} points but y has {y.shape[0]} labels")
    y = y.astype(np.float64)
    bad = ~np.isin(y, (-1.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise error(f"labels must be -1 or +1; y[{i}] = {y[i]!r}")
    return y


def check_arrays(X, y) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to X (p, d) float64, y (p,) float64 in {-1, +1}."""
    X = check_inputs(X)
    return X, check_labels(y, X.shape[0])


def check_size(p: int, d: int):
    if int(p) != p or p < 1:
        raise DataError(f"p must be a positive integer, got {p}")
    if int(d) != d or d < 1:
        raise DataError(f"d must be a positive integer, got {d}")

