"""A picture of the neuron flow in the plane (d = 2): field, switching circles, equilibria, basins."""
from __future__ import annotations

import numpy as np
from ...theory.errors import LazyrichError


def phase_portrait(result, path, basins=None, grid: int = 41, extent: float | None = None):
    """Write a PNG: streamlines of F, the circles of every point (dashed: negative g), equilibria
    coloured by kind and stability, and basin starts coloured by where they ended."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = result.field
    if f.d != 2:
        raise LazyrichError(f"the phase portrait is drawn for d = 2, got d = {f.d}")
    pts = [e.z for e in result.equilibria] + [np.zeros(2)] + list(f.X)
    R = extent or 1.2 * max(float(np.abs(np.array(pts)).max()), f.scale)
    fig, ax = plt.subplots(figsize=(7.5, 7))
    if basins is not None:
        starts = basins.starts  # coloured by the attractor they end at
        colours = np.where(basins.assigned >= 0, basins.assigned, -1)
        cmap = plt.get_cmap("tab20")
        keep = (np.abs(starts) <= R).all(1)
        ax.scatter(starts[keep, 0], starts[keep, 1], s=4, alpha=0.5,
                   c=[cmap(c % 20) if c >= 0 else (0.7, 0.7, 0.7, 1) for c in colours[keep]], zorder=1)
    u = np.linspace(-R, R, grid)
    Z = np.stack(np.meshgrid(u, u), -1).reshape(-1, 2)
    Z[np.linalg.norm(Z, axis=1) == 0] = 1e-9  # z = 0 has no neuron
    F = f.velocity(Z).reshape(grid, grid, 2)
    speed = np.linalg.norm(F, axis=2)
    ax.streamplot(u, u, F[..., 0], F[..., 1], color=np.log10(speed + 1e-12), cmap="Greys", density=1.2,
                  linewidth=0.6, arrowsize=0.7, zorder=2)
    t = np.linspace(0, 2 * np.pi, 200)
    for x, g in zip(f.X, f.g):
        c, r = x / 2, np.linalg.norm(x) / 2
        ax.plot(c[0] + r * np.cos(t), c[1] + r * np.sin(t), lw=0.7, ls="-" if g > 0 else "--",
                color="tab:blue" if g > 0 else "tab:red", alpha=0.6, zorder=3)
    ax.scatter(f.X[:, 0], f.X[:, 1], marker="x", c=["tab:blue" if g > 0 else "tab:red" for g in f.g], s=25, zorder=4,
               label="training points (blue g > 0, red g < 0)")
    styles = {("regular", True): ("o", "tab:green", "regular, stable"),
              ("regular", False): ("o", "white", "regular, unstable"),
              ("sliding", True): ("D", "tab:purple", "sliding, stable"),
              ("sliding", False): ("D", "white", "sliding, unstable")}
    shown = set()
    for e in result.equilibria:
        marker, colour, label = styles[(e.kind, bool(e.stable))]
        ax.scatter([e.z[0]], [e.z[1]], marker=marker, s=70, facecolor=colour, edgecolor="black", zorder=5,
                   label=None if label in shown else label)
        shown.add(label)
        if e.basin:
            ax.annotate(f"{e.basin:.2f}", e.z, textcoords="offset points", xytext=(6, 6), fontsize=8, zorder=6)
    ax.scatter([0], [0], marker="*", s=90, c="black", zorder=5, label="origin (b = 0)")
    ax.set_xlim(-R, R)
    ax.set_ylim(-R, R)
    ax.set_aspect("equal")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(f"neuron flow, sign b = {f.sign_b:+d}, sign beta = {f.sign_beta:+d}: "
                 f"{len(result.equilibria)} equilibria" + ("" if result.complete else " (may be incomplete)"),
                 fontsize=10)
    ax.legend(loc="lower left", fontsize=7, framealpha=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
