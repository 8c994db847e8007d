"""The event-driven Filippov integrator: gradient flow through the kinks of ReLU and hinge, exactly.

Between events every neuron moves by the exact flow of its frozen coefficient (neuron_flow.advance): for
the hinge without sliding the step is the exact solution, whatever its length. An event is a
pre-activation u_{mu n} of a point with g_mu != 0 reaching 0 (found in closed form), a margin reaching 1
(regula falsi on the exact trajectory), or a sliding multiplier reaching a bound. At an event the QP of
sliding.py decides which points and pairs slide and with what weights; while they slide, each step holds
them on their surfaces exactly (Newton on the step's constant multipliers, so that m_mu = 1 and
u_{mu n} = 0 at its end), and the drift of the multipliers from step to step controls the step.
For the hinge, a pair crossing moves only its own neuron on (neuron_events.py: every neuron goes through
its own crossings within the step) unless it is coupled to a sliding margin, whose multiplier then jumps.
Smooth losses (soft hinge, quadratic hinge, MSE, logistic) step with their loss weights frozen at Simpson's
combination of the start, the predicted midpoint and the midpoint step's end (smooth_step.py), every neuron
through its own crossings and holds under them; the difference to the midpoint step is the error (third order).
Every step is a hyperbolic rotation of each neuron, so Q_n = eta_1 beta_n^2 - eta_2 |(omega_n, b_n)|^2 is
conserved to rounding. Networks of a stack step together, each with its own step and events.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import network as N
from .hold_newton import Secant, newton_again
from .neuron_events import advance_neurons, hinge_pair_weights
from .neuron_flow import advance, bracketed_root, first_crossing, pair_terms
from .smooth_step import smooth_trial
from .sliding import Multipliers, gram, project, solve_qp, tangent_features

UNSATISFIED, ON_MARGIN, SATISFIED = 0, 1, 2
CONVERGED_MARGIN = 1 - 1e-9  # a hinge run has converged when every margin is at least this


@dataclass(frozen=True)
class Filippov:
    """Settings of the event-driven integrator (the object the run is given)."""
    tol_local: float = 1e-7  # smooth losses: local error of a step in F = alpha (f - f0)
    tol_drift: float = 1e-3  # sliding: change of a multiplier (in [0, 1]) from one step to the next
    max_change: float = 0.25  # largest change of any F over one step (no double crossing of a margin goes unseen)
    tol_margin: float = 1e-11  # a margin within this of 1 is on it at an event
    tol_pre: float = 1e-12  # a pre-activation within this (relative to |v_n| |xh_mu|) is on its surface
    grow: float = 4.0
    # every neuron goes through its own ReLU kinks within a step (neuron_events.py); False ends the step of the
    # whole network at the first pair crossing of any neuron, and holds a smooth loss's sliding pairs by Newton on
    # multipliers whose drift limits the steps (the first version, kept to compare)
    per_neuron: bool = True
    max_rounds: int = 64  # crossings of one neuron within one step (more: the step is refused and shortened)


class FilippovState:
    """The live networks' parameters (V = (omega, b), beta) and which kinks they slide on."""

    def __init__(self, opts: Filippov, X, y, f0, alpha, loss: str, lr, fix_orientation: bool, V, beta):
        self.o, self.y, self.f0, self.alpha, self.loss, self.lr = opts, y, f0, alpha, loss, tuple(lr)
        self.hinge = loss == "hinge"
        self.neuron_events = opts.per_neuron
        self.X_hat = torch.cat([X / math.sqrt(X.shape[1]), torch.ones_like(X[:, :1])], 1)
        self.xnorm = self.X_hat.norm(dim=1)
        self.V, self.beta = V, beta
        self.fix_dir = None
        if fix_orientation:  # the unit directions omega_n/|omega_n| of the initial network, kept
            w = V[..., :-1]
            self.fix_dir = w / w.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        E, p, h = V.shape[0], X.shape[0], V.shape[1]
        u = self.pre(V)
        self.side = (u > 0).to(V.dtype)
        self.status = torch.zeros(E, p, dtype=torch.int8, device=V.device)
        self.lam = torch.zeros(E, p, dtype=V.dtype, device=V.device)
        self.held = torch.zeros(E, p, h, dtype=torch.bool, device=V.device)
        self.gam = torch.zeros(E, p, h, dtype=V.dtype, device=V.device)
        self.mult = [None] * E
        # how far behind the present instant the stored multipliers' reference time lies: 0 after a resolve
        # (the QP's values of that instant), half the last step after a step (their average over it)
        self.age = torch.zeros(E, dtype=V.dtype, device=V.device)
        # the hinge weights G under which the pairs' holds were last decided by their neurons (nan: by the QP,
        # or never): a trial under the same G need not decide them again
        self.hold_G = torch.full((E, p), math.nan, dtype=V.dtype, device=V.device)
        m = self.margins(V, beta, u)
        for e in range(E):
            self.resolve(e, u[e], m[e])

    # -- the network ---------------------------------------------------------------------------
    def pre(self, V):
        return torch.einsum("pd,ehd->eph", self.X_hat, V)

    def surface_scale(self, V):
        """(..., h): tol_pre |v_n|, the surface tolerance of neuron n's pairs over |xh_mu| (V (..., h, d+1))."""
        return self.o.tol_pre * V.norm(dim=-1)

    def surface_tol(self, V):
        """(..., p, h): how near 0 a pre-activation is on its surface, tol_pre |v_n| |xh_mu|."""
        return self.surface_scale(V)[..., None, :] * self.xnorm[:, None]

    def margins(self, V, beta, u=None, idx=slice(None), side=None):
        """m = y alpha (f - f0), with each pair within a thousand surface tolerances of u = 0 counted on
        the side the sets give it (side u instead of relu(u), a difference below that band): a pair the
        exit rule sends across, still a rounding away from its surface, then moves the margins as the
        velocity says it does, and a hold does not chase that difference with ever shorter steps."""
        u = self.pre(V) if u is None else u
        side = self.side[idx] if side is None else side
        f = torch.einsum("eph,eh->ep", torch.relu(u), beta)
        # the band's few pairs are found under its widest value per network, then corrected one by one
        band_v = 1e3 * self.surface_scale(V)  # (E, h): the band is band_v |xh_mu|
        widest = band_v.amax(1) * self.xnorm.max()
        e, mu, n = (u.abs() <= widest[:, None, None]).nonzero(as_tuple=True)
        if e.numel():
            uu = u[e, mu, n]
            inside = uu.abs() <= band_v[e, n] * self.xnorm[mu]
            e, mu, n, uu = e[inside], mu[inside], n[inside], uu[inside]
            f.index_put_((e, mu), (side[e, mu, n] * uu - torch.relu(uu)) * beta[e, n], accumulate=True)
        return self.y * self.alpha[idx, None] * (f / V.shape[1] - self.f0[idx])

    def g_smooth(self, m):
        return N.loss_weights(m, self.y.expand_as(m), self.loss)

    def hinge_weights(self, lam, idx=slice(None)):
        """G (E, p): 1 below the margin, lambda on it, 0 above."""
        status = self.status[idx]
        return (status == UNSATISFIED).to(lam.dtype) + (status == ON_MARGIN).to(lam.dtype) * lam

    def weights(self, g=None, lam=None, gam=None, idx=slice(None)):
        """W (E, p, h) from the sets and multipliers (g: the smooth loss's weights)."""
        lam = self.lam[idx] if lam is None else lam
        gam = self.gam[idx] if gam is None else gam
        held, side = self.held[idx], self.side[idx]
        if self.hinge:
            return hinge_pair_weights(self.y, self.hinge_weights(lam, idx), side, held, gam)
        return g[:, :, None] * torch.where(held, gam, side)

    def coef(self, W, idx=slice(None)):
        c = torch.einsum("eph,pd->ehd", W, self.X_hat) / (self.alpha[idx, None, None] * W.shape[1])
        return project(c, self.fix_dir[idx]) if self.fix_dir is not None else c

    def frozen_coef(self, G, side, held, gam):
        """coef(weights) under frozen point weights G (E, p) (the hinge's; a smooth loss's g y, which may be
        negative) without the (E, p, h) weights: sum_mu y_mu G_mu side_mu n xh_mu is one product of side with the
        (E, p, d+1) matrix y G xh, and the held pairs (few) replace their weight y G side by y gamma one by one."""
        yGx = (self.y * G)[:, :, None] * self.X_hat  # (E, p, d+1)
        c = side.transpose(1, 2) @ yGx  # (E, h, d+1)
        e, mu, n = held.nonzero(as_tuple=True)
        if e.numel():
            dw = self.y[mu] * (gam[e, mu, n] - G[e, mu] * side[e, mu, n])
            c.index_put_((e, n), dw[:, None] * self.X_hat[mu], accumulate=True)
        c = c / (self.alpha[:, None, None] * side.shape[1])
        return project(c, self.fix_dir) if self.fix_dir is not None else c

    def pair_weight(self, e, m):
        """dW/dgamma of a pair (p,): y for the hinge, g_mu for a smooth loss."""
        return self.y if self.hinge else self.g_smooth(m[None])[0]

    def select(self, keep):
        for name in ("V", "beta", "f0", "alpha", "side", "status", "lam", "held", "gam", "age", "hold_G"):
            setattr(self, name, getattr(self, name)[keep])
        if self.fix_dir is not None:
            self.fix_dir = self.fix_dir[keep]
        self.mult = [self.mult[i] for i in keep.tolist()]

    # -- the sliding sets ------------------------------------------------------------------------
    def resolve(self, e: int, u, m):
        """Decide, at an event of network e, which points and pairs slide: sides by sign away from the
        surfaces; on them, the least-norm velocity (sliding.solve_qp) and the exit rule."""
        o, V, beta, y = self.o, self.V[e], self.beta[e], self.y
        tol_u = self.surface_tol(V)
        if self.hinge:
            status = torch.where(m < 1 - o.tol_margin, UNSATISFIED, torch.where(m > 1 + o.tol_margin, SATISFIED, -1))
            cand_m = status == -1
            relevant = status != SATISFIED
            g_sign = y
        else:
            status = torch.zeros_like(m, dtype=torch.long)
            cand_m = torch.zeros_like(m, dtype=torch.bool)
            g = self.g_smooth(m[None])[0]
            relevant = g != 0
            g_sign = g
        near = (u.abs() <= tol_u) & relevant[:, None]
        self.side[e] = torch.where(near, self.side[e], (u > 0).to(u.dtype))
        attract = near & (beta[None, :] * g_sign[:, None] < 0)
        if self.neuron_events and not self.hinge:
            # no sliding margins: the attracting pairs are decided by their neurons (local_holds) at the next
            # trial, as candidates held with a weight to be found
            self.held[e], self.gam[e] = attract, 0
            self.hold_G[e] = math.nan
            self._index_multipliers(e)
            return
        pts = cand_m.nonzero().flatten()
        pairs = attract.nonzero()
        st = status.clamp_min(0).to(torch.int8)
        st[pts] = ON_MARGIN
        mult = Multipliers(pts, pairs)
        # the QP takes the sides of the other pairs as given, and the exit rule the multipliers: alternate
        # until the sides stop changing (a side the exit rule flips changes the velocity the QP balanced)
        self.hold_G[e] = math.nan
        for _ in range(4):
            self.held[e], self.gam[e], self.status[e], self.lam[e] = False, 0, st, 0
            if mult.size:
                self._solve_sliding(e, u, m, mult)
            rest = near & ~self.held[e] & ~attract
            if not bool(rest.any()) or not self._exit_rule(e, m, rest):
                break
        self._index_multipliers(e)

    def _index_multipliers(self, e: int):
        """The index lists of network e's multipliers, from its sets (None when it has none)."""
        held = Multipliers((self.status[e] == ON_MARGIN).nonzero().flatten(), self.held[e].nonzero())
        self.mult[e] = held if held.size else None

    def _solve_sliding(self, e, u, m, mult: Multipliers):
        V, beta = self.V[e], self.beta[e]
        gp = self.pair_weight(e, m)
        g = None if self.hinge else self.g_smooth(m[None])
        # the fixed part of the velocity: every multiplier at 0
        W = self.weights(g, idx=slice(e, e + 1))[0]
        W[mult.points] = 0
        W[mult.pairs[:, 0], mult.pairs[:, 1]] = 0
        c = self.coef(W[None], idx=slice(e, e + 1))[0]
        eta1, eta2 = self.lr
        aV, ab = eta1 * beta[:, None] * c, eta2 * (V * c).sum(-1)
        Vb, bb = tangent_features(V, beta, u, self.side[e], self.y, gp, float(self.alpha[e]), u.shape[0], self.lr,
                                  None if self.fix_dir is None else self.fix_dir[e], mult, self.X_hat)
        H = gram(Vb, bb, self.lr).cpu().numpy()
        r = gram(Vb, bb, self.lr, other=(aV[None], ab[None]))[:, 0].cpu().numpy()
        Jm = mult.points.numel()
        pos = {int(mu): i for i, mu in enumerate(mult.points.tolist())}
        rows = [(Jm + k, pos[int(mu)]) for k, mu in enumerate(mult.pairs[:, 0].tolist()) if int(mu) in pos]
        w = torch.as_tensor(solve_qp(H, r, rows), dtype=V.dtype, device=V.device)
        eps = 1e-9
        lam = w[:Jm]
        st = self.status[e]
        st[mult.points] = torch.where(lam <= eps, SATISFIED, torch.where(lam >= 1 - eps, UNSATISFIED, ON_MARGIN)
                                      ).to(torch.int8)
        self.lam[e][mult.points] = torch.where((lam > eps) & (lam < 1 - eps), lam, torch.zeros_like(lam))
        if mult.pairs.shape[0]:
            mu, n = mult.pairs[:, 0], mult.pairs[:, 1]
            gam = w[Jm:]
            up = torch.ones_like(gam)
            for k, mu_k in enumerate(mu.tolist()):
                if mu_k in pos:
                    up[k] = lam[pos[mu_k]]
            low, high = gam <= eps, gam >= up - eps
            self.side[e][mu, n] = torch.where(high & ~low, 1.0, 0.0).to(V.dtype)
            inside = ~low & ~high & (st[mu] != SATISFIED)
            self.held[e][mu[inside], n[inside]] = True
            # stored as W/y (hinge) or W/g (smooth)
            self.gam[e][mu[inside], n[inside]] = gam[inside]

    def _exit_rule(self, e, m, rest):
        """Pairs on their surface that it does not hold: u' on either side decides; where both sides
        push away (a repelling surface) the pair keeps its side. Returns whether a side changed."""
        V, beta = self.V[e], self.beta[e]
        g = None if self.hinge else self.g_smooth(m[None])
        W = self.weights(g, idx=slice(e, e + 1))[0]
        gp = self.pair_weight(e, m)
        mu, n = rest.nonzero(as_tuple=True)
        W0 = W.clone()
        W0[mu, n] = 0
        c0 = self.coef(W0[None], idx=slice(e, e + 1))[0]
        eta1 = self.lr[0]
        du0 = eta1 * beta[n] * (self.X_hat[mu] * c0[n]).sum(-1)
        xx = self.X_hat[mu]
        if self.fix_dir is not None:
            xx_p = project(xx[:, None, :], self.fix_dir[e][n][:, None, :])[:, 0]
        else:
            xx_p = xx
        du1 = du0 + eta1 * beta[n] * gp[mu] * (xx * xx_p).sum(-1) / (float(self.alpha[e]) * W.shape[0])
        # du1 >= du0 (the pair does not attract): both > 0 cross up, both < 0 down, else it keeps its side
        old = self.side[e][mu, n]
        new = torch.where(du0 > 0, 1.0, torch.where(du1 < 0, 0.0, old)).to(V.dtype)
        self.side[e][mu, n] = new
        return bool((new != old).any())

    # -- a step ------------------------------------------------------------------------------------
    def _hold_matrices(self, m0, u0, g):
        """Per network with multipliers: pinv of H over them, and the scales D^{-1} of their residuals."""
        out = {}
        h, p = self.V.shape[1], self.X_hat.shape[0]
        for e, mult in enumerate(self.mult):
            if mult is None:
                continue
            gp = self.y if self.hinge else g[e]
            Vb, bb = tangent_features(self.V[e], self.beta[e], u0[e], self.side[e], self.y, gp, float(self.alpha[e]),
                                      p, self.lr, None if self.fix_dir is None else self.fix_dir[e], mult, self.X_hat)
            H = gram(Vb, bb, self.lr)
            a = float(self.alpha[e])
            mu, n = mult.pairs[:, 0], mult.pairs[:, 1]
            dinv = torch.cat([torch.full((mult.points.numel(),), h / (a * a * p), dtype=H.dtype, device=H.device),
                              self.beta[e][n] * gp[mu] / (a * p)])
            out[e] = (torch.linalg.pinv(H, hermitian=True, rtol=1e-12), dinv)
        return out

    def _hold_target(self, e, m0, u0, Hinv, dinv, tau):
        """Where the step takes the held margins (1) and pre-activations (0). An event leaves them within
        tol_margin or tol_pre of their surface, and removing that offset in one short step would need
        multipliers far outside [0, 1]: the step removes as much of it as moves a multiplier by at most
        a quarter of tol_drift (all of it once the steps are long)."""
        mult = self.mult[e]
        mu, n = mult.pairs[:, 0], mult.pairs[:, 1]
        s0 = torch.cat([m0[e][mult.points], u0[e][mu, n]])
        surface = torch.cat([torch.ones_like(m0[e][mult.points]), torch.zeros_like(u0[e][mu, n])])
        corr = (Hinv @ (dinv * (s0 - surface))).abs().max() / tau
        share = min(1.0, 0.25 * self.o.tol_drift / max(float(corr), 1e-300))
        return surface + (s0 - surface) * (1 - share)

    def _margin_floor(self, e, u, beta, pts):
        """The rounding of the margins of points pts of network e (at least 4e-16): F = alpha (f - f0) loses
        alpha eps (|f0| + sum |beta relu(u)|/h) to the subtraction, 1e-13 at alpha = 1e3, and no hold can
        do better (chasing the rounding drives the multipliers out of [0, 1], and the steps to zero)."""
        absf = torch.relu(u) @ beta.abs() / beta.shape[0] + self.f0[e][pts].abs()
        return (8 * 2.2e-16 * float(self.alpha[e]) * absf).clamp_min(4e-16)

    def _held_values(self, e, lam, gam):
        """The multipliers of network e: lambda then gamma (per-neuron events: lambda alone, the pairs'
        weights being decided by their neurons at each crossing)."""
        mult = self.mult[e]
        if self.neuron_events:
            return lam[e][mult.points]
        return torch.cat([lam[e][mult.points], gam[e][mult.pairs[:, 0], mult.pairs[:, 1]]])

    def step_start(self) -> dict:
        """What every trial of a step shares: u and m at its start, and (hinge) the hold matrices."""
        u0 = self.pre(self.V)
        m0 = self.margins(self.V, self.beta, u0)
        has = any(x is not None for x in self.mult)
        return {"u0": u0, "m0": m0, "mats": self._hold_matrices(m0, u0, None) if self.hinge and has else {}}

    def trial(self, tau, start: dict | None = None):
        """The step of every live network over tau (E,), multipliers held on their surfaces."""
        start = self.step_start() if start is None else start
        if self.neuron_events:
            return self._trial_neurons(tau, start) if self.hinge else smooth_trial(self, tau, start)
        V, beta, lr = self.V, self.beta, self.lr
        u0, m0 = start["u0"], start["m0"]
        g = err = None
        if not self.hinge:  # the exponential midpoint: the coefficient of the half step
            c0 = self.coef(self.weights(self.g_smooth(m0)))
            Vh, bh = advance(V, beta, c0, tau / 2, lr)
            g = self.g_smooth(self.margins(Vh, bh))
            mA = self.margins(*advance(V, beta, c0, tau, lr))
        lam, gam = self.lam.clone(), self.gam.clone()
        mats = start["mats"] if self.hinge else self._hold_matrices(m0, u0, g) if any(
            x is not None for x in self.mult) else {}
        ok = torch.ones_like(tau, dtype=torch.bool)
        targets = {e: self._hold_target(e, m0, u0, Hinv, dinv, float(tau[e])) for e, (Hinv, dinv) in mats.items()}
        newton = {e: Secant(Hinv * dinv[None, :] / tau[e]) for e, (Hinv, dinv) in mats.items()}
        for it in range(10):
            W = self.weights(g, lam, gam)
            c = self.coef(W)
            V1, b1 = advance(V, beta, c, tau, lr)
            u1 = self.pre(V1)
            m1 = self.margins(V1, b1, u1)
            todo = False
            for e, (Hinv, dinv) in mats.items():
                mult = self.mult[e]
                mu, n = mult.pairs[:, 0], mult.pairs[:, 1]
                res = torch.cat([m1[e][mult.points], u1[e][mu, n]]) - targets[e]
                scale = torch.cat([self._margin_floor(e, u1[e][mult.points], b1[e], mult.points) / 4e-16,
                                   V1[e][n].norm(dim=-1) * self.xnorm[mu]])
                if not newton_again(res, scale, it, ok, e):
                    continue
                todo = True
                dw = newton[e](res, 4e-16 * scale)
                Jm = mult.points.numel()
                lam[e][mult.points] += dw[:Jm]
                gam[e][mu, n] += dw[Jm:]
            if not todo:
                break
        if not self.hinge:
            err = ((mA - m1).abs().amax(1) / self.o.tol_local).sqrt()  # a first-order estimate: err ~ tau^2
        return {"u0": u0, "m0": m0, "V": V1, "beta": b1, "u": u1, "m": m1, "c": c, "lam": lam, "gam": gam,
                "err": err, "ok": ok, "g": g}

    def _trial_neurons(self, tau, start: dict):
        """The hinge step with per-neuron events (neuron_events.py): the pairs are held exactly by their
        neurons, and Newton on the margin multipliers lambda alone (the pair rows of the hold matrix
        eliminate the pairs' response) takes the sliding margins to their targets."""
        u0, m0, mats = start["u0"], start["m0"], start["mats"]
        lam = self.lam.clone()
        ok = torch.ones_like(tau, dtype=torch.bool)
        mats = {e: v for e, v in mats.items() if self.mult[e].points.numel()}
        targets = {e: self._hold_target(e, m0, u0, Hinv, dinv, float(tau[e])) for e, (Hinv, dinv) in mats.items()}
        # the pairs' rows of the hold matrix carry no residual (their neurons hold them): lambda's block alone
        newton = {e: Secant(Hinv[:J, :J] * dinv[None, :J] / tau[e])
                  for e, (Hinv, dinv) in mats.items() for J in [self.mult[e].points.numel()]}
        for it in range(10):
            G = self.hinge_weights(lam)
            ns = advance_neurons(self, self.V, self.beta, G, self.status == ON_MARGIN, self.side, self.held, self.gam,
                                 tau, self.o.max_rounds, u0, decided=(G == self.hold_G).all(1))
            V1, b1, t_coupled = ns.V, ns.beta, ns.t_coupled
            u1 = self.pre(V1)
            m1 = self.margins(V1, b1, u1, side=ns.side)
            todo = False
            if mats:  # re-deciding the holds may move a pair within its band to the other side, which moves
                # the margins by a rounding (see margins); the hold does not chase that jump (None: no side moved)
                same = ns.side0 is self.side or torch.equal(ns.side0, self.side)
                jump = None if same else self.margins(self.V, self.beta, u0, side=ns.side0) - m0
            # a coupled crossing inside the step: lambda jumps there, and the step is cut to it (event_times)
            cut = t_coupled < tau * (1 - 1e-12)
            for e, (Hinv, dinv) in mats.items():
                if bool(cut[e]):
                    continue
                pts = self.mult[e].points
                Jm = pts.numel()
                res = m1[e][pts] - targets[e][:Jm] - (0 if jump is None else jump[e][pts])
                scale = self._margin_floor(e, u1[e][pts], b1[e], pts) / 4e-16
                if not newton_again(res, scale, it, ok, e):
                    continue
                todo = True
                lam[e][pts] += newton[e](res, 4e-16 * scale)
            if not todo:
                break
        return {"u0": u0, "m0": m0, "V": V1, "beta": b1, "u": u1, "m": m1, "c": None, "lam": lam, "gam": ns.gam,
                "side": ns.side, "held": ns.held, "segs": ns.segs, "err": None, "ok": ok & ns.ok, "g": None,
                "t_coupled": t_coupled, "end": ns.end, "reached": ns.reached}

    def _margin_at(self, e_idx, pts, t, c):
        """Margins of points pts (K,) of networks e_idx (K,) at times t (K,) of the frozen-coefficient step."""
        if isinstance(c, torch.Tensor):
            Vt, bt = advance(self.V[e_idx], self.beta[e_idx], c[e_idx], t, self.lr)
        else:  # the per-neuron segments of the step
            Vt, bt = c.at(e_idx, t, self.lr)
        u = (Vt * self.X_hat[pts][:, None, :]).sum(-1)
        f = (torch.relu(u) * bt).sum(-1) / Vt.shape[1]
        return self.y[pts] * self.alpha[e_idx] * (f - self.f0[e_idx, pts])

    def event_times(self, tr, tau):
        """The first event of every network inside (0, tau]: inf where none."""
        o = self.o
        E = tau.shape[0]
        u0, m0 = tr["u0"], tr["m0"]
        if self.hinge:
            relevant = (self.status != SATISFIED)[:, :, None]
        else:
            relevant = (self.g_smooth(m0) != 0)[:, :, None]
        if self.neuron_events:  # the pairs cross within the step, neuron by neuron, except the coupled ones
            t_ev = tr["t_coupled"].clone()
        else:
            tol_u = self.surface_tol(self.V)
            mask = relevant & ~self.held & (u0.abs() > tol_u)
            k, sigma, b0, P = pair_terms(self.V, self.beta, tr["c"], self.X_hat, self.lr)
            t_ev = first_crossing(u0, P, k, sigma, b0, tau, mask, 0.1 * tol_u.expand_as(u0)).flatten(1).amin(1)
        if self.hinge:
            m1 = tr["m"]
            rising = (self.status == UNSATISFIED) & (m1 >= 1)
            falling = (self.status == SATISFIED) & (m1 < 1 - o.tol_margin)
            cand = rising | falling
            if bool(cand.any()):
                e_idx, pts = cand.nonzero(as_tuple=True)
                level = torch.where(rising[e_idx, pts], 1.0, 1 - o.tol_margin / 2).to(m1.dtype)
                path = tr["segs"] if self.neuron_events else tr["c"]
                # the trial's margins m1 are at its end: tau, or a coupled crossing it is cut to
                end = tr.get("end", tau)
                root = bracketed_root(lambda t: self._margin_at(e_idx, pts, t, path) - level,
                                      torch.zeros_like(level), end[e_idx], 0.1 * o.tol_margin)
                t_m = torch.full((E,), math.inf, dtype=tau.dtype, device=tau.device)
                t_m = t_m.scatter_reduce(0, e_idx, root, reduce="amin")
                t_ev = torch.minimum(t_ev, t_m)
        for e, mult in enumerate(self.mult):  # a multiplier leaving its interval: linear in time over the step
            if mult is None:
                continue
            if self.neuron_events and not mult.points.numel():
                continue
            before = self._held_values(e, self.lam, self.gam)
            after = self._held_values(e, tr["lam"], tr["gam"])
            up = torch.ones_like(after)
            Jm = mult.points.numel()
            pos = {int(mu): i for i, mu in enumerate(mult.points.tolist())}
            for k_, mu in enumerate([] if self.neuron_events else mult.pairs[:, 0].tolist()):
                if mu in pos:
                    up[Jm + k_] = after[pos[mu]]
            frac = torch.where(after < 0, before / (before - after).clamp_min(1e-300),
                               torch.where(after > up, (up - before) / (after - before).clamp_min(1e-300),
                                           torch.full_like(after, math.inf)))
            if bool(torch.isfinite(frac).any()):
                t_ev[e] = torch.minimum(t_ev[e], float(tau[e]) * frac.clamp(0, 1).min())
        return t_ev

    def step(self, dt, room):
        """One step of every live network: at most dt, at most ``room`` (to the next checkpoint), ending
        on the first event. Returns (accept, taken step, next dt, event, trial) per network; the state of
        the accepted networks moves on, and every network that ended on an event has its sets resolved."""
        o = self.o
        tau = torch.minimum(dt, room)
        cut = torch.zeros_like(tau, dtype=torch.bool)  # tau ends on an event a trial found (valid ones only)
        start = self.step_start()
        for _ in range(4):
            tr = self.trial(tau, start)
            worst, drift, finite = self._step_error(tr, tau)
            # a trial whose hold failed says nothing about events: it is refused and shrunk below
            valid = tr["ok"] & finite
            t_ev = torch.where(valid, self.event_times(tr, tau), torch.full_like(tau, math.inf))
            hit = t_ev < tau * (1 - 1e-12)
            if not bool(hit.any()):
                break
            tau = torch.where(hit, t_ev.clamp_min(tau * 1e-15), tau)
            cut |= hit
        # hit: still an event inside after four cuts, retried from the event time
        accept = valid & ~hit & (worst <= 1) & (drift <= 1)
        factor = (0.9 / worst.clamp_min(1e-12)).clamp(0.2, o.grow)
        # a step cut short by an event or a checkpoint leaves the step size as it was
        short = tau < dt * (1 - 1e-12)
        grown = torch.where(short, torch.maximum(dt, tau * factor), tau * factor)
        # refused for its drift alone (its other ratios within tolerance): the drift controller below sets the retry
        refused = tau * torch.where(tr["ok"] & finite & (worst <= 1), torch.ones_like(tau),
                                    torch.where(tr["ok"] & finite, factor.clamp_max(0.5), torch.full_like(tau, 0.25)))
        # a trial some neuron could not cross through in max_rounds: the retry goes half as far as every neuron
        # got (the first trials at p = h = 512, alpha = 1e-3 ran 64 rounds at tau = 1, 0.25, 0.0625 in turn,
        # 15 s each, before one fitted)
        if "reached" in tr:
            short_of = finite & (tr["reached"] < tr["end"])
            refused = torch.where(short_of, torch.minimum(refused, (0.5 * tr["reached"]).clamp_min(1e-6 * tau)), refused)
        event = accept & (cut | (t_ev <= tau * (1 + 1e-12)))
        # re-decided at the step's start (below): a step refused for its drift, or still cut after four cuts
        restart = ~accept & finite & ((valid & hit) | (drift > 1))
        # re-decided at the step's end (an event) or its start: the stored multipliers are then the instant's
        age = torch.where(event | restart, torch.zeros_like(tau), torch.where(accept, tau / 2, self.age))
        # the drift is |lambda'| times the time between the stored multipliers' reference and the step's middle
        # (age + tau/2): the next step is the one that puts it at 0.9 of its tolerance (a controller that took
        # it as proportional to the step alone refused every other step, measured at p = h = 64, alpha = 1e-3)
        rate = drift / (self.age + tau / 2)
        by_drift = torch.where(rate > 0, 2 * (0.9 / rate.clamp_min(1e-300) - age), torch.full_like(tau, math.inf))
        nxt = torch.where(accept, torch.minimum(grown, by_drift.clamp_min(0.2 * tau)),
                          torch.where(valid & hit, tau, torch.minimum(refused, by_drift.clamp(0.1 * tau, tau))))
        if not bool(torch.isfinite(nxt).all()):  # a nan step is retried for ever, a silent stall: say so instead
            raise RuntimeError(f"filippov: non-finite next step {nxt.tolist()} (worst ratio {worst.tolist()}, drift "
                               f"{drift.tolist()}, step {tau.tolist()})")
        self.age = age
        idx = accept.nonzero().flatten()
        self.V[idx], self.beta[idx] = tr["V"][idx], tr["beta"][idx]
        self.lam[idx], self.gam[idx] = tr["lam"][idx], tr["gam"][idx]
        if self.neuron_events:  # the pairs' sides and holds changed within the step
            self.side[idx], self.held[idx] = tr["side"][idx], tr["held"][idx]
            # the hinge weights its holds were decided under (a smooth loss's are the step's own, never reused)
            self.hold_G[idx] = self.hinge_weights(self.lam)[idx] if self.hinge else math.nan
            for e in (accept & ~event).nonzero().flatten().tolist():
                self._index_multipliers(e)
        for e in event.nonzero().flatten().tolist():
            self.resolve(e, tr["u"][e], tr["m"][e])
        # a step refused for the drift of its multipliers: the stored ones are the last step's averages,
        # and the QP gives them at this instant (the next step's drift is then its own)
        # and a step still cut after four cuts is one whose event sits at its start: a multiplier whose stored
        # (averaged) value says it is inside its interval while the instant's is at its bound
        for e in restart.nonzero().flatten().tolist():
            self.resolve(e, tr["u0"][e], tr["m0"][e])
        return accept, tau, nxt, event, tr

    def _step_error(self, tr, tau):
        """(worst ratio of a trial step to its tolerances but the drift, the multipliers' drift ratio, finite)
        per network."""
        o = self.o
        ratios = [(tr["m"] - tr["m0"]).abs().amax(1) / o.max_change]
        if tr["err"] is not None:  # the error ratio, already as the power of the step it scales with
            ratios.append(tr["err"])
        drift = torch.zeros_like(tau)
        for e, mult in enumerate(self.mult):
            if mult is not None:
                d = (self._held_values(e, tr["lam"], tr["gam"]) - self._held_values(e, self.lam, self.gam)).abs()
                drift[e] = d.max() / o.tol_drift if d.numel() else 0.0
        finite = torch.isfinite(tr["m"]).all(1) & torch.isfinite(tr["V"]).flatten(1).all(1)
        if tr["err"] is not None:  # an estimate that overflowed (its pass diverged) refuses the step as its own would
            finite &= torch.isfinite(tr["err"])
        worst = torch.stack(ratios).amax(0)
        return torch.where(finite, worst, torch.full_like(worst, math.inf)), drift, finite

    def converged(self, m):
        return (m >= CONVERGED_MARGIN).all(1)

    def params(self) -> N.Params:
        return N.Params(self.V[..., :-1].contiguous(), self.V[..., -1].contiguous(), self.beta)

    def state_dict(self) -> dict:
        return {k: getattr(self, k).cpu() for k in ("side", "status", "lam", "held", "gam", "age", "hold_G")}

    def load_state(self, state: dict, rows):
        """Saved sets and multipliers back into networks ``rows`` (the saved networks, in order); a state saved
        without hold_G (before it existed) has its holds decided again at the first trial."""
        self.hold_G[rows] = math.nan
        for k, v in state.items():
            getattr(self, k)[rows] = v.to(getattr(self, k).device)
        for e in range(self.V.shape[0]):
            self._index_multipliers(e)
