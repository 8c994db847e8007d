"""Every regular and sliding equilibrium of the neuron field, with stability and neutral sets.

The method (notes/fixed_points.md):

* In w = z/|z|^2 the switching spheres are the hyperplanes w.x_mu = 1 (derive("inversion")), so
  activation regions and pieces of switching surfaces are the faces of a hyperplane arrangement.
  arrangement.py visits every face exactly once (simple arrangements), enumeration.py screens them.
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

from ...theory.derived import derive
from .arrangement import vertex_count
from .classification import attracting_many, finish, local_data
from .enumeration import enumerate_faces
from .faces import Candidates, Reduced, reduce_field
from .neuron_field import NeuronField
from .polish import polish_all
from .sampling import sample_candidates
from ...theory.errors import LazyrichError

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
    boundary: list = field(default_factory=list)  # surfaces it lies on with lambda 0 or 1 (off its sliding set)

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
            "boundary": list(map(int, self.boundary)),
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


# ------------------------------------------------------------------------------ neutral sets
def _neutral_sets(f: NeuronField, red: Reduced, info: dict, n_directions=4096) -> list[dict]:
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
RESIDUAL_TOL = 1e-8


def relative_residual(f: NeuronField, e: "Equilibrium") -> float:
    """The polished residual over the size of the terms it cancels: F's summands
    |g| ((d + 2|x.z|)|z| + |z|^2 |x|)/(d p) and, on surfaces, S's terms |z|^2 + |z.x| at z. Scale-free,
    so that the same threshold holds for data of any size."""
    if e.residual is None:
        return 0.0
    z = np.asarray(e.z, dtype=np.float64)
    nz, nx, xz = np.linalg.norm(z), np.linalg.norm(f.X, axis=1), np.abs(f.X @ z)
    field = np.sum(np.abs(f.g) * ((f.d + 2 * xz) * nz + nz ** 2 * nx)) / (f.d * f.p)
    surface = max((nz ** 2 + xz[list(e.surfaces)]).max(), 0.0) if len(e.surfaces) else 0.0
    scale = max(field, surface)
    return float(e.residual / scale) if scale > 0 else float(e.residual)


def find_equilibria(f: NeuronField, **options) -> FixedPoints:
    """All equilibria of the neuron field ``f`` (see the module docstring and ``_find`` for the options).

    A float64 overflow or invalid operation anywhere in the enumeration that is not deliberately
    ignored (ill-conditioned faces are) marks the answer incomplete: at extreme data scales the
    screening's products can overflow and drop faces, and that must not pass as complete."""
    events = []
    old = np.seterrcall(lambda kind, flag: events.append(kind))
    try:
        with np.errstate(over="call", invalid="call"):
            out = _find(f, **options)
    finally:
        np.seterrcall(old)
    if events and out.complete:
        out.complete = False
        out.notes.append(f"float64 {sorted(set(events))[0]} during the enumeration (data scale "
                         f"{f.scale:.3g}): faces may have been dropped, so the answer is not complete")
    return out


def _find(f: NeuronField, *, tol: float = 1e-9, max_vertices: int = MAX_VERTICES,
          polish: bool = True, digits: int = 50, certify: bool | None = None,
          progress: bool = False, fallback_samples: int = 20_000, seed: int = 0) -> FixedPoints:
    t0 = time.perf_counter()
    red = reduce_field(f)
    q, r = red.x.shape
    notes = []
    counts = {"points_in_arrangement": q, "span_dimension": r}
    if q == 0:
        found, info = Candidates(), {"dead_cells": int(red.G0 == 0), "dead_point": None}
        method, complete = "single region", True
        G = red.G0
        notes.append("no switching surface carries weight: one region, F = sign G0 z / p, no non-zero equilibrium"
                     if G else "no training point carries weight: F = 0 everywhere")
    else:
        nv = vertex_count(q, r)
        counts["vertices"] = nv
        if nv <= max_vertices:
            bar = _progress(nv, progress)
            found, info = enumerate_faces(f, red, tol, progress=bar.update if bar else None)
            if bar:
                bar.close()
            method = "arrangement enumeration"
            complete = info["degenerate_vertices"] == 0
            if not complete:
                notes.append(f"{info['degenerate_vertices']} vertices lie on more than {r} switching surfaces "
                             "(data not in general position): the enumeration may miss faces there; "
                             "sampled candidates were added")
        else:
            found, info = Candidates(), {}
            method, complete = "sampling (may be incomplete)", False
            notes.append(f"{nv} vertices exceed max_vertices = {max_vertices}: candidates come from sampling "
                         "regions and endpoints of the flow, so equilibria may be missing")
        if not complete:
            extra = sample_candidates(f, red, tol, fallback_samples, seed)
            for key in ("w", "surfaces", "lam"):
                getattr(found, key).extend(getattr(extra, key))
        counts.update({k: v for k, v in info.items() if k not in ("dead_point",)})
    t1 = time.perf_counter()
    eqs = _build(f, red, found, tol)
    t2 = time.perf_counter()
    if polish and eqs:
        polish_all(f, eqs, digits=digits, certify=certify)
        bad = [i for i, e in enumerate(eqs) if relative_residual(f, e) > RESIDUAL_TOL]
        if bad:  # an answer that failed is never reported complete
            complete = False
            notes.append(f"{len(bad)} equilibri{'um' if len(bad) == 1 else 'a'} ({', '.join(map(str, bad))}) did not "
                         f"polish below a relative residual of {RESIDUAL_TOL:g}: the enumeration is not verified")
    t3 = time.perf_counter()
    neutral = _neutral_sets(f, red, info)
    timing = {"enumerate_s": t1 - t0, "classify_s": t2 - t1, "polish_s": t3 - t2,
              "total_s": time.perf_counter() - t0}
    return FixedPoints(f, eqs, neutral, complete, method, notes, timing, counts)


def _build(f, red, found: Candidates, tol) -> list[Equilibrium]:
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
        kept.append(_on_boundary(f, z, surf[order], lam_full[order]))
    infos = [local_data(f, z, surf, lam_full, active) for z, surf, lam_full, active, _ in kept]
    # the transversal attraction of every sliding candidate in one batch
    attracting = attracting_many([i.pop("c") for i in infos], [i.pop("C") for i in infos],
                                  [i.pop("wts") for i in infos])
    eqs = []
    for (z, surf, lam_full, _, boundary), info, a in zip(kept, infos, attracting):
        # on a surface whose point carries lambda = 0 or 1 the equilibrium is a zero of one side's field;
        # the other side's flow must also point towards the surface for it to be stable (one-sided otherwise)
        one_sided = bool(len(boundary)) and not _other_sides_attract(f, z, boundary)
        out = finish(info, a and not one_sided)
        if one_sided and (info["eigenvalues"].real < 0).all():
            out["type"] = "stable node, attracting from one side only"
        eqs.append(Equilibrium(z=z, kind="sliding" if len(surf) else "regular", surfaces=surf.tolist(),
                               lam=lam_full.tolist(), boundary=boundary, **out))
    # stable first, then by distance from the origin: a stable order for reports and tests
    eqs.sort(key=lambda e: (not e.stable, e.kind, float(np.linalg.norm(e.z))))
    return eqs


LAM_TOL = 1e-9  # a Filippov weight within this of 0 or 1 is that end: the point sits off the sliding set


def _on_boundary(f, z, surf, lam):
    """(z, surfaces, lambda, active, boundary): surfaces whose lambda is 0 or 1 up to LAM_TOL leave the
    sliding set; their points count as inactive (0) or active (1), and they are listed as ``boundary``.
    One consistent rule for an equilibrium exactly on a switching surface, such as a regular node of one
    region that lies on another point's sphere."""
    lam = np.asarray(lam, dtype=np.float64)
    at0, at1 = np.abs(lam) <= LAM_TOL, np.abs(lam - 1) <= LAM_TOL
    edge = at0 | at1
    if not edge.any():
        return z, surf, lam, None, []
    active = f.argument(z[None])[0] > 0
    active[surf] = False
    active[surf[at1]] = True
    return z, surf[~edge], lam[~edge], active, sorted(map(int, surf[edge]))


def _other_sides_attract(f, z, boundary) -> bool:
    """Across each boundary surface the field differs by the point's own field g_i f_i: the flow on the
    far side points back to the surface iff sign_b n_i . g_i f_i(z) < 0 (the same sign condition for
    lambda = 0 and lambda = 1, as the transversal system's diagonal C_ii)."""
    n = f.normals(z, boundary)
    B = f.point_fields(z, boundary)
    return bool((f.sign_b * np.einsum("ij,ij->i", n, B) < 0).all())


def _progress(total, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    import sys

    return tqdm(total=total, desc="vertices", unit="v", unit_scale=True, leave=False, disable=not sys.stderr.isatty())


def enumerate_regular_bruteforce(f: NeuronField, tol: float = 1e-9) -> list[np.ndarray]:
    """Reference for tests: all 2^p active sets, keep z*_A that lies strictly in region A."""
    if f.p > 16:
        raise LazyrichError("brute force over 2^p active sets is for p <= 16")
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

