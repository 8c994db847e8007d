"""scikit-learn's 8x8 handwritten digits (1797 images, shipped with scikit-learn) as a parity task."""
from __future__ import annotations

import numpy as np

from .dataset import Dataset
from .projection import Projection
from ...theory.errors import LazyrichError

COMPONENTS = 10  # principal components kept


def parity_digits(seed: int, p: int, components: int = COMPONENTS):
    """(train, test) Datasets: p random training images, the rest for testing; y = +1 even, -1 odd.

    Centred, projected on ``components`` principal components and scaled to unit variance, all
    fitted on the training images."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    if int(p) != p or not 1 <= p < len(images):
        raise LazyrichError(f"p must be an integer in [1, {len(images) - 1}] (the rest is the test set), got {p}")
    order = np.random.default_rng(seed).permutation(len(images))
    train, test = order[:p], order[p:]
    X = images.astype(np.float64)
    proj = Projection.fit(X[train], components, standardize=True)
    y = np.where(labels % 2 == 0, 1.0, -1.0)
    meta = {"model": "sklearn-digits", "classes": "even (+1) vs odd (-1)", "pca": components, "split_seed": seed}
    return Dataset(proj(X[train]), y[train], {**meta, "p": int(p)}), Dataset(proj(X[test]), y[test], meta)
