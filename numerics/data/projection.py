"""Centring, projection on principal components and scaling, fitted on one set, applied to another."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import DataError, check_inputs


@dataclass
class Projection:
    """Centring, optional projection on principal components, optional scaling to unit variance.

    Fitted on a training set and applied unchanged to a test set, so that both live in the same
    coordinates.
    """

    mean: np.ndarray  # (D,)
    components: np.ndarray | None  # (k, D) orthonormal rows, or None: no projection
    scale: np.ndarray | None  # std of each output coordinate on the fitting set, or None

    @classmethod
    def fit(cls, X, components: int | None = None, standardize: bool = True) -> "Projection":
        X = check_inputs(X)
        mean = X.mean(0)
        basis = None
        if components is not None:
            if int(components) != components or not 1 <= components <= min(X.shape):
                raise DataError(f"pca must be an integer in [1, {min(X.shape)}] (points and input dimension "
                                f"{X.shape}), got {components}")
            _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
            basis = vt[: int(components)]
            # the sign of a singular vector is arbitrary: fix it so that refits give the same coordinates
            basis = basis * np.sign(basis[np.arange(len(basis)), np.abs(basis).argmax(1)])[:, None]
        out = (X - mean) @ basis.T if basis is not None else X - mean
        scale = None
        if standardize:
            scale = out.std(0)
            scale[scale == 0] = 1.0  # a constant coordinate (blank MNIST corner pixels) stays 0, not NaN
        return cls(mean, basis, scale)

    def __call__(self, X) -> np.ndarray:
        X = check_inputs(X)
        if X.shape[1] != self.mean.size:
            raise DataError(f"the projection was fitted on inputs of dimension {self.mean.size}, got {X.shape[1]}")
        out = X - self.mean
        if self.components is not None:
            out = out @ self.components.T
        return out / self.scale if self.scale is not None else out
