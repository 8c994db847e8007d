"""Fallback candidates when the arrangement is too large or not simple: sampling, not a proof.

Candidates come from (1) the regions containing random points (regular equilibria of the
regions that are sampled) and (2) the endpoints of the Filippov flow from random starts, whose
surfaces and active sets name the faces where stable equilibria sit. Each candidate is then
solved exactly for its face and kept only if it lies in that face, so every reported point is
a true equilibrium; what may be missing are equilibria of faces never sampled.
"""
from __future__ import annotations

import numpy as np

from ...theory.derived import derive
from .basins import initial_positions, integrate
from .faces import Candidates, condition_coefficients


def face_candidate(f, red, surfaces, active, tol):
    """The equilibrium of the face (surfaces S, active set A) in reduced coordinates, or None."""
    xr, gq = red.x, red.g
    d, sb = f.d, f.sign_b
    cG, cm = condition_coefficients(d)
    G = float(active @ gq) + red.G0
    m = active.astype(float) @ (gq[:, None] * xr)
    lam = np.zeros(0)
    if len(surfaces):
        xs, gs = xr[surfaces], gq[surfaces]
        K = (cG + cm * xs @ xs.T) * gs[None, :]
        try:
            lam = np.linalg.solve(K, -(cG * G + cm * xs @ m))
        except np.linalg.LinAlgError:
            return None
        if not ((lam >= -tol).all() and (lam <= 1 + tol).all()):
            return None
        G, m = G + lam @ gs, m + (lam * gs) @ xs
    if abs(G) <= tol * (np.abs(gq).sum() + abs(red.G0)) or not np.linalg.norm(m):
        return None
    w = np.asarray(derive("inversion").compile("numpy", "wstar")(m_A=m[None], G=np.array([G]), d=d)).reshape(-1)
    vals = xr @ w - 1.0
    on = np.zeros(len(xr), dtype=bool)
    on[surfaces] = True
    ok = (((-sb * vals) > 0) == active) & (np.abs(vals) > tol * (1 + np.abs(vals + 1.0)))
    if not (ok | on).all():
        return None
    return w, lam


def sample_candidates(f, red, tol, n, seed):
    out = Candidates()
    xr = red.x
    if xr.shape[0] == 0:
        return out
    rng = np.random.default_rng(seed)
    sb = f.sign_b

    def add(surfaces, active):
        got = face_candidate(f, red, np.asarray(surfaces, dtype=int), active, tol)
        if got is not None:
            out.w.append(got[0])
            out.surfaces.append(np.asarray(surfaces, dtype=int))
            out.lam.append(got[1])

    # (1) regions of random points (in w, where regions are cells of the arrangement)
    spread = 1.0 / np.linalg.norm(xr, axis=1).min()
    for w in rng.standard_normal((n, xr.shape[1])) * spread:
        add([], (-sb * (xr @ w - 1.0)) > 0)
    # (2) endpoints of the flow: their faces
    flow = integrate(f, initial_positions(f, min(n, 4000), seed), max_steps=5000)
    for zf in flow.endpoints[flow.status == "converged"]:
        zr = red.basis.T @ zf
        w = zr / (zr @ zr)
        vals = xr @ w - 1.0
        surfaces = np.flatnonzero(np.abs(vals) < 1e-6)
        add(surfaces, ((-sb * vals) > 0) & (np.abs(vals) >= 1e-6))
    return out
