"""Hidden representations of a trained network: intrinsic dimension (TwoNN) and PCA of pre-activations.

The hidden layer maps x to u(x) = omega x/sqrt d + b (pre-activations, h numbers) and relu(u).
In the feature regime on the stripe model the representation should forget x_perp: its
intrinsic dimension falls towards that of the informative coordinates.
"""
from __future__ import annotations

import numpy as np

from .. import network as N
from ..data import check_inputs, check_labels
from ...theory.errors import LazyrichError


class RepresentationError(LazyrichError):
    """Bad input to a representation tool."""


def preactivations(omega, b, X) -> np.ndarray:
    """u (p, h) of the network's hidden layer at the rows of X."""
    X = check_inputs(X, RepresentationError)
    omega, b = np.asarray(omega, np.float64), np.asarray(b, np.float64)
    if omega.ndim != 2 or omega.shape[1] != X.shape[1] or b.shape != (omega.shape[0],):
        raise RepresentationError(f"need omega (h, d = {X.shape[1]}) and b (h,), got {omega.shape} and {b.shape}")
    return N.preactivations(omega, b, X)


def twonn_dimension(Z, discard: float = 0.1) -> dict:
    """Intrinsic dimension by TwoNN (Facco, d'Errico, Rodriguez, Laio 2017).

    mu = r2/r1, the ratio of the distances to the second and first neighbours, follows
    F(mu) = 1 - mu^-d on a locally uniform manifold of dimension d; d is the slope of
    -log(1 - F_emp(mu)) against log(mu) through the origin, after discarding the largest
    ``discard`` fraction of mu (the tail most affected by curvature and noise).
    Points with a duplicate (r1 = 0) carry no information and are dropped.
    """
    from sklearn.neighbors import NearestNeighbors

    Z = check_inputs(Z, RepresentationError)
    if Z.shape[0] < 3:
        raise RepresentationError(f"TwoNN needs at least 3 points, got {Z.shape[0]}")
    if not 0 <= discard < 1:
        raise RepresentationError(f"discard must be in [0, 1), got {discard}")
    dist, _ = NearestNeighbors(n_neighbors=3).fit(Z).kneighbors(Z)
    r1, r2 = dist[:, 1], dist[:, 2]
    keep = r1 > 0
    if keep.sum() < 3:
        raise RepresentationError("fewer than 3 points have a distinct nearest neighbour")
    mu = np.sort(r2[keep] / r1[keep])
    n = mu.size
    F = np.arange(1, n + 1) / n
    m = max(2, int(np.floor(n * (1 - discard))))
    x, yv = np.log(mu[:m]), -np.log(1 - F[:m] + 1e-300)
    x, yv = x[:-1], yv[:-1]  # F = 1 at the last point of the full sample would be infinite
    dim = float((x @ yv) / (x @ x)) if (x @ x) > 0 else float("nan")
    return {"dimension": dim, "points": int(n), "dropped_duplicates": int((~keep).sum())}


def principal_components(Z, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(scores (p, k), explained variance ratios (k,)) of the centred rows of Z."""
    Z = check_inputs(Z, RepresentationError)
    Zc = Z - Z.mean(0)
    _, s, vt = np.linalg.svd(Zc, full_matrices=False)
    k = min(k, vt.shape[0])
    total = (s ** 2).sum()
    ratio = (s[:k] ** 2) / total if total > 0 else np.zeros(k)
    return Zc @ vt[:k].T, ratio


def plot_representation(Z, y, path, title: str = "hidden pre-activations") -> str:
    """PCA of the representation (first two components) coloured by label, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = check_labels(y, np.shape(Z)[0], RepresentationError)
    scores, ratio = principal_components(Z, 2)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for label, colour in ((1.0, "tab:red"), (-1.0, "tab:blue")):
        sel = y == label
        ax.scatter(scores[sel, 0], scores[sel, 1] if scores.shape[1] > 1 else np.zeros(sel.sum()), s=6,
                   c=colour, label=f"y = {int(label):+d}", alpha=0.7)
    ax.set(xlabel=f"PC1 ({ratio[0]:.0%})", ylabel=f"PC2 ({ratio[1]:.0%})" if ratio.size > 1 else "", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
