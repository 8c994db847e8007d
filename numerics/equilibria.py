"""Every regular and sliding equilibrium of the neuron field, with stability and neutral sets.

The method (notes/fixed_points.md):

* In w = z/|z|^2 the switching spheres are the hyperplanes w.x_mu = 1 (derive("inversion")), so
  activation regions and pieces of switching surfaces are the faces of a hyperplane arrangement.
  arrangement.py visits every face exactly once (simple arrangements).
* A face lies in the surfaces S (|S| = k, 0 <= k <= d) and has a fixed active set A of the other
  points. Filippov's field on it is the region field with weights G_A + sum_S lambda g and
  m_A + sum_S lambda g x (lambda in [0, 1]^k); it has one non-zero zero, w* = -m/(d G)
  (derive("inversion")), which lies on all k surfaces iff the k linear conditions of
  derive("sliding-equilibrium") hold. So each face has at most one candidate, found by a
  k x k linear solve; it is an equilibrium iff lambda is in [0, 1]^k and w* lies in the face.
  k = 0 gives the regular equilibria z*_A = -d G_A m_A/|m_A|^2.
* Stability: regular points from the region Jacobian at z*; sliding points from the sliding
  field's Jacobian on the tangent space of the surfaces and the condition that the one-sided
  fields push towards the surfaces (transversal attraction).

Completeness is guaranteed by the enumeration, for a simple arrangement (no vertex on more than
r hyperplanes, which holds for data in general position); otherwise, or when the arrangement is
too large (``max_vertices``), a sampling fallback runs and the result says ``complete: False``.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..theory import symbols as S
from ..theory import vectors as V
from ..theory.derived import derive
from .arrangement import Arrangement, vertex_count
from .neuron_field import NeuronField

MAX_VERTICES = 30_000_000  # beyond this many vertices the enumeration is replaced by sampling


@dataclass
class Equilibrium:
    z: np.ndarray  # (d,) position
    kind: str  # "regular" or "sliding"
    surfaces: list[int]  # training points whose switching surfaces it lies on
    active: list[int]  # training points active at it (off its surfaces)
    lam: list[float]  # Filippov weight of each surface's point (merged duplicates share one)
    G: float  # effective weights of the field that vanishes there
    m: np.ndarray
    eigenvalues: np.ndarray  # of the Jacobian (regular) or of the sliding Jacobian on the tangent space
    attracting: bool  # transversal attraction onto the surfaces (True for regular points)
    stable: bool
    type: str  # "stable node", "unstable focus", "saddle", "repelling sliding", ...
    unique: bool = True  # False where the sliding field is not unique (singular system)
    residual: float | None = None  # |F| at the polished point (sliding: |F_sliding|, |S|)
    certified: bool | None = None  # python-flint ball-arithmetic proof, None if not attempted
    z_mp: list | None = None  # polished coordinates as decimal strings
    basin: float | None = None

    def to_json(self) -> dict:
        return {
            "z": [float(v) for v in self.z],
            "kind": self.kind,
            "surfaces": list(map(int, self.surfaces)),
            "active": list(map(int, self.active)),
            "stable": bool(self.stable),
            "eigenvalues": [_number(e) for e in self.eigenvalues],
            "residual": None if self.residual is None else float(self.residual),
            "basin": None if self.basin is None else float(self.basin),
            "type": self.type,
            "attracting": bool(self.attracting),
            "lambda": [float(v) for v in self.lam],
            "unique": bool(self.unique),
            "certified": self.certified,
            "z_polished": self.z_mp,
        }


def _number(e):
    e = complex(e)
    return float(e.real) if abs(e.imag) <= 1e-14 * max(1.0, abs(e.real)) else [float(e.real), float(e.imag)]


@dataclass
class FixedPoints:
    field: NeuronField
    equilibria: list[Equilibrium]
    neutral_sets: list[dict]
    complete: bool
    method: str
    notes: list[str] = field(default_factory=list)
    timing: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)

    @property
    def stable(self) -> list[Equilibrium]:
        return [e for e in self.equilibria if e.stable]

    def to_json(self) -> dict:
        return {
            "d": self.field.d, "p": self.field.p,
            "sign_b": self.field.sign_b, "sign_beta": self.field.sign_beta,
            "time_unit": "dz/dt = F(z) with |beta/b|/alpha = 1: eigenvalues are in this unit",
            "complete": self.complete,
            "method": self.method,
            "equilibria": [e.to_json() for e in self.equilibria],
            "neutral_sets": self.neutral_sets,
            "counts": {"equilibria": len(self.equilibria), "stable": len(self.stable),
                       "regular": sum(e.kind == "regular" for e in self.equilibria),
                       "sliding": sum(e.kind == "sliding" for e in self.equilibria), **self.counts},
            "notes": self.notes,
            "timing": self.timing,
        }


# ------------------------------------------------------------------------------ reduction
@dataclass
class _Reduced:
    """The arrangement's data: merged, weighted, non-zero points in coordinates of their span."""
    x: np.ndarray  # (q, r) reduced points (normals of the hyperplanes)
    g: np.ndarray  # (q,) merged weights
    groups: list[np.ndarray]  # original indices of each merged point
    basis: np.ndarray  # (d, r) orthonormal basis of the span
    G0: float  # weight of the points at the origin that are always active
    always: np.ndarray  # original indices always active (points at the origin, sign_b = +1)


def _reduce(f: NeuronField, tol=1e-12) -> _Reduced:
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
        return _Reduced(np.zeros((0, 0)), gm, groups, np.zeros((f.d, 0)), G0, always)
    _, sv, vt = np.linalg.svd(uniq, full_matrices=False)
    r = int((sv > 1e-10 * sv[0]).sum())
    basis = vt[:r].T
    return _Reduced(uniq @ basis, gm, groups, basis, G0, always)


# ------------------------------------------------------------------------------ enumeration
def _condition_coefficients(d: int):
    """The sliding condition of theory/ is c_G G + c_m (m.x): read (c_G, c_m) off it."""
    cond = derive("sliding-equilibrium").equation("condition").term
    mx = V.dot_symbol(S.m_A, S.x)
    cG, cm = sp.diff(cond, S.G), sp.diff(cond, mx)
    if sp.simplify(cond - cG * S.G - cm * mx) != 0 or cG.has(S.G, mx) or cm.has(S.G, mx):
        raise RuntimeError(f"the sliding condition is not linear in (G, m.x): {cond}")
    return float(cG.subs(S.d, d)), float(cm.subs(S.d, d))


@dataclass
class _Candidates:
    w: list = field(default_factory=list)  # (n, r)
    surfaces: list = field(default_factory=list)  # list of index arrays into the reduced points
    lam: list = field(default_factory=list)
    active: list = field(default_factory=list)  # (n, q) bool


def _enumerate(f: NeuronField, red: _Reduced, tol: float, progress=None):
    """Candidates from every face of the arrangement; also the dead and zero-field cells."""
    d, sb = f.d, f.sign_b
    xr, gq = red.x, red.g
    q, r = xr.shape
    # per-point weights summed at each vertex: g, g x, and a count (to tell empty active sets)
    W = np.concatenate([gq[:, None], gq[:, None] * xr, np.ones((q, 1))], axis=1)
    total = W.sum(0)
    cG, cm = _condition_coefficients(d)
    wstar = derive("inversion").compile("numpy", "wstar")
    arr = Arrangement(xr, W, tol=tol)
    # a few fixed hyperplanes on which every candidate is tested before the full test
    probes = np.random.default_rng(0).choice(q, size=min(q, 24), replace=False)
    found = _Candidates()
    dead = zero_field = 0
    dead_point = None
    visited = 0
    gscale = np.abs(gq).sum() + abs(red.G0)
    for B in arr.vertices():
        n = len(B.vertex)
        visited += n
        if progress is not None:
            progress(n)
        D, sides, real = B.defining, B.sides, ~B.is_box
        Dc = np.where(real, D, 0)  # box planes carry no weight: any index will do
        on_D = (W[Dc] * real[..., None]).sum(1)
        # active at the vertex (off its planes): a.w < 1 for b > 0, a.w > 1 for b < 0
        base = B.below if sb > 0 else total - B.below - on_D
        vprobe = B.vertex @ xr[probes].T - 1.0
        probe_free = ~(D[:, :, None] == probes[None, None, :]).any(1)
        WD = W[Dc] * real[..., None]  # (n, r, c) weights of the defining planes
        add_all = real & (sides == -sb)
        for mask in range(2 ** r):
            in_S = np.array([(mask >> i) & 1 for i in range(r)], dtype=bool)
            rows = np.flatnonzero(~(B.is_box & in_S[None]).any(1)) if mask else np.arange(n)
            if len(rows) == 0:
                continue
            k = int(in_S.sum())
            # defining planes not in S: the face is on side s_j; active where s_j = -sign_b
            add = add_all[rows] & ~in_S[None]
            wsum = base[rows].copy()
            for j in np.flatnonzero(~in_S):
                wsum += add[:, j, None] * WD[rows, j]
            G, m = wsum[:, 0] + red.G0, wsum[:, 1:1 + r]
            if k == 0:
                nonempty = wsum[:, -1] > 0.5
                dead_here = ~nonempty & (red.G0 == 0) & (red.always.size == 0)
                if dead_here.any():
                    dead += int(dead_here.sum())
                    if dead_point is None:
                        dead_point = B.vertex[rows[np.flatnonzero(dead_here)[0]]]
                zero_field += int(((np.abs(G) <= tol * gscale) & (np.linalg.norm(m, axis=1) <= tol) & nonempty).sum())
                lam = np.zeros((len(rows), 0))
            else:
                Ds = Dc[rows][:, in_S]
                xs, gs = xr[Ds], gq[Ds]
                # the condition of theory/ at x_mu for the weights (g_nu, g_nu x_nu): K[mu, nu]
                K = (cG + cm * (xs @ np.swapaxes(xs, 1, 2))) * gs[:, None, :]
                rhs = -(cG * G[:, None] + cm * (xs @ m[..., None])[..., 0])
                lam = _solve_small(K, rhs)
                inb = np.isfinite(lam).all(1) & (lam >= -tol).all(1) & (lam <= 1 + tol).all(1)
                rows, add, lam, G, m, gs, xs = rows[inb], add[inb], lam[inb], G[inb], m[inb], gs[inb], xs[inb]
                G = G + (lam * gs).sum(1)
                m = m + ((lam * gs)[:, None, :] @ xs)[:, 0]
            if len(rows) == 0:
                continue
            good = (np.abs(G) > tol * gscale) & (np.linalg.norm(m, axis=1) > 0)
            rows, add, lam, G, m = rows[good], add[good], lam[good], G[good], m[good]
            if len(rows) == 0:
                continue
            w = np.asarray(wstar(m_A=m, G=G, d=d)).reshape(len(rows), r)
            # cheap filters: w* on the face's side of the defining planes it is not on, and of
            # the probe planes (whose side at the vertex is the face's side)
            Dr = Dc[rows]
            sidev = (xr[Dr] @ w[..., None])[..., 0] - 1.0
            idx = np.flatnonzero(np.where(real[rows] & ~in_S[None], sides[rows] * sidev > -tol, True).all(1))
            wp = w[idx] @ xr[probes].T - 1.0
            idx = idx[np.where(probe_free[rows[idx]], np.sign(wp) == np.sign(vprobe[rows[idx]]), True).all(1)]
            if len(idx) == 0:
                continue
            rows_i, wv = rows[idx], w[idx]
            # the full test against every plane
            expected = (-sb * (B.vertex[rows_i] @ xr.T - 1.0)) > 0
            on = np.zeros_like(expected)
            ri = np.arange(len(idx))
            for j in range(r):  # the defining planes: on them (S) or on the face's side (add)
                sel = real[rows_i, j]
                cols = Dr[idx[sel], j]
                expected[ri[sel], cols] = add[idx[sel], j] & ~in_S[j]
                on[ri[sel], cols] = in_S[j]
            vals = wv @ xr.T - 1.0
            actual = (-sb * vals) > 0
            clear = np.abs(vals) > tol * (1 + np.abs(vals + 1.0))
            ok = ((actual == expected) & clear | on).all(1)
            for i in np.flatnonzero(ok):
                found.w.append(wv[i])
                found.surfaces.append(Dr[idx[i]][in_S].copy())
                found.lam.append(lam[idx[i]].copy())
                found.active.append(expected[i] & ~on[i])
    return found, dict(vertices=visited, degenerate_vertices=arr.degenerate_vertices,
                       dead_cells=dead, zero_field_cells=zero_field, dead_point=dead_point)


def _solve_small(K, rhs):
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


# ------------------------------------------------------------------------------ classification
def _classify(f: NeuronField, z, surf_idx, lam, tol) -> dict:
    """Jacobian, eigenvalues, attraction and type of an equilibrium at z on the surfaces surf_idx."""
    arg = f.argument(z[None])[0]
    on = np.zeros(f.p, dtype=bool)
    on[surf_idx] = True
    weights = (arg > 0).astype(np.float64)
    weights[on] = 0.0
    weights[surf_idx] = lam if len(surf_idx) else weights[surf_idx]
    G, m = f.weights(weights[None])
    G, m = float(G[0]), m[0]
    J = f.region_jacobian(z, G, m)
    if len(surf_idx) == 0:
        eig = np.linalg.eigvals(J)
        return dict(G=G, m=m, eigenvalues=eig, attracting=True, unique=True,
                    stable=bool((eig.real < 0).all()), type=_type(eig, True))
    k = len(surf_idx)
    n = f.normals(z, surf_idx)  # (k, d)
    B = f.point_fields(z, surf_idx)  # (k, d) field of each surface point at z
    Nm = n @ B.T  # (k, k): n_i . g_mu f_mu
    unique = np.linalg.cond(Nm) < 1e12
    if k < f.d:
        P = np.eye(f.d) - B.T @ np.linalg.solve(Nm, n) if unique else np.eye(f.d)
        Q = _null_space(n)
        eig = np.linalg.eigvals(Q.T @ P @ J @ Q)
    else:
        eig = np.zeros(0)
    # transversal dynamics of eta_i = sign_b S_i (> 0 on the active side): deta/dt = c + C Theta(eta)
    base = weights.copy()
    base[surf_idx] = 0.0
    Gb, mb = f.weights(base[None])
    c = f.sign_b * n @ f.region_field(z, Gb[0], mb[0])
    C = f.sign_b * Nm
    attracting = _attracting(c, C)
    stable = bool(attracting and (eig.real < 0).all())
    kind = _type(eig, attracting) if attracting else "repelling sliding"
    return dict(G=G, m=m, eigenvalues=eig, attracting=attracting, unique=bool(unique), stable=stable, type=kind)


def _attracting(c, C) -> bool:
    """Does deta/dt = c + C Theta(eta) bring every small eta to 0?

    Sufficient (and for one surface also necessary): in every orthant the constant field points
    towards each coordinate plane. Otherwise the piecewise-constant system, which is invariant
    under eta -> s eta (s > 0), is integrated from many unit directions with steps proportional
    to |eta| (so that sliding is resolved at every scale): attracting iff every start shrinks
    by 10^6, which a repelling or rotating-outward system never does.
    """
    k = len(c)
    corners = np.array(list(itertools.product((0.0, 1.0), repeat=k)))
    v = c + corners @ C.T  # the constant field of each orthant (corner T: eta_i > 0 for T_i = 1)
    towards = np.where(corners > 0, v < 0, v > 0)
    if towards.all() or k == 1:
        return bool(towards.all())
    away = np.where(corners > 0, v > 0, v < 0)
    if away.all(1).any():  # an orthant whose field points away in every coordinate: it escapes
        return False
    rng = np.random.default_rng(0)
    eta = rng.standard_normal((128, k))
    eta /= np.linalg.norm(eta, axis=1, keepdims=True)
    speed = np.abs(c).max() + np.abs(C).sum(1).max()
    for step in range(4_000):
        size = np.sqrt(np.einsum("ij,ij->i", eta, eta))[:, None]
        if step % 25 == 0:
            if size.max() < 1e-6:
                return True
            if size.max() > 1e3:
                return False
        eta = eta + (0.01 / speed) * size * (c + (eta > 0) @ C.T)
    return False


def _null_space(n):
    _, s, vt = np.linalg.svd(n)
    return vt[len(s):].T if len(s) else np.eye(n.shape[1])


def _type(eig, attracting) -> str:
    if len(eig) == 0:
        return "stable pseudo-node" if attracting else "repelling sliding"
    re = eig.real
    focus = bool((np.abs(eig.imag) > 1e-12 * np.abs(eig).max()).any())
    if (re < 0).all():
        return "stable focus" if focus else "stable node"
    if (re > 0).all():
        return "unstable focus" if focus else "unstable node"
    if (re == 0).any():
        return "non-hyperbolic"
    return "saddle"


# ------------------------------------------------------------------------------ neutral sets
def _neutral_sets(f: NeuronField, red: _Reduced, info: dict, n_directions=4096) -> list[dict]:
    out = []
    where = "outside every switching sphere" if f.sign_b < 0 else "inside every switching ball"
    dead = info.get("dead_cells", 0) > 0
    point = None
    if dead and info.get("dead_point") is not None and red.x.shape[1]:
        wv = red.basis @ info["dead_point"]
        point = (wv / max(wv @ wv, 1e-300)).tolist()
    out.append({"kind": "dead region", "exists": bool(dead), "where": where,
                "description": "no training point activates the neuron: F = 0, every z there is neutral",
                "point": point})
    if info.get("zero_field_cells", 0):
        out.append({"kind": "zero-field regions", "count": int(info["zero_field_cells"]),
                    "description": "regions whose active points cancel (G_A = 0, m_A = 0): F = 0 there"})
    # the origin z = 0 (b = 0) is a zero of every region field; near it F ~ sign d G(u) z / (d p)
    u = np.random.default_rng(1).standard_normal((n_directions, f.d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    active = (f.sign_b * (-(u @ f.X.T)) > 0) | ((np.linalg.norm(f.X, axis=1) == 0)[None] & (f.sign_b > 0))
    Gu = active @ f.g
    rate = f.time_sign * Gu / f.p
    out.append({"kind": "origin", "z": [0.0] * f.d,
                "description": "z = 0 (b = 0): a zero of every region field; z -> 0 radially where the rate < 0",
                "attracting_directions": float((rate < 0).mean()),
                "repelling_directions": float((rate > 0).mean())})
    return out


# ------------------------------------------------------------------------------ driver
def find_equilibria(f: NeuronField, *, tol: float = 1e-9, max_vertices: int = MAX_VERTICES,
                    polish: bool = True, digits: int = 50, certify: bool | None = None,
                    progress: bool = False, fallback_samples: int = 20_000, seed: int = 0) -> FixedPoints:
    """All equilibria of the neuron field ``f`` (see the module docstring)."""
    t0 = time.perf_counter()
    red = _reduce(f)
    q, r = red.x.shape
    notes = []
    counts = {"points_in_arrangement": q, "span_dimension": r}
    if q == 0:
        found, info = _Candidates(), {"dead_cells": int(red.G0 == 0), "dead_point": None}
        method, complete = "single region", True
        G = red.G0
        notes.append("no switching surface carries weight: one region, F = sign G0 z / p, no non-zero equilibrium"
                     if G else "no training point carries weight: F = 0 everywhere")
    else:
        nv = vertex_count(q, r)
        counts["vertices"] = nv
        if nv <= max_vertices:
            bar = _progress(nv, progress)
            found, info = _enumerate(f, red, tol, progress=bar.update if bar else None)
            if bar:
                bar.close()
            method = "arrangement enumeration"
            complete = info["degenerate_vertices"] == 0
            if not complete:
                notes.append(f"{info['degenerate_vertices']} vertices lie on more than {r} switching surfaces "
                             "(data not in general position): the enumeration may miss faces there; "
                             "sampled candidates were added")
        else:
            found, info = _Candidates(), {}
            method, complete = "sampling (may be incomplete)", False
            notes.append(f"{nv} vertices exceed max_vertices = {max_vertices}: candidates come from sampling "
                         "regions and endpoints of the flow, so equilibria may be missing")
        if not complete:
            from .sampling import sample_candidates

            extra = sample_candidates(f, red, tol, fallback_samples, seed)
            for key in ("w", "surfaces", "lam", "active"):
                getattr(found, key).extend(getattr(extra, key))
        counts.update({k: v for k, v in info.items() if k not in ("dead_point",)})
    t1 = time.perf_counter()
    eqs = _build(f, red, found, tol)
    t2 = time.perf_counter()
    if polish and eqs:
        from .polish import polish_all

        polish_all(f, eqs, digits=digits, certify=certify)
    t3 = time.perf_counter()
    neutral = _neutral_sets(f, red, info)
    timing = {"enumerate_s": t1 - t0, "classify_s": t2 - t1, "polish_s": t3 - t2,
              "total_s": time.perf_counter() - t0}
    return FixedPoints(f, eqs, neutral, complete, method, notes, timing, counts)


def _build(f, red, found: _Candidates, tol) -> list[Equilibrium]:
    eqs, seen = [], []
    for w_r, Ds, lam in zip(found.w, found.surfaces, found.lam):
        w = red.basis @ w_r
        z = w / (w @ w)
        if any(np.linalg.norm(z - s) <= 1e-9 * (1 + np.linalg.norm(s)) for s in seen):
            continue
        seen.append(z)
        # merged duplicates share the surface and its lambda
        surf = np.concatenate([red.groups[j] for j in Ds]).astype(int) if len(Ds) else np.zeros(0, dtype=int)
        lam_full = np.concatenate([np.full(len(red.groups[j]), l) for j, l in zip(Ds, lam)]) if len(Ds) else np.zeros(0)
        order = np.argsort(surf)
        surf, lam_full = surf[order], lam_full[order]
        info = _classify(f, z, surf, lam_full, tol)
        arg = f.argument(z[None])[0]
        active = np.flatnonzero(arg > 0)
        active = np.setdiff1d(active, surf)
        eqs.append(Equilibrium(z=z, kind="sliding" if len(surf) else "regular", surfaces=surf.tolist(),
                               active=active.tolist(), lam=lam_full.tolist(), **info))
    # stable first, then by distance from the origin: a stable order for reports and tests
    eqs.sort(key=lambda e: (not e.stable, e.kind, float(np.linalg.norm(e.z))))
    return eqs


def _progress(total, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="vertices", unit="v", unit_scale=True, leave=False)


def enumerate_regular_bruteforce(f: NeuronField, tol: float = 1e-9) -> list[np.ndarray]:
    """Reference for tests: all 2^p active sets, keep z*_A that lies strictly in region A."""
    if f.p > 16:
        raise ValueError("brute force over 2^p active sets is for p <= 16")
    zstar = derive("fixed-point").compile("numpy", "zstar")
    out = []
    for bits in itertools.product((0.0, 1.0), repeat=f.p):
        mask = np.array(bits)
        G, m = f.weights(mask[None])
        if abs(G[0]) <= tol or np.linalg.norm(m[0]) == 0:
            continue
        z = np.asarray(zstar(G=G, m_A=m, d=f.d)).reshape(-1)
        arg = f.argument(z[None])[0]
        scale = np.abs(z @ z) + np.abs(f.X @ z)
        if np.all(np.abs(arg) > tol * scale) and np.array_equal(arg > 0, mask > 0):
            out.append(z)
    return out
