"""The single neuron over a range of imbalances: beta trajectories in the plane and the kernel distance.

``delta_family`` solves the same problem (Sigma_xx, Sigma_xy, beta_0, learning rates) for several
delta; ``plot`` draws the trajectories over the set of minimisers {beta : Sigma_xx beta = Sigma_xy}
(a point for full rank, a line for rank 1) and S(t) against time (``lazyrich single-neuron --png``).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

DELTAS = (-4.0, -1.0, 0.0, 1.0, 4.0)


def delta_family(problem, deltas=DELTAS, t_max: float = 50.0, points: int = 201) -> list[dict]:
    """numerics.single_neuron.solve for each delta (the problem's own delta included)."""
    from ..numerics.single_neuron import solve

    values = sorted({float(v) for v in deltas} | {problem.delta})
    return [solve(replace(problem, delta=v), t_max, points) for v in values]


def _plane(problem, runs):
    """Two orthonormal directions holding the trajectories: the axes for d = 2, else the top two
    principal directions of every beta visited."""
    if problem.d == 2:
        return np.eye(2)
    pts = np.concatenate([np.asarray(r["beta_simulated"]) for r in runs])
    _, _, vt = np.linalg.svd(pts - pts.mean(0), full_matrices=False)
    return vt[:2].T


def plot(problem, runs, path: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    P = _plane(problem, runs)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
    # the minimisers: beta_inf of the full-rank problem, or the line beta_inf + null(Sigma_xx)
    evals, evecs = np.linalg.eigh(problem.sxx)
    null = evecs[:, evals <= 1e-10 * evals.max()]
    base = np.linalg.lstsq(problem.sxx, problem.sxy, rcond=None)[0]
    if null.shape[1] == 0:
        ax.plot(*(base @ P), "k*", ms=14, label="minimiser")
    else:
        s = np.linspace(-3, 3, 2) * max(1.0, float(np.abs(np.asarray(runs[0]["beta_simulated"])).max()))
        line = np.array([base + v * null[:, 0] for v in s]) @ P
        ax.plot(line[:, 0], line[:, 1], "k--", lw=1, label="minimisers")
    cmap = plt.get_cmap("coolwarm")
    lo, hi = min(r["delta"] for r in runs), max(r["delta"] for r in runs)
    for r in runs:
        color = cmap(0.5 if hi == lo else (r["delta"] - lo) / (hi - lo))
        traj = np.asarray(r["beta_simulated"]) @ P
        ax.plot(traj[:, 0], traj[:, 1], color=color, label=f"delta = {r['delta']:g}")
        if r["beta_exact"] is not None:
            ex = np.asarray(r["beta_exact"]) @ P
            ax.plot(ex[::10, 0], ex[::10, 1], "o", color=color, ms=3, mfc="none")
        ax.plot(*(np.asarray(r["beta_inf"]) @ P), "x", color=color, ms=8)
        ax2.plot(r["t"], r["kernel_distance"], color=color, label=f"delta = {r['delta']:g}")
    ax.plot(*(problem.beta0 @ P), "ko", ms=5, label="beta_0")
    ax.set_xlabel("beta (axis 1)")
    ax.set_ylabel("beta (axis 2)")
    ax.set_title("trajectories (lines: integration, circles: closed form, x: beta_inf)", fontsize=9)
    ax.legend(fontsize=7)
    ax2.set_xscale("symlog", linthresh=0.1)
    ax2.set_xlabel("t")
    ax2.set_ylabel("kernel distance S(t)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
