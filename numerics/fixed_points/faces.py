"""The data of the arrangement and the faces' equations, shared by enumeration and sampling.

In w = z/|z|^2 the switching spheres are the hyperplanes w.x_mu = 1 (derive("inversion")). The
data are first reduced (:func:`reduce_field`): points at the origin set a constant weight, equal
points share one hyperplane, and everything lives in coordinates of the points' span. A face on
the surfaces S has the sliding weights lambda_S solving the linear conditions of
derive("sliding-equilibrium"), whose coefficients :func:`condition_coefficients` reads off theory/.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ...theory import symbols as S
from ...theory import vectors as V
from ...theory.derived import derive
from .neuron_field import NeuronField


@dataclass
class Reduced:
    """The arrangement's data: merged, weighted, non-zero points in coordinates of their span."""
    x: np.ndarray  # (q, r) reduced points (normals of the hyperplanes)
    g: np.ndarray  # (q,) merged weights
    groups: list[np.ndarray]  # original indices of each merged point
    basis: np.ndarray  # (d, r) orthonormal basis of the span
    G0: float  # weight of the points at the origin that are always active
    always: np.ndarray  # original indices always active (points at the origin, sign_b = +1)


def reduce_field(f: NeuronField, tol=1e-12) -> Reduced:
    norms = np.linalg.norm(f.X, axis=1)
    at_origin = norms <= tol * f.scale
    # a point at the origin has |z|^2 - z.0 > 0: always active for b > 0, never for b < 0
    always = np.flatnonzero(at_origin) if f.sign_b > 0 else np.zeros(0, dtype=int)
    G0 = float(f.g[always].sum())
    keep = np.flatnonzero(~at_origin & (f.g != 0))
    X, g = f.X[keep], f.g[keep]
    # identical points have one switching surface: merge them, summing g
    uniq, inverse = np.unique(X, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    gm = np.bincount(inverse, weights=g, minlength=len(uniq))
    groups = [keep[inverse == i] for i in range(len(uniq))]
    nz = gm != 0  # duplicates with opposite weights cancel
    uniq, gm = uniq[nz], gm[nz]
    groups = [grp for grp, k in zip(groups, nz) if k]
    if len(uniq) == 0:
        return Reduced(np.zeros((0, 0)), gm, groups, np.zeros((f.d, 0)), G0, always)
    _, sv, vt = np.linalg.svd(uniq, full_matrices=False)
    r = int((sv > 1e-10 * sv[0]).sum())
    basis = vt[:r].T
    return Reduced(uniq @ basis, gm, groups, basis, G0, always)


def condition_coefficients(d: int):
    """The sliding condition of theory/ is c_G G + c_m (m.x): read (c_G, c_m) off it."""
    cond = derive("sliding-equilibrium").equation("condition").term
    mx = V.dot_symbol(S.m_A, S.x)
    cG, cm = sp.diff(cond, S.G), sp.diff(cond, mx)
    if sp.simplify(cond - cG * S.G - cm * mx) != 0 or cG.has(S.G, mx) or cm.has(S.G, mx):
        raise RuntimeError(f"the sliding condition is not linear in (G, m.x): {cond}")
    return float(cG.subs(S.d, d)), float(cm.subs(S.d, d))


@dataclass
class Candidates:
    w: list = field(default_factory=list)  # (n, r)
    surfaces: list = field(default_factory=list)  # list of index arrays into the reduced points
    lam: list = field(default_factory=list)


def solve_small(K, rhs):
    """Batched solve of k x k systems; NaN rows where a system is singular (no unique lambda)."""
    if K.shape[1] == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = rhs / K[:, :, 0]
        return np.where(np.abs(K[:, :, 0]) > 1e-13 * np.abs(rhs).clip(1.0), out, np.nan)
    try:
        return np.linalg.solve(K, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:  # some system exactly singular: solve row by row
        out = np.full(rhs.shape, np.nan)
        for i in range(len(K)):
            try:
                out[i] = np.linalg.solve(K[i], rhs[i])
            except np.linalg.LinAlgError:
                pass
        return out

