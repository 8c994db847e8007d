"""Every face of the arrangement, screened for the one equilibrium it may hold.

A face lies in the surfaces S (|S| = k, 0 <= k <= r) and has a fixed active set of the other
points. Filippov's field on it has one non-zero zero, w* = -m/(d G) (derive("inversion")), which
is an equilibrium iff lambda_S (a k x k solve) lies in [0, 1]^k and w* lies in the face.

Almost no face has a candidate, so the faces at each batch of vertices are first screened with
per-row formulas on contiguous (n,) columns (Cramer's rule for k <= 3), with margins far wider
than their rounding. The few that pass are computed and tested the reference way
(:meth:`_Enumeration.exact`): the screening only drops faces that clearly fail, and what is found
is what the reference computation finds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...theory.derived import derive
from .arrangement import Arrangement, VertexBatch
from .faces import Candidates, Reduced, condition_coefficients, solve_small
from .neuron_field import NeuronField

# Screening margins, far wider than the rounding of the screening formulas and of the
# reference's: lambda may lie LMARGIN outside [0, 1], and w* MARGIN relative to
# |x| (|w*| + mabs/|G|) on the wrong side of a plane (mabs bounds the terms summed into m).
# Nearly singular systems (determinant below ILL relative to the diagonal's scales) and
# nearly vanishing G (below ILL gscale) pass unscreened.
MARGIN, LMARGIN, ILL = 1e-6, 1e-3, 1e-4


def enumerate_faces(f: NeuronField, red: Reduced, tol: float, progress=None):
    """Candidates from every face of the arrangement; also the dead and zero-field cells.

    Returns (Candidates, info): info counts vertices, degenerate vertices, dead and zero-field
    cells, and gives a point of a dead cell (``dead_point``, or None)."""
    en = _Enumeration(f, red, tol)
    for B in en.arr.vertices():
        en.visited += len(B.vertex)
        if progress is not None:
            progress(len(B.vertex))
        en.screen(B)
    en.finish()
    return en.found, dict(vertices=en.visited, degenerate_vertices=en.arr.degenerate_vertices,
                          dead_cells=en.dead, zero_field_cells=en.zero_field, dead_point=en.dead_point)


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
    y = solve_small(M, np.stack(b, -1))
    return [y[:, i] * det for i in range(k)], det


@dataclass
class _Columns:
    """One batch of vertices as (component, plane, row) columns, rows last: what the screening reads."""
    B: VertexBatch
    xc: np.ndarray  # (r, r, n): component c of the point of plane j
    gT: np.ndarray  # (r, n): g of the point of plane j
    xn: np.ndarray  # (r, n): |x| of the point of plane j
    gx: np.ndarray  # (plane, component, row): the weights g x
    sT: np.ndarray  # (r, n): the side of the faces above the vertex
    realT: np.ndarray  # (r, n): plane j is a real hyperplane (not the bounding box)
    add_all: np.ndarray  # (n, r): plane j is on its active side for the faces above the vertex
    base: np.ndarray  # (n, c): the weights summed over the active points off the vertex's planes


class _Enumeration:
    """The state of one enumeration: the data, the screening's constants and what it found."""

    def __init__(self, f: NeuronField, red: Reduced, tol: float):
        self.d, self.sb, self.red, self.tol = f.d, f.sign_b, red, tol
        self.xr, self.gq = red.x, red.g
        self.q, self.r = self.xr.shape
        q, r = self.q, self.r
        # per-point weights summed at each vertex: g, g x, and a count (to tell empty active sets)
        self.W = np.concatenate([self.gq[:, None], self.gq[:, None] * self.xr, np.ones((q, 1))], axis=1)
        self.total = self.W.sum(0)
        self.cG, self.cm = condition_coefficients(self.d)
        self.wstar = derive("inversion").compile("numpy", "wstar")
        self.arr = Arrangement(self.xr, self.W, tol=tol)
        # a few fixed hyperplanes on which every candidate is tested before the full test
        self.probes = np.random.default_rng(0).choice(q, size=min(q, 24), replace=False)
        self.xp = self.xr[self.probes].T
        self.xnorm = np.linalg.norm(self.xr, axis=1)
        self.found = Candidates()
        self.dead = self.zero_field = self.visited = 0
        self.dead_point = None
        self.gscale = np.abs(self.gq).sum() + abs(red.G0)
        self.subsets = [np.array([(mask >> i) & 1 for i in range(r)], dtype=bool) for mask in range(2 ** r)]
        self.subsets_T = np.array(self.subsets).T  # (plane, S)
        self.pending = [[] for _ in self.subsets]  # rows (vertex, defining, sides, base) that passed, by S
        self.mabs = np.abs(self.W[:, 1:1 + r]).sum()

    # -- the screening ---------------------------------------------------------------------------
    def columns(self, B: VertexBatch) -> _Columns:
        r, n = self.r, len(B.vertex)
        D, sides, real = B.defining, B.sides, ~B.is_box
        Dc = np.where(real, D, 0)  # box planes carry no weight: any index will do
        add_all = real & (sides == -self.sb)
        DcT, realT, sT = Dc.T, real.T, sides.T
        xc = np.take(self.xr.T, DcT, axis=1)
        gT, xn = np.take(self.gq, DcT), np.take(self.xnorm, DcT)
        gx = gT[:, None] * xc.transpose(1, 0, 2)
        # active at the vertex (off its planes): a.w < 1 for b > 0, a.w > 1 for b < 0
        if self.sb > 0:
            base = B.below
        else:
            realf = realT.astype(np.float64)
            base = self.total - B.below - sum(np.concatenate([[gT[j]], gx[j], [np.ones(n)]]) * realf[j]
                                              for j in range(r)).T
        return _Columns(B, xc, gT, xn, gx, sT, realT, add_all, base)

    def side_ok(self, c: _Columns, w, G, cols, test):
        """w* (columns w) on the face's side of the defining planes j where test[j], up to the
        margin. cols(a) restricts a (..., n) column array of the batch (xc, sT, xn) to the rows of w."""
        wscale = np.sqrt(sum(wc * wc for wc in w)) + self.mabs / np.abs(G)
        ok = np.ones(len(wscale), dtype=bool)
        for j in range(self.r):
            sv = sum(xj * wc for xj, wc in zip(cols(c.xc[:, j]), w)) - 1.0
            ok &= ~test[j] | (cols(c.sT[j]) * sv > -self.tol - MARGIN * (1 + cols(c.xn[j]) * wscale))
        return ok

    def probe_ok(self, B, rows, w, G):
        """Whether w* (rows of w) is not clearly on the other side of a probe plane than the
        vertex: a few probes first, which drop most rows, then all of them."""
        keep = np.ones(len(rows), dtype=bool)
        for P in (self.probes[:4], self.probes):
            i = np.flatnonzero(keep)
            wp = w[i] @ self.xr[P].T - 1.0
            vp = B.vertex[rows[i]] @ self.xr[P].T - 1.0
            free = ~(B.defining[rows[i], :, None] == P).any(1)
            wscale = (np.sqrt((w[i] ** 2).sum(1)) + self.mabs / np.abs(G[i]))[:, None]
            wrong = (free & (wp * vp < 0) & (np.abs(wp) > self.tol + MARGIN * (1 + self.xnorm[P] * wscale))
                     & (np.abs(vp) > 1e-12 * (1 + np.abs(vp + 1.0))))
            keep[i[wrong.any(1)]] = False
        return keep

    def screen(self, B: VertexBatch):
        """Screen every face at the vertices of B; keep the rows that pass for :meth:`exact`."""
        c = self.columns(B)
        r, red = self.r, self.red
        # G and m of the cells (S empty): every defining plane on its active side added, in
        # the order of the reference computation (so that the counts below are its counts)
        acc = np.array(c.base.T, order="C")
        addf = c.add_all.T.astype(np.float64)
        for j in range(r):
            acc[0] += c.gT[j] * addf[j]
            acc[1:1 + r] += c.gx[j] * addf[j]
            acc[-1] += addf[j]
        G_all, m_all = acc[0] + red.G0, acc[1:1 + r]
        self.cells(c, acc, G_all, m_all)
        self.sliding_faces(c, G_all, m_all)

    def cells(self, c: _Columns, acc, G_all, m_all):
        """k = 0: the cells at the vertex. Empty and zero-field cells are counted here."""
        B, red, tol, n = c.B, self.red, self.tol, len(c.B.vertex)
        nonempty = acc[-1] > 0.5
        dead_here = ~nonempty & (red.G0 == 0) & (red.always.size == 0)
        if dead_here.any():
            self.dead += int(dead_here.sum())
            if self.dead_point is None:
                self.dead_point = B.vertex[np.flatnonzero(dead_here)[0]]
        zero = (np.abs(G_all) <= tol * self.gscale) & (np.sqrt((m_all ** 2).sum(0)) <= tol) & nonempty
        self.zero_field += int(zero.sum())
        keep = (np.abs(G_all) > tol * self.gscale) & (m_all != 0).any(0)
        G = np.where(keep, G_all, 1.0)
        w = np.asarray(self.wstar(m_A=m_all.T, G=G, d=self.d)).reshape(n, self.r)
        rows = np.flatnonzero(keep & self.side_ok(c, w.T, G, lambda a: a, c.realT))
        rows = rows[self.probe_ok(B, rows, w[rows], G[rows])]
        if len(rows):
            self.pending[0].append((B.vertex[rows], B.defining[rows], B.sides[rows], c.base[rows]))

    def sliding_faces(self, c: _Columns, G_all, m_all):
        """k >= 1: the faces in the flats of S.

        With rhs_all the conditions' right-hand sides for G_all, m_all (all of D added) and
        A = cG + cm Gram, the solution for S is lambda_i = z_i / g_i + add_i where A_SS z = rhs_all_S,
        and then G = G_all + sum z_i, m = m_all + sum z_i x_i: one small solve per face, and
        nothing else per S. The lambda of each S first; then, for the faces that pass, w* (for
        all S at once)."""
        B, r, n, cG, cm = c.B, self.r, len(c.B.vertex), self.cG, self.cm
        A = np.empty((r, r, n))
        for i in range(r):
            for j in range(i, r):
                A[i, j] = A[j, i] = cG + cm * sum(c.xc[k, i] * c.xc[k, j] for k in range(r))
        Ascale = ILL * (np.abs(cG) + np.abs(cm) * c.xn ** 2)
        rhs_all = -(cG * G_all + cm * sum(c.xc[k] * m_all[k] for k in range(r)))  # (r, n)
        lo = -c.add_all.T.astype(np.float64) - LMARGIN  # bounds on z_i / g_i = lambda_i - add_i
        hi = lo + (1 + 2 * LMARGIN)
        boxbits = B.is_box @ (1 << np.arange(r))
        passed = []  # (S, rows, ill, the changes of G and m from G_all, m_all)
        for mask in range(1, 2 ** r):
            valid = (boxbits & mask) == 0  # a face lies in no box plane
            if not valid.any():
                continue
            sub = slice(None) if valid.all() else np.flatnonzero(valid)
            Si = np.flatnonzero(self.subsets[mask])
            y, det = cramer([[A[i, j, sub] for j in Si] for i in Si], [rhs_all[i, sub] for i in Si])
            scale = Ascale[Si[0], sub]
            for i in Si[1:]:
                scale = scale * Ascale[i, sub]
            ill = np.abs(det) <= scale  # (A is finite: so is det)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                t = [yi / (det * c.gT[i, sub]) for yi, i in zip(y, Si)]
                inb = np.logical_and.reduce([(ti >= lo[i, sub]) & (ti <= hi[i, sub]) for ti, i in zip(t, Si)])
                p = np.flatnonzero(inb | ill)
                rows = p if isinstance(sub, slice) else sub[p]
                z = [ti[p] * np.take(c.gT[i], rows) for ti, i in zip(t, Si)]
                dm = sum(zi * np.take(c.xc[:, i], rows, axis=1) for zi, i in zip(z, Si))
                passed.append((mask, rows, ill[p], sum(z), dm))  # ill faces' inf - inf: sent on unscreened
        if passed:
            self.sliding_candidates(c, G_all, m_all, passed)

    def sliding_candidates(self, c: _Columns, G_all, m_all, passed):
        """w* of the sliding faces whose lambda passed, screened like the cells'."""
        B = c.B
        masks, rows, ill, dG, dm = zip(*passed)
        S_of_row = np.repeat(masks, [len(rw) for rw in rows])
        rows, ill, dG, dm = (np.concatenate(a, axis=-1) for a in (rows, ill, dG, dm))

        def cols(a):  # batch columns at these rows
            return np.take(a, rows, axis=-1)

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            G, m = cols(G_all) + dG, cols(m_all) + dm
            unscreened = ill | ~(np.abs(G) > ILL * self.gscale) | ~np.isfinite(m).all(0)
            G = np.where(unscreened, 1.0, G)
            # an ill-conditioned face's m is inf - inf; it goes to the reference computation unscreened,
            # so the value used here for it only has to be finite
            m = np.where(unscreened, 0.0, m)
            w = np.asarray(self.wstar(m_A=m.T, G=G, d=self.d)).reshape(len(rows), self.r)
            ok = ~unscreened & self.side_ok(c, w.T, G, cols, cols(c.realT) & ~self.subsets_T[:, S_of_row])
        ok[ok] = self.probe_ok(B, rows[ok], w[ok], G[ok])
        for mask in np.unique(S_of_row[ok | unscreened]):
            rw = rows[(ok | unscreened) & (S_of_row == mask)]
            self.pending[mask].append((B.vertex[rw], B.defining[rw], B.sides[rw], c.base[rw]))

    # -- the reference computation -----------------------------------------------------------------
    def finish(self):
        """The few faces that passed, by S: one reference computation each (its cost is per call)."""
        for mask, parts in enumerate(self.pending):
            if parts:
                vertex, defining, sides, base = (np.concatenate(a) for a in zip(*parts))
                self.exact(VertexBatch(vertex, defining, sides, base, self.q), base, self.subsets[mask])

    def face_weights(self, B, base, in_S):
        """(rows, add, lam, G, m) of the faces in the flats of S whose lambda lies in [0, 1]^k."""
        xr, gq, tol, cG, cm = self.xr, self.gq, self.tol, self.cG, self.cm
        rows = np.arange(len(B.vertex))
        real = ~B.is_box
        Dc = np.where(real, B.defining, 0)
        add_all = real & (B.sides == -self.sb)
        # defining planes not in S: the face is on side s_j; active where s_j = -sign_b
        add = add_all[rows] & ~in_S[None]
        wsum = base[rows]
        for j in np.flatnonzero(~in_S):
            wsum += add[:, j, None] * (self.W[Dc[rows, j]] * real[rows, j, None])
        G, m = wsum[:, 0] + self.red.G0, wsum[:, 1:1 + self.r]
        if int(in_S.sum()) == 0:
            return rows, add, np.zeros((len(rows), 0)), G, m
        Ds = Dc[rows][:, in_S]
        xs, gs = xr[Ds], gq[Ds]
        # the condition of theory/ at x_mu for the weights (g_nu, g_nu x_nu): K[mu, nu]
        K = (cG + cm * (xs @ np.swapaxes(xs, 1, 2))) * gs[:, None, :]
        rhs = -(cG * G[:, None] + cm * (xs @ m[..., None])[..., 0])
        lam = solve_small(K, rhs)
        inb = np.isfinite(lam).all(1) & (lam >= -tol).all(1) & (lam <= 1 + tol).all(1)
        rows, add, lam, G, m, gs, xs = rows[inb], add[inb], lam[inb], G[inb], m[inb], gs[inb], xs[inb]
        return rows, add, lam, G + (lam * gs).sum(1), m + ((lam * gs)[:, None, :] @ xs)[:, 0]

    def exact(self, B, base, in_S):
        """The reference computation for the faces in the flats of S at the vertices of B (with
        their base weights): appends what passes every test."""
        xr, tol, sb, r = self.xr, self.tol, self.sb, self.r
        rows, add, lam, G, m = self.face_weights(B, base, in_S)
        good = (np.abs(G) > tol * self.gscale) & (np.linalg.norm(m, axis=1) > 0)
        rows, add, lam, G, m = rows[good], add[good], lam[good], G[good], m[good]
        if len(rows) == 0:
            return
        real = ~B.is_box
        Dc = np.where(real, B.defining, 0)
        w = np.asarray(self.wstar(m_A=m, G=G, d=self.d)).reshape(len(rows), r)
        # cheap filters: w* on the face's side of the defining planes it is not on, and of
        # the probe planes (whose side at the vertex is the face's side)
        Dr = Dc[rows]
        sidev = (xr[Dr] @ w[..., None])[..., 0] - 1.0
        idx = np.flatnonzero(np.where(real[rows] & ~in_S[None], B.sides[rows] * sidev > -tol, True).all(1))
        ri = rows[idx]
        wp = w[idx] @ self.xp - 1.0
        vprobe = B.vertex[ri] @ self.xp - 1.0
        probe_free = ~(B.defining[ri, :, None] == self.probes[None, None, :]).any(1)
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
            self.found.w.append(wv[i])
            self.found.surfaces.append(Dr[idx[i]][in_S].copy())
            self.found.lam.append(lam[idx[i]].copy())
