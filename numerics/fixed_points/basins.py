"""Basins of attraction: integrate the Filippov flow of many neurons at once and sort the endpoints.

Every start z is one neuron (same data, same signs of b and beta). The step is explicit Euler
with a per-neuron step: a fixed fraction of |z| over |F| (so a neuron never jumps across much of
a region), capped by the local Lipschitz bound of F (so Euler is stable near a node). A surface
that a neuron crosses back and forth in consecutive steps becomes sticky: on it the Filippov
sliding field is used (its lambda solved) and a Newton projection keeps z on the surface, so the
endpoint lies on the surface instead of chattering across it. A neuron stops ("converged") when
it moves less than a tolerance over a window of steps.

Endpoint statuses: "converged" (stopped moving), "origin" (|z| -> 0: b -> 0 faster than omega),
"escaped" (|z| -> infinity), "dead" (no weighted training point active: F = 0, the neuron is
frozen), "unconverged" (still moving at the step limit). Converged endpoints are assigned to the
nearest reported equilibrium within ``assign_tol``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...theory.derived import derive
from .neuron_field import NeuronField, per_neuron_region_field, per_neuron_surface_gradient
from ...theory.errors import LazyrichError

STATUSES = ("converged", "origin", "escaped", "dead", "unconverged")


def initial_positions(f: NeuronField, n: int, seed: int = 0, kind: str = "init") -> np.ndarray:
    """n starting points: "init" as a network is initialised (omega ~ N(0, I), b ~ N(0, 1) with
    the sign of b fixed), so that basin fractions are fractions of neurons; "box": uniform in
    [-R, R]^d with R the largest |x|."""
    rng = np.random.default_rng(seed)
    if kind == "init":
        omega = rng.standard_normal((n, f.d))
        b = f.sign_b * np.abs(rng.standard_normal(n))
        z_of = derive("z-position").compile("numpy", "z")
        return np.asarray(z_of(omega=omega, b=b))
    if kind == "box":
        return rng.uniform(-f.scale, f.scale, size=(n, f.d))
    raise LazyrichError(f"unknown start distribution {kind!r}: use 'init' or 'box'")


@dataclass
class Flow:
    endpoints: np.ndarray  # (N, d)
    status: np.ndarray  # (N,) strings from STATUSES
    steps: int
    time: np.ndarray  # (N,) flow time reached


def integrate(f: NeuronField, z0, *, max_steps: int = 20_000, frac: float = 0.05, window: int = 25,
              move_tol: float = 1e-9, device: str = "cpu", escape: float = 1e4, origin: float = 1e-7) -> Flow:
    """Integrate the Filippov flow dz/dt = F(z) from every row of z0.

    Euler steps of at most ``frac`` |z|, and at most half the inverse norm of the Jacobian of
    the current region (stability near a node). Sliding is handled as in Filippov's definition:
    a surface that a neuron crosses back and forth in consecutive steps becomes "sticky"; on the
    sticky surfaces (at most d) the Filippov weights lambda are solved so that the field is
    tangent to them, the step uses that sliding field, a Newton projection puts z back on them,
    and a surface whose lambda leaves [0, 1] is released. This removes the chattering of plain
    Euler, so endpoints converge to sliding equilibria to high accuracy.
    """
    fl = _Filippov(f, torch.device(device))
    T, dev = torch.float64, fl.dev
    z = torch.as_tensor(np.asarray(z0, dtype=np.float64), device=dev).clone()
    N, d, p = z.shape[0], f.d, f.p
    status = np.array(["unconverged"] * N, dtype=object)
    running = torch.ones(N, dtype=torch.bool, device=dev)
    t = torch.zeros(N, dtype=T, device=dev)
    # per-neuron step factor: halved whenever a sticky surface is released. Near the meeting
    # point of several surfaces, sliding on one of them alone is not a Filippov solution: its
    # lambda leaves [0, 1], the surface is released, and with full steps the neuron can cycle
    # (stick to one surface, release it, stick to the next ...) without ever chattering across
    # all of them. Smaller steps make it cross each of them back and forth, so that all become
    # sticky together; the factor recovers by 5% per step without a release.
    shrink = torch.ones(N, dtype=T, device=dev)
    sticky = torch.full((N, d), -1, dtype=torch.long, device=dev)  # surface indices, -1 = free slot
    prev_side = fl.side(z)
    last_flip = torch.zeros(N, p, dtype=torch.bool, device=dev)
    anchor = z.clone()
    step = 0
    for step in range(1, max_steps + 1):
        idx = running.nonzero().reshape(-1)
        if len(idx) == 0:
            break
        zi = z[idx]
        F, st, used, xs, released, Gs, ms = fl.sliding_field(zi, sticky[idx])
        shrink[idx] = torch.where(released, (0.5 * shrink[idx]).clamp_min(1e-6), (1.05 * shrink[idx]).clamp_max(1.0))
        speed, size = F.norm(dim=1), zi.norm(dim=1)
        jnorm = (d * Gs.abs() + 4 * ms.norm(dim=1) * size) / (d * p)
        dt = shrink[idx] * torch.minimum(frac * size / speed.clamp_min(1e-300), 0.5 / jnorm.clamp_min(1e-300))
        znew = fl.project(zi + dt[:, None] * F, xs, used)
        z[idx], sticky[idx] = znew, st
        t[idx] += dt
        # surfaces crossed in two consecutive steps: the neuron chatters on them, make them sticky
        side = fl.side(znew)
        flip = (side != prev_side[idx])
        chatter = flip & last_flip[idx]
        prev_side[idx], last_flip[idx] = side, flip
        _stick(sticky, last_flip, idx, chatter)
        dead = (speed == 0) & ~used.any(1)
        for mask, name in ((dead, "dead"), (size > escape * fl.R_far, "escaped"), (size < origin * fl.R, "origin")):
            if bool(mask.any()):
                j = idx[mask]
                running[j] = False
                status[j.cpu().numpy()] = name
        if step % window == 0:
            done = running & ((z - anchor).norm(dim=1) <= move_tol * fl.R * window)
            if bool(done.any()):
                running[done] = False
                status[done.cpu().numpy()] = "converged"
            anchor = z.clone()
    return Flow(z.cpu().numpy(), status, step, t.cpu().numpy())


class _Filippov:
    """The field of one sign class on a device, with its sliding field on sticky surfaces."""

    def __init__(self, f: NeuronField, dev):
        T = torch.float64
        self.f, self.dev, self.d, self.p, self.R = f, dev, f.d, f.p, f.scale
        # the field has two lengths, |x| and d/|x| (its regular equilibria sit near d/|x| when the data
        # are small, notes/fixed_points.md "Scale"): a neuron escapes only beyond the larger
        self.R_far = max(f.scale, f.d / f.scale)
        self.X = torch.as_tensor(f.X, dtype=T, device=dev)
        self.g = torch.as_tensor(f.g, dtype=T, device=dev)
        self.gx = self.g[:, None] * self.X
        self.zdot = derive("z-velocity").compile("torch", "zdot")
        self.region = per_neuron_region_field("torch")
        self.grad_surface = per_neuron_surface_gradient("torch")
        self.eye = torch.eye(f.d, dtype=T, device=dev)

    def side(self, z):
        """(N, p): inside the switching sphere of each point (|z|^2 < z.x)."""
        return (z @ self.X.T - (z * z).sum(1, keepdim=True)) < 0

    def field(self, zr, Gr, mr):
        """The region field, each row with its own weights."""
        k = len(zr)
        if k == 0:
            return zr
        ones = torch.ones(k, dtype=zr.dtype, device=self.dev)
        return self.region(z=zr, G_n=Gr, m_n=mr, b=self.f.sign_b * ones, beta=self.f.sign_beta * ones, alpha=1.0,
                           p=self.p)

    def normals(self, z, xs, used):
        """(n, d, d): the gradient of each sticky surface at z (rows of unused slots are 0)."""
        n, d = len(z), self.d
        zrep = z[:, None, :].expand(n, d, d).reshape(n * d, d)
        return self.grad_surface(z=zrep, x_n=xs.reshape(n * d, d)).reshape(n, d, d) * used[..., None]

    def sliding_field(self, zi, st):
        """Filippov's field at zi with the sticky surfaces st (n, d; -1 = free): lambda solved so
        that the field is tangent to them; a surface whose lambda leaves [0, 1] is released and
        the neuron steps with the plain field. Returns (F, st, used, xs, released, G, m): the
        effective weights G, m include the sliding ones."""
        f, n, d = self.f, len(zi), self.d
        used = st >= 0
        on = torch.zeros(n, self.p, dtype=torch.bool, device=self.dev)
        rows = torch.arange(n, device=self.dev)[:, None].expand_as(st)
        on[rows[used], st[used]] = True
        act = ((f.sign_b * ((zi * zi).sum(1, keepdim=True) - zi @ self.X.T)) > 0) & ~on
        G = act.to(zi.dtype) @ self.g
        m = act.to(zi.dtype) @ self.gx
        FA = self.field(zi, G, m)
        # sliding on the sticky surfaces: n_i . (F_A + sum_j lambda_j g_j f_j) = 0
        sc = st.clamp_min(0)
        xs, gs = self.X[sc], self.g[sc]  # (n, d, d), (n, d)
        normal = self.normals(zi, xs, used)
        # the field of each sticky point alone (its column of dF/dlambda)
        zrep = zi[:, None, :].expand(n, d, d).reshape(n * d, d)
        fj = self.field(zrep, gs.reshape(-1), (gs[..., None] * xs).reshape(n * d, d)).reshape(n, d, d) * used[..., None]
        M = torch.where(used[:, :, None] & used[:, None, :], normal @ fj.transpose(1, 2), self.eye.expand(n, d, d))
        rhs = -(normal @ FA[..., None])[..., 0]
        lam = torch.linalg.solve(M, rhs[..., None])[..., 0] * used
        bad = used & ((lam < -1e-9) | (lam > 1 + 1e-9) | ~torch.isfinite(lam))
        if bool(bad.any()):  # not sliding there: release the surface, step with the plain field
            st = torch.where(bad, torch.full_like(st, -1), st)
            lam = torch.where(bad, torch.zeros_like(lam), lam)
            used = st >= 0
        F = FA + (lam[..., None] * fj * used[..., None]).sum(1)
        # the released surfaces' points are active or not by their side: add them back
        released = bad.any(1)
        if bool(released.any()):
            k = int(released.sum())
            ones = torch.ones(k, dtype=zi.dtype, device=self.dev)
            F[released] = self.zdot(z=zi[released], x=self.X, g=self.g, b=f.sign_b * ones, beta=f.sign_beta * ones,
                                    alpha=1.0)
            st[released] = -1
            used = st >= 0
        Gs = G + (lam * gs * used).sum(1)
        ms = m + ((lam * gs * used)[..., None] * xs).sum(1)
        return F, st, used, xs, released, Gs, ms

    def project(self, z, xs, used):
        """Back onto the sticky surfaces: two Newton steps on S_i(z) = |z|^2 - z.x_i = 0."""
        n, d = len(z), self.d
        eye = self.eye.expand(n, d, d)
        for _ in range(2):
            Sv = ((z * z).sum(1)[:, None] - (xs * z[:, None, :]).sum(-1)) * used
            Nn = self.normals(z, xs, used)
            A = torch.where(used[:, :, None] & used[:, None, :], Nn @ Nn.transpose(1, 2), eye)
            c = torch.linalg.solve(A, -Sv[..., None])
            z = z + (Nn.transpose(1, 2) @ c)[..., 0]
        return z


def _stick(sticky, last_flip, idx, chatter):
    """Make the chattering surfaces (rows of idx) sticky, in the first free slot of each neuron."""
    if not bool(chatter.any()):
        return
    rr, cc = chatter.nonzero(as_tuple=True)
    for r_, c_ in zip(rr.tolist(), cc.tolist()):
        row = idx[r_]
        slots = sticky[row]
        if bool((slots == c_).any()):
            continue
        free = (slots < 0).nonzero().reshape(-1)
        if len(free):
            sticky[row, free[0]] = c_
            last_flip[row, c_] = False


@dataclass
class Basins:
    n: int
    counts: dict  # status -> number of starts
    assigned: np.ndarray  # (N,) equilibrium index or -1
    distance: np.ndarray  # (N,) distance of each endpoint to its nearest equilibrium
    fractions: list  # per equilibrium: fraction of all starts
    flow: Flow
    starts: np.ndarray  # (N, d)
    fraction_to_stable: float  # of the settled starts, those that end at a stable equilibrium

    def to_json(self) -> dict:
        return {"n": self.n, "counts": self.counts,
                "fraction_converged_to_stable": self.fraction_to_stable,
                "fractions": self.fractions}


def basins(f: NeuronField, equilibria, n: int = 2000, seed: int = 0, kind: str = "init",
           assign_tol: float = 1e-3, device: str = "cpu", z0=None, **flow_options) -> Basins:
    """Integrate n starts, assign endpoints, and set ``basin`` on each equilibrium (in place)."""
    z0 = initial_positions(f, n, seed, kind) if z0 is None else np.asarray(z0, dtype=np.float64)
    flow = integrate(f, z0, device=device, **flow_options)
    Z = np.array([e.z for e in equilibria]).reshape(len(equilibria), f.d)
    conv = flow.status == "converged"
    if len(Z):
        dist = np.linalg.norm(flow.endpoints[:, None, :] - Z[None], axis=2)
        nearest = dist.argmin(1)
        dmin = dist[np.arange(len(z0)), nearest]
    else:
        nearest = np.full(len(z0), -1)
        dmin = np.full(len(z0), np.inf)
    assigned = np.where(conv & (dmin <= assign_tol), nearest, -1)
    fractions = [float((assigned == i).mean()) for i in range(len(Z))]
    for e, fr in zip(equilibria, fractions):
        e.basin = fr
    counts = {s: int((flow.status == s).sum()) for s in STATUSES}
    counts["converged_unassigned"] = int((conv & (assigned < 0)).sum())
    stable = np.array([e.stable for e in equilibria], dtype=bool)
    to_stable = conv & (assigned >= 0) & (stable[np.maximum(assigned, 0)] if len(Z) else False)
    settled = conv | (flow.status == "unconverged")
    return Basins(len(z0), counts, assigned, dmin, fractions, flow, z0,
                  float(to_stable.sum() / max(settled.sum(), 1)))


def expected_attractor_count(fractions, h) -> float:
    """E[number of distinct attractors hit by h neurons] = sum_k 1 - (1 - pi_k)^h."""
    pi = np.asarray([fr for fr in fractions if fr > 0])
    return float(np.sum(1.0 - (1.0 - pi) ** h))
