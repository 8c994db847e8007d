"""Kernel PCA of a Gram matrix: eigenvalues, the label's weight on each eigenvector, and its information.

With the Gram matrix K (p x p) of a kernel on the training set, the eigenfunctions of the
kernel operator are estimated by the eigenvectors v_lambda of K/p, normalised as functions:
phi_lambda = sqrt(p) v_lambda, so that (1/p) sum_mu phi_lambda(x_mu)^2 = 1. The label's weight on
eigenvector lambda is

    omega_lambda^2 = <phi_lambda | y>^2 / p^2 = (v_lambda . y)^2 / p,

and the cumulative sum over the top eigenvalues tends to |y|^2/p = 1: how much of the label the
first k kernel principal components carry. The mutual information between each top component
and the label uses scikit-learn's k-nearest-neighbour estimator (Kraskov et al.; Ross 2014 for
a discrete label), in nats.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import check_labels
from .kernel_machines import KernelMachineError, check_kernel


@dataclass
class KernelPCA:
    eigenvalues: np.ndarray  # (k,) of K/p, largest first
    components: np.ndarray  # (p, k): phi_lambda(x_mu), normalised to mean square 1
    label_weight: np.ndarray  # (k,) omega_lambda^2 = <phi|y>^2/p^2
    cumulative: np.ndarray  # (k,) cumulative sum of label_weight
    mutual_information: np.ndarray | None  # (m,) nats, for the first m components
    centered: bool

    def to_json(self, limit: int | None = 100) -> dict:
        cut = slice(None, limit)
        mi = None if self.mutual_information is None else self.mutual_information[cut].tolist()
        return {"eigenvalues": self.eigenvalues[cut].tolist(), "label_weight": self.label_weight[cut].tolist(),
                "cumulative": self.cumulative[cut].tolist(), "mutual_information": mi, "centered": self.centered,
                "rank_half_label": self.rank_reaching(0.5), "rank_90pc_label": self.rank_reaching(0.9)}

    def rank_reaching(self, fraction: float) -> int | None:
        """Smallest k whose top-k components carry ``fraction`` of the label (None if never)."""
        hit = np.flatnonzero(self.cumulative >= fraction)
        return int(hit[0]) + 1 if hit.size else None


def gram_eigh(K, vectors: bool = True):
    """Eigenvalues (ascending) and, with ``vectors``, eigenvectors of a symmetric K, computed on
    K / 2^k with 2^k near max |K| (exact in floating point) and scaled back: LAPACK's sums of squares
    overflow for the Gram matrices of data near the top of the accepted scale (|K| ~ |x|^2)."""
    K = np.asarray(K, dtype=np.float64)
    top = np.abs(K).max() if K.size else 0.0
    scale = 2.0 ** np.round(np.log2(top)) if top > 0 else 1.0
    if vectors:
        values, vecs = torch.linalg.eigh(torch.as_tensor(K / scale))
        return values.numpy() * scale, vecs.numpy()
    return np.linalg.eigvalsh(K / scale) * scale


def kernel_pca(K, y, top: int | None = None, center: bool = False, mi_components: int = 20,
               mi_neighbors: int = 3, seed: int = 0) -> KernelPCA:
    """Eigen-decomposition of the Gram matrix K of the training set with labels y.

    ``center``: double-centre K first (the kernel PCA of scikit-learn); the NTK's own spectrum
    is uncentred (the default). ``top``: keep this many components (all by default).
    ``mi_components``: how many leading components get a mutual information (0 for none).
    """
    y = check_labels(y, None, KernelMachineError)
    p = y.shape[0]
    if p < 2:
        raise KernelMachineError(f"kernel PCA needs at least 2 points, got p = {p}")
    K = check_kernel(K, (p, p), "K")
    asym = np.abs(K - K.T).max()
    if asym > 1e-8 * max(1.0, np.abs(K).max()):
        raise KernelMachineError(f"K is not symmetric (largest |K - K^T| = {asym:.3g}): not a Gram matrix")
    K = (K + K.T) / 2
    if center:
        one = np.full((p, p), 1.0 / p)
        K = K - one @ K - K @ one + one @ K @ one
    values, vectors = gram_eigh(K)  # ascending
    values, vectors = values[::-1] / p, vectors[:, ::-1]
    k = p if top is None else max(1, min(int(top), p))
    values, vectors = values[:k], vectors[:, :k]
    weight = (vectors.T @ y) ** 2 / p
    mi = None
    if mi_components > 0:
        from sklearn.feature_selection import mutual_info_classif

        m = min(mi_components, k)
        mi = mutual_info_classif(vectors[:, :m], y, n_neighbors=min(mi_neighbors, p - 1), random_state=seed)
    return KernelPCA(values, np.sqrt(p) * vectors, weight, np.cumsum(weight), mi, center)


def plot_kernel_pca(res: KernelPCA, path, title: str = "kernel PCA") -> str:
    """Eigenvalues, label weight (and its cumulative sum) and mutual information against rank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rank = np.arange(1, res.eigenvalues.size + 1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    pos = res.eigenvalues > 0
    axes[0].loglog(rank[pos], res.eigenvalues[pos], ".")
    axes[0].set(xlabel="rank", ylabel="eigenvalue of K/p", title="spectrum")
    axes[1].loglog(rank, np.maximum(res.label_weight, 1e-300), ".", label=r"$\omega_\lambda^2$")
    axes[1].semilogx(rank, res.cumulative, "-", label="cumulative")
    axes[1].set(xlabel="rank", ylim=(1e-6, 1.5), title="label on the eigenvectors")
    axes[1].legend()
    if res.mutual_information is not None:
        axes[2].plot(np.arange(1, res.mutual_information.size + 1), res.mutual_information, "o-")
    axes[2].set(xlabel="rank", ylabel="nats", title="mutual information with the label")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
