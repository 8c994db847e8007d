"""Geometry of the neurons' positions z and activation patterns, shared by the claims that read them.

Plain numpy functions of z (n, d) and of the activation patterns (n, p) bool, so that the tests
check them on synthetic inputs with known answers: directions and nearest-neighbour angles (how
uniformly the directions spread), radial statistics, activation-pattern groups (the talk's
attractors), single-linkage clusters of z, and the cutting neurons (active on some but not all
training points: only they draw a boundary in input space).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..numerics import network as N
from ..numerics import patterns as P
from ..theory.errors import LazyrichError

SHELL = 0.2  # |z|/r* within 1 +- SHELL counts as "on the label sphere" of radius r*


def activations(omega, b, X) -> np.ndarray:
    """bool (h, p): neuron n active on training point mu (numerics.patterns: u > 0 up to its tolerance)."""
    u = N.preactivations(np.asarray(omega, np.float64), np.asarray(b, np.float64), np.asarray(X, np.float64))
    return P.active(u.T)


def points(z, name: str = "z") -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 1:
        raise LazyrichError(f"{name} must have shape (n, d), got shape {z.shape}")
    if not np.isfinite(z).all():
        raise LazyrichError(f"{name} contains NaN or infinite values")
    return z


def directions(z) -> np.ndarray:
    """z/|z| for every row; a row z = 0 has no direction, so it is an error."""
    z = points(z)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    if (norm == 0).any():
        raise LazyrichError(f"z has {int((norm == 0).sum())} zero row(s): no direction")
    return z / norm


def shell_fraction(z, radius: float, width: float = SHELL) -> float:
    """Fraction of the points with | |z|/radius - 1 | <= width (on the sphere of that radius)."""
    if not radius > 0 or not width > 0:
        raise LazyrichError(f"radius and width must be positive, got {radius} and {width}")
    z = points(z)
    return float(np.mean(np.abs(np.linalg.norm(z, axis=1) / radius - 1) <= width)) if len(z) else float("nan")


def radial_spread(z) -> float:
    """(q75 - q25)/median of |z|: 0 on a sphere, ball_spread(d) for points uniform in a d-ball.

    Quartiles rather than the standard deviation: a few neurons left far away (they barely move
    once they cut only a few points) must not hide a ring that holds most of them.
    """
    r = np.linalg.norm(points(z), axis=1)
    if len(r) == 0:
        return float("nan")
    q1, q2, q3 = np.quantile(r, [0.25, 0.5, 0.75])
    return float((q3 - q1) / q2) if q2 > 0 else float("nan")


def ball_spread(d: int) -> float:
    """radial_spread of points uniform in a d-ball: |z|/R has the distribution function r^d."""
    if int(d) != d or d < 1:
        raise LazyrichError(f"d must be a positive integer, got {d}")
    q1, q2, q3 = (q ** (1.0 / d) for q in (0.25, 0.5, 0.75))
    return (q3 - q1) / q2


def mean_resultant_length(z) -> float:
    """|mean of z/|z||: about n^-1/2 for n uniform directions, 1 when all point the same way."""
    u = directions(z)
    return float(np.linalg.norm(u.mean(0))) if len(u) else float("nan")


def rayleigh_p(z) -> float:
    """p-value of Rayleigh's test of uniform directions: n d R^2 is chi2_d for n uniform directions.

    A coarse-scale test (it sees a lopsided density, not a ring of clusters at symmetric angles).
    """
    from scipy.stats import chi2

    u = directions(z)
    if len(u) == 0:
        return float("nan")
    n, d = u.shape
    return float(chi2.sf(n * d * float(np.linalg.norm(u.mean(0))) ** 2, d))


def nearest_neighbour_angles(z) -> np.ndarray:
    """For every direction z_i/|z_i|, the angle (radians) to the nearest other direction."""
    u = directions(z)
    if len(u) < 2:
        raise LazyrichError(f"nearest-neighbour angles need at least 2 points, got {len(u)}")
    cos = u @ u.T
    np.fill_diagonal(cos, -np.inf)
    return np.arccos(np.clip(cos.max(1), -1.0, 1.0))


@lru_cache(maxsize=1024)
def uniform_nn_angle(n: int, d: int, seed: int = 0) -> float:
    """Median nearest-neighbour angle of n directions uniform on the sphere S^(d-1) (Monte Carlo)."""
    if n < 2 or d < 2:
        raise LazyrichError(f"need n >= 2 directions in d >= 2 dimensions, got n = {n}, d = {d}")
    # the median of one sample of n angles already fluctuates like n^-1/2: fewer repetitions at large
    # n keep the reference to about 0.5 % and its cost (reps n^2) bounded
    reps = int(min(64, max(8, 40000 // n)))
    rng = np.random.default_rng(seed)
    return float(np.median([np.median(nearest_neighbour_angles(rng.standard_normal((n, d)))) for _ in range(reps)]))


def nn_angle_ratio(z) -> float:
    """Median nearest-neighbour angle of the directions over that of as many uniform directions.

    About 1 for rotationally symmetric (uniform) directions, near 0 when the directions sit on a
    finite number of clusters (most neighbours then share a cluster). NaN below 2 points.
    """
    z = points(z)
    if len(z) < 2 or z.shape[1] < 2:
        return float("nan")
    return float(np.median(nearest_neighbour_angles(z)) / uniform_nn_angle(len(z), z.shape[1]))


def pattern_groups(active) -> np.ndarray:
    """Sizes of the groups of identical rows of a bool (n, p) activation array (the talk's attractors)."""
    return P.group_sizes(P.group_labels(active))


def z_clusters(z, tol: float) -> np.ndarray:
    """Sizes of the single-linkage clusters of z with linking distance tol."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if not tol > 0:
        raise LazyrichError(f"cluster tolerance must be positive, got {tol}")
    z = points(z)
    if len(z) < 2:
        return np.ones(len(z), dtype=np.int64)
    labels = fcluster(linkage(z, "single"), t=tol, criterion="distance")
    return np.sort(np.bincount(labels)[1:])[::-1]


def participation_ratio(sizes) -> float:
    """(sum s)^2 / sum s^2: the effective number of groups (singletons all count, small groups less)."""
    s = np.asarray(sizes, dtype=np.float64)
    if (s < 0).any():
        raise LazyrichError("group sizes must be non-negative")
    return float(s.sum() ** 2 / (s ** 2).sum()) if s.sum() > 0 else 0.0


def cutting(active) -> np.ndarray:
    """Neurons active on some but not all training points (their hyperplane cuts the data)."""
    active = np.asarray(active, dtype=bool)
    return active.any(1) & ~active.all(1)


def median_displacement(z0, z1, keep, radius: float) -> float:
    """Median |z1 - z0|/radius over the neurons in keep."""
    d = np.linalg.norm(points(np.asarray(z1)[keep]) - points(np.asarray(z0)[keep]), axis=1) / radius
    return float(np.median(d)) if d.size else float("nan")


