"""Every face of an arrangement of affine hyperplanes a_j . w = 1, each exactly once.

In inverted coordinates w = z/|z|^2 the switching spheres of a neuron become hyperplanes
(theory: derive("inversion")), so the activation regions, the pieces of switching surfaces and
their intersections are the faces of a hyperplane arrangement. Enumerating faces rather than
the 2^p subsets of training points is what makes the fixed-point search complete and fast.

Method (the "lowest vertex" rule). Assume the normals span R^r (callers reduce to the span).
Then every face has a vertex in its closure. Add a box |w_i| <= R around all vertices, so that
every face cut by the box is a polytope, and fix a generic direction c. A polytope has a unique
c-lowest vertex, and at a vertex v where r hyperplanes D meet (a simple arrangement), the faces
whose lowest vertex is v are read off from c = sum_j mu_j n_j: the face lies on the side
sign(mu_j) of each hyperplane j of D it does not lie in. So each vertex yields, for each subset
S of D, exactly one face (the one in the flat of S) and every face appears exactly once. Faces
that need a box hyperplane on its outer side lie outside the box and are dropped.

A vertex through which more than r hyperplanes pass breaks the rule (the arrangement is not
simple); such vertices are counted and reported, never silently used.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from ...theory.errors import LazyrichError

CHUNK = 200_000  # line positions per sweep batch (about CHUNK / r vertices): arrays of CHUNK * 8 bytes
BOX_CHUNK = 4_000_000  # vertices x hyperplanes per batch on the box: (rows, q) arrays of BOX_CHUNK * 8 bytes


@dataclass
class VertexBatch:
    """A batch of vertices, each with its defining hyperplanes and the sides of the faces above it.

    vertex: (N, r) points; defining: (N, r) hyperplane indices (>= q: box hyperplanes);
    sides: (N, r) in {-1, +1}, the side sign(n_j . w - o_j) of the faces whose lowest vertex it is;
    below: (N, c) sum of the weights W_j of the real hyperplanes not through the vertex that have
    a_j . v < 1 (the caller's W, for example (g, g x)).
    """
    vertex: np.ndarray
    defining: np.ndarray
    sides: np.ndarray
    below: np.ndarray
    q: int

    @property
    def is_box(self) -> np.ndarray:
        return self.defining >= self.q


def vertex_count(q: int, r: int) -> int:
    """How many vertices the enumeration visits: real ones plus those on the bounding box."""
    return sum(math.comb(q, r - k) * math.comb(r, k) * 2 ** k for k in range(r + 1))


def generic_direction(r: int) -> np.ndarray:
    # fixed, so that the enumeration (and its order) is reproducible
    c = np.random.default_rng(20261123).standard_normal(r)
    return c / np.linalg.norm(c)


class Arrangement:
    """Hyperplanes a_j . w = 1, j < q, in R^r (the rows of ``normals`` must span R^r).

    ``weights`` (q, c): per-hyperplane weights whose sums over the side a_j . w < 1 are reported
    at every vertex. Those sums come from a sweep along the lines of the arrangement: on a line
    (r - 1 hyperplanes), the vertices are ordered by one parameter t and each further hyperplane
    changes side at its own vertex, so sorted prefix sums give every vertex's sums in O(q log q)
    per line instead of O(q) per vertex.
    """

    def __init__(self, normals: np.ndarray, weights: np.ndarray, tol: float = 1e-9):
        self.a = np.asarray(normals, dtype=np.float64)
        self.W = np.asarray(weights, dtype=np.float64).reshape(len(self.a), -1)
        self.Wt = np.ascontiguousarray(self.W.T)
        self.q, self.r = self.a.shape
        if self.r == 0 or np.linalg.matrix_rank(self.a) < self.r:
            raise LazyrichError("the hyperplane normals must span the space (reduce to their span first)")
        self.tol = tol
        self.c = generic_direction(self.r)
        self.degenerate_vertices = 0  # vertices on more than r hyperplanes, seen so far
        self.box = None

    def vertices(self, chunk: int = CHUNK):
        """Yield VertexBatch es: first all real vertices, then those on the bounding box."""
        biggest = 0.0
        for batch in self._real_vertices(chunk):
            biggest = max(biggest, float(np.abs(batch.vertex).max()))
            yield batch
        # the box must contain every real vertex strictly inside
        self.box = 2.0 * biggest + 1.0
        yield from self._box_vertices()

    # -- real vertices by line sweeps -----------------------------------------------------------
    def _real_vertices(self, chunk):
        q, r, a, W = self.q, self.r, self.a, self.W
        if r == 1:
            lines = [np.zeros((1, 0), dtype=np.int64)]
        else:
            lines = _combination_chunks(q, r - 1, max(1, chunk // q))
        for L in lines:
            nl = len(L)
            aL = a[L]  # (nl, r-1, r)
            if r == 1:
                u = np.ones((nl, 1))
                v0 = np.zeros((nl, 1))
                ok = np.ones(nl, dtype=bool)
            else:
                _, sv, vt = np.linalg.svd(aL)
                ok = sv[:, -1] > 1e-12 * sv[:, 0]  # the r-1 normals are independent: a line
                u = vt[:, -1, :]
                gram = aL @ np.swapaxes(aL, 1, 2)
                gram[~ok] = np.eye(r - 1)
                v0 = np.einsum("lir,li->lr", aL, np.linalg.solve(gram, np.ones((nl, r - 1, 1)))[..., 0])
            L, u, v0 = L[ok], u[ok], v0[ok]
            nl = len(L)
            if nl == 0:
                continue
            du = u @ a.T  # (nl, q): a_k . v(t) - 1 = dv + t du = du (t - t_k)
            dv = v0 @ a.T - 1.0
            member = np.zeros((nl, q), dtype=bool)
            if r > 1:
                member[np.arange(nl)[:, None], L] = True
            parallel = np.abs(du) <= 1e-13 * np.linalg.norm(a, axis=1)[None]
            crossing = ~member & ~parallel
            t = np.where(crossing, -dv / np.where(crossing, du, 1.0), np.inf)
            # quicksort is several times faster than a stable sort, and gives the same order
            # unless two finite t tie (the non-crossing infs are never used): then sort stably
            order = np.argsort(t, axis=1)
            ts = np.take_along_axis(t, order, 1)
            with np.errstate(invalid="ignore"):  # inf - inf past the last crossing
                ties = np.isfinite(ts[:, 1:]) & (np.diff(ts, axis=1) <= self.tol * (1 + np.abs(ts[:, 1:])))
            if ties.any():
                self.degenerate_vertices += int(ties.sum())
                order = np.argsort(t, axis=1, kind="stable")
            # each vertex once: on the line of its r - 1 smallest indices
            last = L.max(1) if r > 1 else np.full(nl, -1)
            owned = (order > last[:, None]) & np.isfinite(ts)
            # the owned vertices in row-major order: fo indexes the sorted (line, position) arrays;
            # per-line values are repeated (much faster than gathering them by line index)
            fo = np.flatnonzero(owned)
            if len(fo) == 0:
                continue
            per_line = owned.sum(1)
            li = np.repeat(np.arange(nl), per_line)
            k = np.take(order, fo)
            fk = li * q + k  # into the (line, plane) arrays
            dk = np.take(du, fk)  # a_k . u
            # below (a_k . v < 1) at the vertex of k_i: crossing points with du < 0 sorted before
            # it, those with du > 0 sorted after it, and parallel ones that are below everywhere.
            # With s = +1 (du < 0), -1 (du > 0): sum_{du > 0} W + prefix sums of s W, less W_k
            # itself if du_k < 0. One weight column at a time keeps the arrays in cache.
            s = np.take_along_axis(np.where(crossing, np.where(du < 0, 1.0, -1.0), 0.0), order, 1)
            start = (crossing & (du > 0)).astype(np.float64) @ W
            flat = parallel & ~member & (dv < 0)
            if flat.any():  # only for parallel hyperplanes (not in general position)
                start += flat.astype(np.float64) @ W
            start = np.repeat(start, per_line, axis=0)
            own = dk < 0
            below = np.empty((len(fo), W.shape[1]))
            for col, Wc in enumerate(self.Wt):
                prefix = np.take(np.cumsum(s * np.take(Wc, order), axis=1), fo)
                below[:, col] = start[:, col] + prefix - own * Wc[k]
            vertex = np.repeat(v0, per_line, axis=0) + np.take(ts, fo)[:, None] * np.repeat(u, per_line, 0)
            D = np.concatenate([np.repeat(L, per_line, axis=0), k[:, None]], axis=1)
            yield VertexBatch(vertex, D, self._line_sides(u, dk, L, per_line, fk), below, q)

    def _line_sides(self, u, dk, L, per_line, fk):
        """_sides for vertices on lines: solve c = sum_j mu_j n_j with per-line precomputation.

        u is orthogonal to the line's normals, so c . u = mu_k (a_k . u) (= mu_k dk); the rest of
        c lies in the span of the line's normals and gives mu_L by the line's Gram matrix.
        """
        mu_k = np.repeat(u @ self.c, per_line) / dk
        if self.r == 1:
            return np.where(mu_k > 0, 1.0, -1.0)[:, None]
        aL = self.a[L]
        H = np.linalg.solve(aL @ np.swapaxes(aL, 1, 2), aL)  # (nl, r-1, r): gram^-1 a_L
        alpha = np.repeat(H @ self.c, per_line, axis=0)  # (N, r-1): mu_L if mu_k were 0
        # (N, r-1): gram^-1 a_L a_k, from the (line, plane) array at fk
        beta = np.take((H @ self.a.T).transpose(1, 0, 2).reshape(self.r - 1, -1), fk, axis=1).T
        return np.where(np.concatenate([alpha - mu_k[:, None] * beta, mu_k[:, None]], axis=1) > 0, 1.0, -1.0)

    def _sides(self, normals):
        # c = sum_j mu_j n_j: the faces above v lie on side sign(mu_j) of each defining plane
        mu = np.linalg.solve(np.swapaxes(normals, 1, 2), np.broadcast_to(self.c, normals.shape[:2])[..., None])[..., 0]
        return np.where(mu > 0, 1.0, -1.0)

    # -- vertices on the bounding box, directly (there are few) ----------------------------------
    def _box_vertices(self):
        r = self.r
        eye = np.eye(r)
        for k in range(1, r + 1):
            for axes in itertools.combinations(range(r), k):
                for signs in itertools.product((1.0, -1.0), repeat=k):
                    box_normals = np.array([signs[i] * eye[ax] for i, ax in enumerate(axes)])
                    box_index = np.array([self.q + 2 * ax + (0 if s > 0 else 1) for ax, s in zip(axes, signs)])
                    chunks = [np.zeros((1, 0), dtype=np.int64)] if k == r else \
                        _combination_chunks(self.q, r - k, max(1, BOX_CHUNK // self.q))
                    for Dr in chunks:
                        n = len(Dr)
                        normals = np.concatenate([self.a[Dr], np.broadcast_to(box_normals, (n, k, r))], axis=1)
                        offsets = np.concatenate([np.ones(Dr.shape), np.full((n, k), self.box)], axis=1)
                        D = np.concatenate([Dr, np.broadcast_to(box_index, (n, k))], axis=1)
                        batch = self._direct(D, normals, offsets)
                        if batch is None:
                            continue
                        # only vertices of the box, and only faces on its inner side
                        inside = (np.abs(batch.vertex) <= self.box * (1 + 1e-12)).all(1)
                        inner = np.where(batch.is_box, batch.sides < 0, True).all(1)
                        keep = inside & inner
                        if keep.any():
                            yield VertexBatch(batch.vertex[keep], batch.defining[keep], batch.sides[keep],
                                              batch.below[keep], self.q)

    def _direct(self, D, normals, offsets):
        det = np.linalg.det(normals)
        scale = np.prod(np.linalg.norm(normals, axis=2), axis=1)
        ok = np.abs(det) > 1e-12 * scale
        if not ok.any():
            return None
        D, normals, offsets = D[ok], normals[ok], offsets[ok]
        v = np.linalg.solve(normals, offsets[..., None])[..., 0]
        below = (v @ self.a.T < 1.0).astype(np.float64)
        rows = np.arange(len(D))[:, None]
        real = D < self.q
        below[np.broadcast_to(rows, D.shape)[real], D[real]] = 0.0
        return VertexBatch(v, D, self._sides(normals), below @ self.W, self.q)


def _combination_chunks(q: int, k: int, chunk: int):
    """All k-subsets of range(q) as (N, k) int arrays, in chunks (itertools runs in C)."""
    if k == 0:
        yield np.zeros((1, 0), dtype=np.int64)
        return
    it = itertools.combinations(range(q), k)
    while True:
        flat = np.fromiter(itertools.chain.from_iterable(itertools.islice(it, chunk)), dtype=np.int64)
        if flat.size == 0:
            return
        yield flat.reshape(-1, k)
