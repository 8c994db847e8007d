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


def _enumerate(f: NeuronField, red: _Reduced, tol: float, progress=None):
    """Candidates from every face of the arrangement; also the dead and zero-field cells.

    Almost no face has a candidate (lambda falls outside [0, 1]^k, or w* off the face), so the
    faces at each batch of vertices are first screened with per-row formulas on contiguous (n,)
    columns (Cramer's rule for k <= 3), with margins far wider than their rounding. The few that
    pass are computed and tested the reference way (``exact``): the screening only drops faces
    that clearly fail, and what is found is what the reference computation finds.
    """
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
    xp = xr[probes].T
    xnorm = np.linalg.norm(xr, axis=1)
    found = _Candidates()
    dead = zero_field = 0
    dead_point = None
    visited = 0
    gscale = np.abs(gq).sum() + abs(red.G0)
    subsets = [np.array([(mask >> i) & 1 for i in range(r)], dtype=bool) for mask in range(2 ** r)]
    subsets_T = np.array(subsets).T  # (plane, S)
    pending = [[] for _ in subsets]  # rows (vertex, defining, sides, base) that passed the screening, by S
    # Screening margins, far wider than the rounding of the screening formulas and of the
    # reference's: lambda may lie LMARGIN outside [0, 1], and w* MARGIN relative to
    # |x| (|w*| + mabs/|G|) on the wrong side of a plane (mabs bounds the terms summed into m).
    # Nearly singular systems (determinant below ILL relative to the diagonal's scales) and
    # nearly vanishing G (below ILL gscale) pass unscreened.
    MARGIN, LMARGIN, ILL = 1e-6, 1e-3, 1e-4
    mabs = np.abs(W[:, 1:1 + r]).sum()

    def cramer(A, b):
        """A y = b for rows of k x k systems (nested lists of (n,) columns): (det * y, det)."""
        k = len(b)
        if k == 1:
            return [b[0]], A[0][0]
        if k == 2:
            return [b[0] * A[1][1] - A[0][1] * b[1], A[0][0] * b[1] - A[1][0] * b[0]], \
                A[0][0] * A[1][1] - A[0][1] * A[1][0]
        if k == 3:
            def det3(c0, c1, c2):  # columns
                return (c0[0] * (c1[1] * c2[2] - c1[2] * c2[1]) - c1[0] * (c0[1] * c2[2] - c0[2] * c2[1])
                        + c2[0] * (c0[1] * c1[2] - c0[2] * c1[1]))
            cols = [[A[i][j] for i in range(3)] for j in range(3)]
            return [det3(*[b if j == u else cols[j] for j in range(3)]) for u in range(3)], det3(*cols)
        M = np.stack([np.stack(row, -1) for row in A], -2)  # larger systems (d > 3): LAPACK
        det = np.linalg.det(M)
        y = _solve_small(M, np.stack(b, -1))
        return [y[:, i] * det for i in range(k)], det

    def side_ok(w, G, cols, test):
        """w* (columns w) on the face's side of the defining planes j where test[j], up to the
        margin. cols(a) restricts a (..., n) column array of the current batch (xc, sT, xn) to
        the rows of w."""
        wscale = np.sqrt(sum(wc * wc for wc in w)) + mabs / np.abs(G)
        ok = np.ones(len(wscale), dtype=bool)
        for j in range(r):
            sv = sum(xj * wc for xj, wc in zip(cols(xc[:, j]), w)) - 1.0
            ok &= ~test[j] | (cols(sT[j]) * sv > -tol - MARGIN * (1 + cols(xn[j]) * wscale))
        return ok

    def probe_ok(B, rows, w, G):
        """Whether w* (rows of w) is not clearly on the other side of a probe plane than the
        vertex: a few probes first, which drop most rows, then all of them."""
        keep = np.ones(len(rows), dtype=bool)
        for P in (probes[:4], probes):
            i = np.flatnonzero(keep)
            wp = w[i] @ xr[P].T - 1.0
            vp = B.vertex[rows[i]] @ xr[P].T - 1.0
            free = ~(B.defining[rows[i], :, None] == P).any(1)
            wscale = (np.sqrt((w[i] ** 2).sum(1)) + mabs / np.abs(G[i]))[:, None]
            wrong = (free & (wp * vp < 0) & (np.abs(wp) > tol + MARGIN * (1 + xnorm[P] * wscale))
                     & (np.abs(vp) > 1e-12 * (1 + np.abs(vp + 1.0))))
            keep[i[wrong.any(1)]] = False
        return keep

    def exact(B, base, in_S):
        """The reference computation for the faces in the flats of S at the vertices of B (with
        their base weights): appends what passes every test."""
        rows = np.arange(len(B.vertex))
        real = ~B.is_box
        Dc = np.where(real, B.defining, 0)
        add_all = real & (B.sides == -sb)
        k = int(in_S.sum())
        # defining planes not in S: the face is on side s_j; active where s_j = -sign_b
        add = add_all[rows] & ~in_S[None]
        wsum = base[rows]
        for j in np.flatnonzero(~in_S):
            wsum += add[:, j, None] * (W[Dc[rows, j]] * real[rows, j, None])
        G, m = wsum[:, 0] + red.G0, wsum[:, 1:1 + r]
        if k == 0:
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
        good = (np.abs(G) > tol * gscale) & (np.linalg.norm(m, axis=1) > 0)
        rows, add, lam, G, m = rows[good], add[good], lam[good], G[good], m[good]
        if len(rows) == 0:
            return
        w = np.asarray(wstar(m_A=m, G=G, d=d)).reshape(len(rows), r)
        # cheap filters: w* on the face's side of the defining planes it is not on, and of
        # the probe planes (whose side at the vertex is the face's side)
        Dr = Dc[rows]
        sidev = (xr[Dr] @ w[..., None])[..., 0] - 1.0
        idx = np.flatnonzero(np.where(real[rows] & ~in_S[None], B.sides[rows] * sidev > -tol, True).all(1))
        ri = rows[idx]
        wp = w[idx] @ xp - 1.0
        vprobe = B.vertex[ri] @ xp - 1.0
        probe_free = ~(B.defining[ri, :, None] == probes[None, None, :]).any(1)
        idx = idx[np.where(probe_free, np.sign(wp) == np.sign(vprobe), True).all(1)]
        if len(idx) == 0:
            return
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

    for B in arr.vertices():
        n = len(B.vertex)
        visited += n
        if progress is not None:
            progress(n)
        D, sides, real = B.defining, B.sides, ~B.is_box
        Dc = np.where(real, D, 0)  # box planes carry no weight: any index will do
        add_all = real & (sides == -sb)
        # the screening works on (component, plane, row) columns, rows last
        DcT, realT, sT = Dc.T, real.T, sides.T
        xc = np.take(xr.T, DcT, axis=1)  # (r, r, n): component c of the point of plane j
        gT, xn = np.take(gq, DcT), np.take(xnorm, DcT)
        gx = gT[:, None] * xc.transpose(1, 0, 2)  # (plane, component, row): the weights g x
        # active at the vertex (off its planes): a.w < 1 for b > 0, a.w > 1 for b < 0
        if sb > 0:
            base = B.below
        else:
            realf = realT.astype(np.float64)
            base = total - B.below - sum(np.concatenate([[gT[j]], gx[j], [np.ones(n)]]) * realf[j]
                                         for j in range(r)).T
        # G and m of the cells (S empty): every defining plane on its active side added, in
        # the order of the reference computation (so that the counts below are its counts)
        acc = np.array(base.T, order="C")
        addf = add_all.T.astype(np.float64)
        for j in range(r):
            acc[0] += gT[j] * addf[j]
            acc[1:1 + r] += gx[j] * addf[j]
            acc[-1] += addf[j]
        G_all, m_all = acc[0] + red.G0, acc[1:1 + r]

        # k = 0: the cells at the vertex. Empty and zero-field cells are counted here.
        nonempty = acc[-1] > 0.5
        dead_here = ~nonempty & (red.G0 == 0) & (red.always.size == 0)
        if dead_here.any():
            dead += int(dead_here.sum())
            if dead_point is None:
                dead_point = B.vertex[np.flatnonzero(dead_here)[0]]
        zero = (np.abs(G_all) <= tol * gscale) & (np.sqrt((m_all ** 2).sum(0)) <= tol) & nonempty
        zero_field += int(zero.sum())
        keep = (np.abs(G_all) > tol * gscale) & (m_all != 0).any(0)
        G = np.where(keep, G_all, 1.0)
        w = np.asarray(wstar(m_A=m_all.T, G=G, d=d)).reshape(n, r)
        rows = np.flatnonzero(keep & side_ok(w.T, G, lambda a: a, realT))
        rows = rows[probe_ok(B, rows, w[rows], G[rows])]
        if len(rows):
            pending[0].append((B.vertex[rows], B.defining[rows], B.sides[rows], base[rows]))

        # k >= 1: the faces in the flats of S. With rhs_all the conditions' right-hand sides for
        # G_all, m_all (all of D added) and A = cG + cm Gram, the solution for S is
        # lambda_i = z_i / g_i + add_i where A_SS z = rhs_all_S, and then G = G_all + sum z_i,
        # m = m_all + sum z_i x_i: one small solve per face, and nothing else per S.
        A = np.empty((r, r, n))
        for i in range(r):
            for j in range(i, r):
                A[i, j] = A[j, i] = cG + cm * sum(xc[c, i] * xc[c, j] for c in range(r))
        Ascale = ILL * (np.abs(cG) + np.abs(cm) * xn ** 2)
        rhs_all = -(cG * G_all + cm * sum(xc[c] * m_all[c] for c in range(r)))  # (r, n)
        lo = -add_all.T.astype(np.float64) - LMARGIN  # bounds on z_i / g_i = lambda_i - add_i
        hi = lo + (1 + 2 * LMARGIN)
        boxbits = B.is_box @ (1 << np.arange(r))
        # the lambda of each S first; then, for the faces that pass, w* (for all S at once)
        passed = []  # (S, rows, ill, the changes of G and m from G_all, m_all)
        for mask in range(1, 2 ** r):
            valid = (boxbits & mask) == 0  # a face lies in no box plane
            if not valid.any():
                continue
            sub = slice(None) if valid.all() else np.flatnonzero(valid)
            Si = np.flatnonzero(subsets[mask])
            y, det = cramer([[A[i, j, sub] for j in Si] for i in Si], [rhs_all[i, sub] for i in Si])
            scale = Ascale[Si[0], sub]
            for i in Si[1:]:
                scale = scale * Ascale[i, sub]
            ill = np.abs(det) <= scale  # (A is finite: so is det)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                t = [yi / (det * gT[i, sub]) for yi, i in zip(y, Si)]
                inb = np.logical_and.reduce([(ti >= lo[i, sub]) & (ti <= hi[i, sub]) for ti, i in zip(t, Si)])
                p = np.flatnonzero(inb | ill)
                rows = p if isinstance(sub, slice) else sub[p]
                z = [ti[p] * np.take(gT[i], rows) for ti, i in zip(t, Si)]
                dm = sum(zi * np.take(xc[:, i], rows, axis=1) for zi, i in zip(z, Si))
            passed.append((mask, rows, ill[p], sum(z), dm))
        if not passed:
            continue
        masks, rows, ill, dG, dm = zip(*passed)
        S_of_row = np.repeat(masks, [len(rw) for rw in rows])
        rows, ill, dG, dm = (np.concatenate(a, axis=-1) for a in (rows, ill, dG, dm))

        def cols(a):  # batch columns at these rows
            return np.take(a, rows, axis=-1)

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            G, m = cols(G_all) + dG, cols(m_all) + dm
            unscreened = ill | ~(np.abs(G) > ILL * gscale) | ~np.isfinite(m).all(0)
            G = np.where(unscreened, 1.0, G)
            w = np.asarray(wstar(m_A=m.T, G=G, d=d)).reshape(len(rows), r)
            ok = ~unscreened & side_ok(w.T, G, cols, cols(realT) & ~subsets_T[:, S_of_row])
        ok[ok] = probe_ok(B, rows[ok], w[ok], G[ok])
        for mask in np.unique(S_of_row[ok | unscreened]):
            rw = rows[(ok | unscreened) & (S_of_row == mask)]
            pending[mask].append((B.vertex[rw], B.defining[rw], B.sides[rw], base[rw]))
    # the few faces that passed, by S: one reference computation each (its cost is per call)
    from .arrangement import VertexBatch

    for mask, parts in enumerate(pending):
        if parts:
            vertex, defining, sides, base = (np.concatenate(a) for a in zip(*parts))
            exact(VertexBatch(vertex, defining, sides, base, q), base, subsets[mask])
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
def _classify(f: NeuronField, z, surf_idx, lam, tol, active=None) -> dict:
    """Jacobian, eigenvalues, attraction and type of an equilibrium at z on the surfaces surf_idx.

    ``active``: the (p,) activation of the points off the surfaces; by default read off z (a
    caller that knows the face passes it, for points exactly on a boundary of the face)."""
    info = _local(f, z, surf_idx, lam, active)
    return _finish(info, _attracting_many([info.pop("c")], [info.pop("C")], [info.pop("wts")])[0])


def _local(f: NeuronField, z, surf_idx, lam, active=None) -> dict:
    """Everything of _classify except the transversal-attraction decision, which needs the
    integration of _attracting_many and is therefore made for all equilibria at once: the
    transversal system (c, C, weights) is returned with the rest (None for a regular point)."""
    on = np.zeros(f.p, dtype=bool)
    on[surf_idx] = True
    active = (f.argument(z[None])[0] > 0 if active is None else np.asarray(active, dtype=bool)) & ~on
    weights = active.astype(np.float64)
    weights[surf_idx] = lam
    G, m = f.weights(weights[None])
    G, m = float(G[0]), m[0]
    J = f.region_jacobian(z, G, m)
    if len(surf_idx) == 0:
        eig = np.linalg.eigvals(J)
        return dict(G=G, m=m, active=np.flatnonzero(active).tolist(), eigenvalues=eig, unique=True,
                    c=None, C=None, wts=None)
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
    return dict(G=G, m=m, active=np.flatnonzero(active).tolist(), eigenvalues=eig, unique=bool(unique),
                c=c, C=f.sign_b * Nm, wts=np.abs(f.g[surf_idx]))


def _finish(info: dict, attracting: bool) -> dict:
    """Stability and type from the local data and the attraction decision."""
    eig = info["eigenvalues"]
    stable = bool(attracting and (eig.real < 0).all())
    kind = _type(eig, attracting) if attracting else "repelling sliding"
    return dict(info, attracting=bool(attracting), stable=stable, type=kind)


def _attracting(c, C, weights=None) -> bool:
    """Does deta/dt = c + C Theta(eta) bring every small eta to 0? (one system; see _attracting_many)"""
    return bool(_attracting_many([c], [C], None if weights is None else [weights])[0])


# the integration of _attracting_many: starts, steps, check interval and the decision thresholds
_STARTS, _MAX_STEPS, _CHECK, _SHRUNK, _GROWN = 128, 4_000, 25, 1e-6, 1e3


def _attracting_many(cs, Cs, weights=None) -> np.ndarray:
    """For each transversal system i: does deta/dt = c_i + C_i Theta(eta) bring every small eta to 0?

    With lambda = -C^-1 c in (0, 1)^k this is deta/dt = C psi, psi_i = Theta(eta_i) - lambda_i.
    Lyapunov: V = sum_i w_i phi_i(eta_i), phi_i(s) = integral of psi_i, is positive away from 0
    and dV/dt = psi^T W C psi. If W C + C^T W < 0 for a positive diagonal W, V falls at a rate
    bounded away from 0 and eta reaches 0 in finite time; if it is > 0, eta never does. On k
    surfaces of this field C = sign_beta |z|^2/(d p) K diag(g) with K_ij = d + x_i.x_j positive
    definite, so W = diag(|g|) decides every case where the k points' g share a sign.

    Sufficient (and for one surface also necessary): in every orthant the constant field points
    towards each coordinate plane. Otherwise the piecewise-constant system, which is invariant
    under eta -> s eta (s > 0), is integrated from many unit directions with steps proportional
    to |eta| (so that sliding is resolved at every scale): attracting iff every start shrinks
    by 10^6, which a repelling or rotating-outward system never does.

    ``cs``, ``Cs``, ``weights``: sequences of (k_i,), (k_i, k_i), (k_i,) arrays (None entries,
    regular points, give True). Systems of equal k are tested together as stacked arrays, and
    the integrations of all undecided systems of one k run as one batch: the per-step work of a
    Python loop is paid once per batch instead of once per equilibrium, which is what made the
    classification of a few hundred sliding equilibria slow.
    """
    out = np.ones(len(cs), dtype=bool)
    ks = np.array([-1 if c is None else len(c) for c in cs])
    for k in np.unique(ks[ks > 0]):
        idx = np.flatnonzero(ks == k)
        c = np.array([cs[i] for i in idx], dtype=np.float64).reshape(len(idx), k)
        C = np.array([Cs[i] for i in idx], dtype=np.float64).reshape(len(idx), k, k)
        undecided = np.ones(len(idx), dtype=bool)
        if weights is not None:
            W = np.array([weights[i] for i in idx], dtype=np.float64).reshape(len(idx), k)
            WC = W[:, :, None] * C
            sym = np.linalg.eigvalsh(WC + np.swapaxes(WC, 1, 2))
            neg, pos = (sym < 0).all(1), (sym > 0).all(1)
            out[idx[neg]] = True
            out[idx[pos & ~neg]] = False
            undecided &= ~neg & ~pos
        corners = np.array(list(itertools.product((0.0, 1.0), repeat=int(k))))
        # the constant field of each orthant (corner T: eta_i > 0 for T_i = 1): (n, 2^k, k)
        v = c[:, None, :] + corners @ np.swapaxes(C, 1, 2)
        towards = np.where(corners > 0, v < 0, v > 0).all((1, 2))
        away = np.where(corners > 0, v > 0, v < 0).all(2).any(1)  # an orthant that escapes
        sure = undecided & (towards | (k == 1))
        out[idx[sure]] = towards[sure]
        undecided &= ~sure
        out[idx[undecided & away]] = False
        undecided &= ~away
        rest = np.flatnonzero(undecided)
        if len(rest):
            out[idx[rest]] = _integrate_orthants(c[rest], C[rest], v[rest])
    return out


def _integrate_orthants(c, C, v) -> np.ndarray:
    """The scale-free integration of _attracting_many for n systems of one k at once.

    Every system starts from the same unit directions (seed 0) and is stepped by
    eta += (0.01 / speed) |eta| v[orthant of eta], exactly the single-system recurrence; a
    system leaves the batch at the first check where its decision is made.
    """
    n, k = c.shape
    eta0 = np.random.default_rng(0).standard_normal((_STARTS, k))
    eta0 /= np.linalg.norm(eta0, axis=1, keepdims=True)
    # one contiguous row per component, columns system-major: every operation of a step is a
    # few whole-row numpy calls (row gathers and in-place updates are far cheaper than
    # broadcasting over (N, k) arrays and fancy-indexing rows)
    eta = np.tile(eta0.T, (1, n))
    speed = np.abs(c).max(1) + np.abs(C).sum(2).max(1)
    rate = np.repeat(0.01 / speed, _STARTS)
    vrows = np.ascontiguousarray(v.reshape(n * 2 ** k, k).T)  # (k, n 2^k)
    offset = np.repeat(np.arange(n, dtype=np.intp) * 2 ** k, _STARTS)
    alive = np.arange(n)  # the systems still in the batch, in the order of the columns of eta
    out = np.zeros(n, dtype=bool)  # undecided after the last step: not attracting
    for step in range(_MAX_STEPS):
        size = eta[0] * eta[0]
        for i in range(1, k):
            size += eta[i] * eta[i]
        np.sqrt(size, out=size)
        if step % _CHECK == 0:
            biggest = size.reshape(len(alive), _STARTS).max(1)
            shrunk, grown = biggest < _SHRUNK, biggest > _GROWN
            done = shrunk | grown
            if done.any():
                out[alive[shrunk]] = True
                keep = np.repeat(~done, _STARTS)
                alive = alive[~done]
                if len(alive) == 0:
                    break
                eta, size, rate = eta[:, keep], size[keep], rate[keep]
                offset = np.repeat(alive * 2 ** k, _STARTS)
        # the orthant of eta in itertools.product order (eta_0 > 0 is the most significant bit)
        row = offset.copy()
        for i in range(k):
            row += (eta[i] > 0) * (2 ** (k - 1 - i))
        size *= rate
        for i in range(k):
            eta[i] += size * np.take(vrows[i], row)
    return out


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
            for key in ("w", "surfaces", "lam"):
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
    # distinct points first: the tolerance test runs against a growing array (one vectorised
    # comparison per candidate) rather than a Python loop over every point kept so far
    kept, seen, norms = [], np.empty((max(len(found.w), 1), f.d)), np.empty(max(len(found.w), 1))
    for w_r, Ds, lam in zip(found.w, found.surfaces, found.lam):
        w = red.basis @ w_r
        z = w / (w @ w)
        n = len(kept)
        if n and (np.linalg.norm(seen[:n] - z, axis=1) <= 1e-9 * (1 + norms[:n])).any():
            continue
        seen[n], norms[n] = z, np.linalg.norm(z)
        # merged duplicates share the surface and its lambda
        surf = np.concatenate([red.groups[j] for j in Ds]).astype(int) if len(Ds) else np.zeros(0, dtype=int)
        lam_full = np.concatenate([np.full(len(red.groups[j]), l) for j, l in zip(Ds, lam)]) if len(Ds) else np.zeros(0)
        order = np.argsort(surf)
        kept.append((z, surf[order], lam_full[order]))
    infos = [_local(f, z, surf, lam_full) for z, surf, lam_full in kept]
    # the transversal attraction of every sliding candidate in one batch
    attracting = _attracting_many([i.pop("c") for i in infos], [i.pop("C") for i in infos],
                                  [i.pop("wts") for i in infos])
    eqs = [Equilibrium(z=z, kind="sliding" if len(surf) else "regular", surfaces=surf.tolist(),
                       lam=lam_full.tolist(), **_finish(info, a))
           for (z, surf, lam_full), info, a in zip(kept, infos, attracting)]
    # stable first, then by distance from the origin: a stable order for reports and tests
    eqs.sort(key=lambda e: (not e.stable, e.kind, float(np.linalg.norm(e.z))))
    return eqs


def _progress(total, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    import sys

    return tqdm(total=total, desc="vertices", unit="v", unit_scale=True, leave=False, disable=not sys.stderr.isatty())


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
