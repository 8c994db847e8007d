"""Continuation: follow an equilibrium of the neuron field while the data move along a path.

Paths are linear in t in [0, 1]: one training point moving from x_a to x_b (``point_path``), or
the loss weights moving from g_a to g_b (``weight_path``; ``hinge_exit_path`` builds the path on
which the points whose margin reaches 1 leave the hinge loss, g_mu: y_mu -> 0).

Face. An equilibrium lies in one face of the arrangement: on the surfaces S of k points (k = 0:
regular), with the activation A of the other points fixed. There it solves the d + k equations
of polish.py in u = (z, lambda),

    F(z; G_A + sum_S lambda g, m_A + sum_S lambda g x) = 0,   S_mu(z) = |z|^2 - z.x_mu = 0 (mu in S),

evaluated with the derived objects of NeuronField (region field and Jacobian, the field of each
surface point, the surface and its gradient). A face has at most one such point (notes/
fixed_points.md), so within a face the branch u(t) is smooth and cannot jump to another one.

Predictor-corrector: tangent du/dt = -H_u^-1 H_t, Newton on H(., t + h) = 0; the step grows when
Newton converges in a few iterations and is halved when it fails.

Events, each located by bisection in t (to T_TOL):
* reaches-surface nu: a point off S changes side. The branch goes on along S + nu, lambda_nu
  starting at 1 (nu was active) or 0, when lambda_nu moves into (0, 1) (persistence; a regular
  equilibrium becomes sliding). Otherwise the sliding equilibrium of S + nu exists before t*
  and meets this one there: both disappear, a non-smooth fold (event "fold").
* leaves-surface j: lambda_j reaches 0 or 1. The branch goes on along S - j (j inactive for 0,
  active for 1) when z moves to that side of the surface of j; otherwise "fold".
* stability-change: an eigenvalue crosses zero, or the attraction onto the surfaces changes.
* fold: no solution past t* on any adjacent face, or the corrector fails (singular Jacobian).
* origin: z reaches 0 (G -> 0; z = 0 is the neutral point b = 0); escape: |z| -> infinity.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...theory.compile import InputError
from .classification import classify
from .equilibria import Equilibrium, find_equilibria
from .neuron_field import NeuronField
from ...theory.errors import LazyrichError

T_TOL = 1e-12  # events are located to this accuracy in t
ORIGIN, ESCAPE = 1e-7, 1e6  # |z| / (largest |x|) below / above which the branch ends
MAX_EVENTS = 100


class ContinuationError(LazyrichError):
    """A bad path or starting equilibrium."""


@dataclass
class DataPath:
    """X(t) = (1 - t) X_a + t X_b and g(t) = (1 - t) g_a + t g_b for t in [0, 1]."""
    X_a: np.ndarray
    X_b: np.ndarray
    g_a: np.ndarray
    g_b: np.ndarray
    description: str = ""

    def __post_init__(self):
        self.X_a = NeuronField(self.X_a, self.g_a).X  # NeuronField's checks: shapes, NaN
        self.X_b = NeuronField(self.X_b, self.g_b).X
        self.g_a, self.g_b = (np.asarray(v, dtype=np.float64) for v in (self.g_a, self.g_b))
        if self.X_a.shape != self.X_b.shape:
            raise ContinuationError(f"X_a and X_b differ in shape: {self.X_a.shape} vs {self.X_b.shape}")
        for X in (self.X_a, self.X_b):
            if len(np.unique(X, axis=0)) < len(X):
                raise ContinuationError("continuation needs distinct training points (duplicates share one surface)")

    def X(self, t) -> np.ndarray:
        return (1 - t) * self.X_a + t * self.X_b  # exactly X_a at t = 0 and X_b at t = 1

    def g(self, t) -> np.ndarray:
        return (1 - t) * self.g_a + t * self.g_b

    def field(self, t, sign_b: int, sign_beta: int) -> NeuronField:
        return NeuronField(self.X(t), self.g(t), sign_b, sign_beta)

    @property
    def relevant(self) -> np.ndarray:
        """Points whose surface can matter: g not zero all along the path."""
        return (self.g_a != 0) | (self.g_b != 0)

    def to_json(self) -> dict:
        moving = np.flatnonzero((self.X_a != self.X_b).any(1))
        return {"description": self.description, "moving_points": moving.tolist(),
                "x_from": self.X_a[moving].tolist(), "x_to": self.X_b[moving].tolist(),
                "g_changes": np.flatnonzero(self.g_a != self.g_b).tolist()}


def point_path(X, g, point: int, to) -> DataPath:
    """Training point ``point`` moves linearly to ``to``; g stays fixed."""
    X = NeuronField(X, g).X
    if not isinstance(point, (int, np.integer)) or not 0 <= point < len(X):
        raise ContinuationError(f"point must be an index in [0, {len(X)}), got {point!r}")
    to = np.asarray(to, dtype=np.float64)
    if to.shape != (X.shape[1],) or not np.isfinite(to).all():
        raise ContinuationError(f"the target of point {point} must be {X.shape[1]} finite numbers, got {to.tolist()}")
    Xb = X.copy()
    Xb[point] = to
    return DataPath(X, Xb, g, g, f"point {point} moves from {X[point].tolist()} to {to.tolist()}")


def weight_path(X, g_a, g_b) -> DataPath:
    """The loss weights move linearly from g_a to g_b; the data stay fixed."""
    g_b = np.asarray(g_b, dtype=np.float64)
    if g_b.shape != np.shape(g_a):
        raise ContinuationError(f"g_b must have the shape of g_a {np.shape(g_a)}, got {g_b.shape}")
    return DataPath(X, X, g_a, g_b, "loss weights move from g_a to g_b")


def hinge_exit_path(X, y, margins=None, leaving=None) -> DataPath:
    """From g = y (every point in the hinge loss, early training) to g = y Theta(1 - m): the points
    whose margin has reached 1 (or the indices/mask ``leaving``) leave the loss, g_mu -> 0."""
    y = np.asarray(y, dtype=np.float64)
    if (margins is None) == (leaving is None):
        raise ContinuationError("give exactly one of margins and leaving")
    if margins is not None:
        margins = np.asarray(margins, dtype=np.float64)
        if margins.shape != y.shape or not np.isfinite(margins).all():
            raise ContinuationError(f"margins must be {y.shape[0]} finite numbers, got shape {margins.shape}")
        out = margins >= 1
    else:
        leaving = np.asarray(leaving)
        out = np.zeros(len(y), dtype=bool)
        if leaving.dtype == bool:
            if leaving.shape != y.shape:
                raise ContinuationError(f"a leaving mask must have shape {y.shape}, got {leaving.shape}")
            out = leaving.copy()
        elif len(leaving):
            if leaving.dtype.kind not in "iu" or leaving.min() < 0 or leaving.max() >= len(y):
                raise ContinuationError(f"leaving indices must lie in [0, {len(y)}), got {leaving.tolist()}")
            out[leaving] = True
    path = weight_path(X, y, np.where(out, 0.0, y))
    path.description = f"points {np.flatnonzero(out).tolist()} leave the hinge loss (g -> 0)"
    return path


# ------------------------------------------------------------------------------ one face
@dataclass(frozen=True)
class _Face:
    surfaces: tuple  # sorted indices of the points whose surfaces the equilibrium lies on
    active: tuple  # bools: active points off the surfaces

    @property
    def kind(self) -> str:
        return "sliding" if self.surfaces else "regular"

    def weights(self, lam) -> np.ndarray:
        w = np.array(self.active, dtype=np.float64)
        w[list(self.surfaces)] = lam
        return w


class _Tracker:
    """The equations of a face along the path, the corrector and the state of a point."""

    def __init__(self, path: DataPath, sign_b: int, sign_beta: int, tol: float):
        self.path, self.sb, self.sbeta, self.tol = path, sign_b, sign_beta, tol
        self.f_a, self.f_b = path.field(0.0, sign_b, sign_beta), path.field(1.0, sign_b, sign_beta)
        self.d = self.f_a.d
        self.Xdot, self.gdot = path.X_b - path.X_a, path.g_b - path.g_a
        self._fields = {}

    def field(self, t) -> NeuronField:
        if t not in self._fields:
            if len(self._fields) > 64:
                self._fields.clear()
            self._fields[t] = self.path.field(t, self.sb, self.sbeta)
        return self._fields[t]

    def equations(self, face: _Face, u, t):
        """H (d + k,) and its Jacobian in u, from the derived objects of NeuronField."""
        f, d, S = self.field(t), self.d, list(face.surfaces)
        z, lam = u[:d], u[d:]
        G, m = f.weights(face.weights(lam)[None])
        H = [f.region_field(z, G[0], m[0])]
        J = f.region_jacobian(z, G[0], m[0])
        if not S:
            return H[0], J
        B = f.point_fields(z, S)  # dF/dlambda_mu: the field of the point mu times g_mu
        N = f.normals(z, S)
        H.append(f.surface(z[None])[0, S])
        return np.concatenate(H), np.block([[J, B.T], [N, np.zeros((len(S), len(S)))]])

    def h_t(self, face: _Face, u, t) -> np.ndarray:
        """dH/dt: F is linear in (G, m), which move with g(t) and X(t); the surfaces are linear
        in x, so dS/dt is the difference of the surfaces at the two ends of the path."""
        f, d, S = self.field(t), self.d, list(face.surfaces)
        z, w = u[:d], face.weights(u[d:])
        dG = w @ self.gdot
        dm = (w * self.gdot) @ self.path.X(t) + (w * self.path.g(t)) @ self.Xdot
        out = [f.region_field(z, dG, dm)]
        if S:
            out.append((self.f_b.surface(z[None]) - self.f_a.surface(z[None]))[0, S])
        return np.concatenate(out)

    def tangent(self, face, u, t):
        try:
            out = -np.linalg.solve(self.equations(face, u, t)[1], self.h_t(face, u, t))
        except (np.linalg.LinAlgError, InputError):  # singular, or z = 0 where no field is defined
            return None
        return out if np.isfinite(out).all() else None

    def correct(self, face, u, t, max_iter: int = 12):
        """Newton on the face's equations at t from u: (u, iterations) or (None, iterations)."""
        for it in range(1, max_iter + 1):
            try:
                du = np.linalg.solve(*self.equations(face, u, t)[::-1])
            except (np.linalg.LinAlgError, InputError):  # singular, or Newton landed on z = 0
                return None, it
            if not np.isfinite(du).all():
                return None, it
            u = u - du
            if np.abs(du).max() <= 1e-13 * (1 + np.abs(u).max()):
                return u, it
        return None, max_iter

    def state(self, face, u, t, check: bool = True) -> dict:
        """Where the point stands: the first violated condition of the face (or None) and its
        stability (classified by classification.classify, as find_equilibria does, with the face's
        activation). check=False skips the side and lambda tests: for the first point of a face,
        which lies exactly on its boundary."""
        if u is None:
            return {"violation": ("fold", None)}
        f, d = self.field(t), self.d
        z, lam = u[:d], u[d:]
        size = np.linalg.norm(z)
        if size < ORIGIN * f.scale:
            return {"violation": ("origin", None)}
        if size > ESCAPE * f.scale:
            return {"violation": ("escape", None)}
        off = self.path.relevant.copy()
        off[list(face.surfaces)] = False
        wrong = off & ((f.argument(z[None])[0] > 0) != np.array(face.active))
        if check and wrong.any():
            return {"violation": ("reaches-surface", np.flatnonzero(wrong))}
        out = (lam < 0) | (lam > 1)
        if check and out.any():
            return {"violation": ("leaves-surface", np.array(face.surfaces)[out])}
        info = classify(f, z, np.array(face.surfaces, dtype=int), lam, self.tol, active=np.array(face.active))
        top = float(np.max(info["eigenvalues"].real)) if len(info["eigenvalues"]) else -np.inf
        return {"violation": None, "stable": info["stable"], "attracting": info["attracting"],
                "type": info["type"], "max_real": top}


# ------------------------------------------------------------------------------ result
@dataclass
class Continuation:
    """A followed branch: one row per accepted point, and the events between them."""
    path: DataPath
    sign_b: int
    sign_beta: int
    start: Equilibrium
    t: list = field(default_factory=list)
    z: list = field(default_factory=list)
    kind: list = field(default_factory=list)
    surfaces: list = field(default_factory=list)
    lam: list = field(default_factory=list)
    stable: list = field(default_factory=list)
    type: list = field(default_factory=list)
    events: list = field(default_factory=list)
    end: str = "t = 1"
    index: int | None = None  # the start's index in find_equilibria's list at t = 0, when known

    def _add(self, t, u, face, st, d):
        self.t.append(float(t))
        self.z.append(u[:d].copy())
        self.kind.append(face.kind)
        self.surfaces.append(list(face.surfaces))
        self.lam.append(u[d:].tolist())
        self.stable.append(bool(st["stable"]))
        self.type.append(st["type"])

    def to_json(self) -> dict:
        return {"path": self.path.to_json(), "sign_b": self.sign_b, "sign_beta": self.sign_beta,
                "index": self.index, "start": self.start.to_json(),
                "branch": {"t": self.t, "z": [z.tolist() for z in self.z], "kind": self.kind,
                           "surfaces": self.surfaces, "lambda": self.lam, "stable": self.stable,
                           "type": self.type},
                "events": [{**e, "z": e["z"].tolist()} for e in self.events], "end": self.end}


def _summary(face, st):
    return {"kind": face.kind, "surfaces": list(face.surfaces), "stable": bool(st["stable"]), "type": st["type"]}


# ------------------------------------------------------------------------------ driver
def continue_equilibrium(path: DataPath, sign_b: int, sign_beta: int, start: Equilibrium, *,
                         max_step: float = 0.02, min_step: float = 1e-9, tol: float = 1e-9) -> Continuation:
    """Follow ``start`` (an equilibrium of path.field(0)) from t = 0 to t = 1 (module docstring)."""
    tr = _Tracker(path, sign_b, sign_beta, tol)
    d, p = tr.d, tr.f_a.p
    if not 0 < max_step <= 1 or not 0 < min_step < max_step:
        raise ContinuationError(f"need 0 < min_step < max_step <= 1, got {min_step}, {max_step}")
    if np.shape(start.z) != (d,):
        raise ContinuationError(f"the starting equilibrium has dimension {np.shape(start.z)}, the data d = {d}")
    active = np.zeros(p, dtype=bool)
    active[list(start.active)] = True
    face = _Face(tuple(int(i) for i in start.surfaces), tuple(active.tolist()))
    u, _ = tr.correct(face, np.concatenate([start.z, start.lam]), 0.0)
    st = tr.state(face, u, 0.0)
    if st["violation"] is not None:
        raise ContinuationError(f"the starting point is not an equilibrium of its face at t = 0 ({st['violation'][0]})")
    res = Continuation(path, sign_b, sign_beta, start)
    res._add(0.0, u, face, st, d)
    t, h, last_switch = 0.0, max_step / 4, None
    while t < 1.0:
        h = min(h, 1.0 - t)
        tan = tr.tangent(face, u, t)
        t1 = 1.0 if 1.0 - (t + h) < T_TOL else t + h
        u1, its = (None, 0) if tan is None else tr.correct(face, u + (t1 - t) * tan, t1)
        if u1 is None or np.abs(u1 - u - (t1 - t) * tan).max() > 0.1 * (1 + np.abs(u).max()):
            if h / 2 >= min_step:  # a poor prediction or no convergence: a smaller step
                h /= 2
                continue
            res.events.append({"t": t, "type": "fold", "z": u[:d].copy(), "before": _summary(face, st),
                               "after": None, "surface": None, "detail": "the corrector fails: singular Jacobian"})
            res.end = "fold"
            break
        st1 = tr.state(face, u1, t1)
        if st1["violation"] is None and st1["stable"] == st["stable"]:
            t, u, st = t1, u1, st1
            res._add(t, u, face, st, d)
            h = min(max_step, h * 1.6) if its <= 3 else h
            continue
        lo, ulo, slo, hi, uhi, shi = _bisect(tr, face, t, u, st, t1, u1, st1)
        if lo > t:
            res._add(lo, ulo, face, slo, d)
        new = _next(tr, face, lo, ulo, slo, hi, uhi, shi)
        res.events.append(new["event"])
        if len(res.events) >= MAX_EVENTS:
            res.end = f"stopped after {MAX_EVENTS} events"
            break
        if new["face"] is None:
            res.end = new["event"]["type"]
            break
        switch = (new["t"], face)
        if last_switch is not None and new["t"] - last_switch[0] <= 10 * T_TOL and new["face"] == last_switch[1]:
            new["event"].update(type="fold", after=None, detail="no consistent continuation: the branch would "
                                "switch back and forth between two faces")
            res.end = "fold"
            break
        if new["face"] != face:
            last_switch = switch
        t, u, face, st = new["t"], new["u"], new["face"], new["state"]
        res._add(t, u, face, st, d)
        h = max(min_step, min(h, max_step / 4))
    return res


def _changed(s, s0) -> bool:
    return s["violation"] is not None or s["stable"] != s0["stable"]


def _bisect(tr, face, t0, u0, s0, t1, u1, s1):
    """The last point before and the first point after the first change in (t0, t1]."""
    lo, ulo, slo, hi, uhi, shi = t0, u0, s0, t1, u1, s1
    while hi - lo > T_TOL * max(1.0, abs(hi)):
        mid = 0.5 * (lo + hi)
        tan = tr.tangent(face, ulo, lo)
        um = None if tan is None else tr.correct(face, ulo + (mid - lo) * tan, mid)[0]
        sm = tr.state(face, um, mid)
        if _changed(sm, s0):
            hi, uhi, shi = mid, um, sm
        else:
            lo, ulo, slo = mid, um, sm
    return lo, ulo, slo, hi, uhi, shi


PROBES = (1e-8, 1e-10)  # how far past t* an adjacent face is tried (a second, closer try)


def _next(tr, face, lo, ulo, slo, hi, uhi, shi) -> dict:
    """The event at t* in [lo, hi] and how the branch goes on (face None: it ends).

    The adjacent faces where the branch may go on are tried in turn: the equations of each are
    solved at t* (from z*, the lambdas kept and the new one at its end value 0 or 1), and then
    just past t*, where the point must lie strictly inside that face. The first that passes
    takes the branch; when none does, the equilibrium disappears at t* (a fold).
    """
    d = tr.d
    event = {"t": lo, "type": None, "z": ulo[:d].copy(), "before": _summary(face, slo), "after": None,
             "surface": None, "detail": ""}
    kind, which = shi["violation"] if shi["violation"] is not None else ("stability-change", None)
    if kind == "stability-change":
        eig = (slo["max_real"] < 0) != (shi["max_real"] < 0)
        event.update(type=kind, after=_summary(face, shi),
                     detail="the largest real part of the eigenvalues crosses zero" if eig
                     else "the attraction onto the surfaces changes")
        return {"event": event, "face": face, "t": hi, "u": uhi, "state": shi}
    if kind in ("origin", "escape", "fold"):
        event.update(type=kind, detail={"origin": "z reaches 0 (G -> 0): the neutral point b = 0",
                                        "escape": "|z| grows without bound (m -> 0)",
                                        "fold": "the corrector finds no point past t*"}[kind])
        return {"event": event, "face": None}
    mu = int(which[0])
    event["surface"] = mu
    for new, lam0, what in _adjacent(face, ulo[d:], uhi[d:], kind, mu, d):
        u2, _ = tr.correct(new, np.concatenate([ulo[:d], lam0]), lo)
        if u2 is None or not _goes_on(tr, new, u2, lo):
            continue
        event.update(type=kind, detail=what)
        s2 = tr.state(new, u2, lo, check=False)  # on the boundary of the new face: its own pattern
        event["after"] = _summary(new, s2)
        return {"event": event, "face": new, "t": lo, "u": u2, "state": s2}
    event.update(type="fold", detail=f"{'reaches the surface of' if kind == 'reaches-surface' else 'leaves the surface of'}"
                                     f" point {mu}, where no adjacent face goes on: it meets another equilibrium "
                                     "there and both disappear")
    return {"event": event, "face": None}


def _adjacent(face, lam, lam_hi, kind, mu, d):
    """Candidate faces after the event: (face, initial lambdas, description)."""
    S, active = list(face.surfaces), list(face.active)
    if kind == "leaves-surface":  # lambda_mu left [0, 1] at its upper (mu active) or lower end
        j = S.index(mu)
        on = bool(lam_hi[j] > 1)
        active[mu] = on
        yield (_Face(tuple(i for i in S if i != mu), tuple(active)), np.delete(lam, j),
               f"lambda of point {mu} reaches {int(on)}: leaves its surface, {'active' if on else 'inactive'}")
        return
    start = float(active[mu])  # the new surface's lambda starts where its point was: 1 active, 0 not
    active[mu] = False
    if len(S) < d:
        S2 = sorted(S + [mu])
        yield (_Face(tuple(S2), tuple(active)), np.array([lam[S.index(i)] if i in S else start for i in S2]),
               f"slides on the surface of point {mu} from here")
        return
    # on d surfaces already, the point is the vertex where they meet, and at t* a further one
    # passes through it: either it sweeps across the vertex (mu changes side, z stays on the
    # same d surfaces and the lambdas jump), or the point follows the new surface and leaves
    # one of the old ones
    toggled = list(active)
    toggled[mu] = not start
    yield (_Face(tuple(S), tuple(toggled)), lam.copy(),
           f"the surface of point {mu} sweeps across it: point {mu} {'in' if start else ''}active, lambdas jump")
    for j in S:
        for on in (False, True):
            act = list(active)
            act[j] = on
            S2 = sorted([i for i in S if i != j] + [mu])
            lam2 = np.array([lam[S.index(i)] if i in S else start for i in S2])
            yield (_Face(tuple(S2), tuple(act)), lam2,
                   f"slides on the surface of point {mu} instead of that of point {j} ({'active' if on else 'inactive'})")


def _goes_on(tr, face, u, t) -> bool:
    """Whether the branch of ``face`` through (t, u) exists just past t: strictly inside the face."""
    tan = tr.tangent(face, u, t)
    if tan is None:
        return False
    for delta in PROBES:
        u1, _ = tr.correct(face, u + delta * tan, t + delta)
        if u1 is not None and tr.state(face, u1, t + delta)["violation"] is None:
            return True
    return False


def continue_equilibria(path: DataPath, sign_b: int, sign_beta: int, which=None, **options):
    """find_equilibria at t = 0, then follow the equilibria ``which`` (indices into its list;
    default: every stable one). Returns (FixedPoints at t = 0, list of Continuation)."""
    fp = find_equilibria(path.field(0.0, sign_b, sign_beta), polish=False)
    n = len(fp.equilibria)
    if which is None:
        which = [i for i, e in enumerate(fp.equilibria) if e.stable]
    for k in which:
        if not isinstance(k, (int, np.integer)) or not 0 <= k < n:
            raise ContinuationError(f"equilibrium index {k!r} out of range: there are {n} equilibria at t = 0")
    out = []
    for k in which:
        out.append(continue_equilibrium(path, sign_b, sign_beta, fp.equilibria[k], **options))
        out[-1].index = int(k)
    return fp, out


def fine_scan(path: DataPath, sign_b: int, sign_beta: int, z0, ts, jump: float = 0.01) -> list:
    """The independent check of a continuation: find_equilibria at every t of ``ts``, following
    the equilibrium nearest to the position extrapolated from the two previous ones (z0 guides
    the first). None from the first t where none lies within jump * (largest |x|) + the
    last displacement (5 jump for the first two) of that guess: the equilibrium has disappeared."""
    out, prev = [], []  # prev: (t, z) of the last two found
    for t in ts:
        f = path.field(float(t), sign_b, sign_beta)
        if out and out[-1] is None:
            out.append(None)
            continue
        eqs = find_equilibria(f, polish=False).equilibria
        if len(prev) < 2:
            guess, reach = (prev[-1][1] if prev else np.asarray(z0, dtype=np.float64)), 5 * jump * f.scale
        else:
            (t1, z1), (t2, z2) = prev
            step = (z2 - z1) * (t - t2) / (t2 - t1)
            guess, reach = z2 + step, jump * f.scale + np.linalg.norm(step)
        dist = [np.linalg.norm(e.z - guess) for e in eqs]
        if not eqs or min(dist) > reach:
            out.append(None)
            continue
        e = eqs[int(np.argmin(dist))]
        out.append(e)
        prev = (prev + [(float(t), e.z)])[-2:]
    return out
