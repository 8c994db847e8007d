"""Per-neuron events: every neuron goes through its own ReLU kinks within a step.

With the point weights G_mu held fixed (the hinge's: 1 for a point below its margin, lambda_mu on it, 0
above; a smooth loss's -l'(m_mu) frozen over its step, which may be negative, e.g. MSE beyond its target), the
coefficient of neuron n, c_n = (1/(alpha p)) sum_mu y_mu W_{mu n} xh_mu, depends on that neuron's own
pattern and on nothing else. A pair crossing (u_{mu n} = 0) therefore changes the flow of one neuron
only, and need not end the step of the whole network: within a step of length tau every neuron is
advanced through its own crossings, in rounds (one crossing per neuron per round, all neurons at once),
each neuron on its own clock. Only the margins couple the neurons, and they end the network's step.

At a crossing the neuron's pairs that lie on their surface are decided together (``local_holds``):
the velocity must be tangent to every surface it slides on, x_mu . c_n = 0 (the fixed-orientation flow:
x_mu . P_n c_n = 0), which is a small linear system in the pair weights gamma (one unknown per pair, at
most d + 1 of them independently), each inside [0, G_mu] ([G_mu, 0] where G_mu < 0). A weight that would
leave its interval puts its pair off the surface, on the side of its bound. With c_n constant the held
pre-activations then stay exactly where they are, so a hold needs no correction within the step. Only pairs
whose surface attracts (beta_n y_mu G_mu < 0) can be held; a repelling one is crossed (it is reached from
the side it leaves).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .neuron_flow import advance, first_crossing_by_neuron, pair_terms
from .sliding import project


def hinge_pair_weights(y, G, side, held, gam):
    """W (E, p, h) of the hinge: y_mu G_mu Theta(u) off the surfaces, y_mu gamma on a held pair."""
    return y[:, None] * torch.where(held, gam, G[:, :, None] * side)


@dataclass
class Segments:
    """The piecewise trajectory of one step: round r starts neuron n at its own time starts[r] (E, h)
    with parameters V[r], beta[r] and moves it with the frozen coefficient c[r] (until starts[r + 1])."""
    starts: torch.Tensor  # (R, E, h)
    V: torch.Tensor  # (R, E, h, d+1)
    beta: torch.Tensor  # (R, E, h)
    c: torch.Tensor  # (R, E, h, d+1)

    def at(self, e_idx: torch.Tensor, t: torch.Tensor, lr):
        """(V, beta) of networks e_idx (K,) at times t (K,), each neuron on its own segment."""
        starts = self.starts[:, e_idx, :]  # (R, K, h)
        r = ((starts <= t[None, :, None]).sum(0) - 1).clamp_min(0)  # (K, h): the last segment begun by t
        k_idx = torch.arange(e_idx.numel(), device=t.device)[:, None]
        n_idx = torch.arange(starts.shape[2], device=t.device)[None, :]
        e2 = e_idx[:, None]
        s = starts[r, k_idx, n_idx]
        return advance(self.V[r, e2, n_idx], self.beta[r, e2, n_idx], self.c[r, e2, n_idx],
                       (t[:, None] - s).clamp_min(0), lr)


def solve_small(M, rhs):
    """M x = rhs for a batch of small systems (K, k, k): by LU where its pivots say M is well conditioned
    (their ratio above 1e-12), the pseudo-inverse (rtol 1e-13: the minimum-norm solution, dependent pairs
    sharing the weight) elsewhere. The pseudo-inverse alone took 544 us on 60 systems of 4, LU 41 us."""
    LU, piv, info = torch.linalg.lu_factor_ex(M)
    pivots = LU.diagonal(dim1=-2, dim2=-1).abs()
    good = (info == 0) & (pivots.amin(-1) > 1e-12 * pivots.amax(-1))
    sol = torch.linalg.lu_solve(LU, piv, rhs[..., None])[..., 0]
    if not bool(good.all()):
        bad = (~good).nonzero().flatten()
        sol[bad] = (torch.linalg.pinv(M[bad], rtol=1e-13) @ rhs[bad][..., None])[..., 0]
    return sol


def local_holds(st, V, beta, G, side, held, gam, e, n, cand):
    """Decide the surface pairs of neurons (e, n) (K,): candidates cand (K, p) (held ones and those just
    reached on an attracting surface). Returns the new (side, held, gam) (E, p, h), changed in place.

    The hold conditions x_mu . P_n c_n = 0 for the free pairs, with the others at a bound, are solved by
    a principal-pivoting loop: a free weight outside [0, G_mu] goes to its bound, a bound pair whose
    velocity points back onto its surface is freed; on these small systems (at most a few pairs per
    neuron) it settles in a few rounds."""
    if e.numel() == 0 or not bool(cand.any()):
        return side, held, gam
    p, D = st.X_hat.shape
    K = e.numel()
    scale = 1.0 / (st.alpha[e] * p)  # (K,)
    Gk = G[e]  # (K, p)
    Xh = st.X_hat
    kmax = int(cand.sum(1).max())
    order = torch.sort(cand.to(torch.int8), dim=1, descending=True, stable=True).indices[:, :kmax]  # (K, kmax)
    valid = torch.gather(cand, 1, order)  # (K, kmax)
    # the weight of the other pairs: side times G (a candidate's own weight is the unknown)
    W_rest = Gk * side[e, :, n] * ~cand
    c_rest = (W_rest * st.y) @ Xh * scale[:, None]  # (K, D)
    # a smooth loss's frozen weight G may be negative (MSE beyond its target): the pair's weight then lies in
    # [G, 0], solved as |gamma| in [0, |G|] with the sign carried by the point's label
    sign_g = torch.where(torch.gather(Gk, 1, order) < 0, -1.0, 1.0).to(Gk.dtype)  # (K, kmax)
    Xs = Xh[order]  # (K, kmax, D)
    if st.fix_dir is not None:
        dirs = st.fix_dir[e, n]  # (K, d)
        c_rest = project(c_rest[:, None, :], dirs[:, None, :])[:, 0]
        Xs_p = project(Xs, dirs[:, None, :])
    else:
        Xs_p = Xs
    ys = st.y[order] * sign_g
    A = (Xs @ Xs_p.transpose(1, 2)) * (ys * scale[:, None])[:, None, :]  # du_i/dgamma_j / (eta_1 beta)
    b = (Xs * c_rest[:, None, :]).sum(-1)  # (K, kmax)
    Gs = torch.gather(Gk, 1, order).abs()
    sgn = torch.sign(beta[e, n])[:, None]  # du/dt has the sign of beta (b + A gamma)
    eye = torch.eye(kmax, dtype=A.dtype, device=A.device).expand(K, kmax, kmax)
    # a non-finite system (a diverging trial) makes the step non-finite, and the step is refused for it; the
    # system is replaced by a finite one so that the factorisation does not fail first
    finite = torch.isfinite(A).flatten(1).all(1) & torch.isfinite(b).all(1) & torch.isfinite(Gs).all(1)
    if not bool(finite.all()):
        A = torch.where(finite[:, None, None], A, eye)
        b, Gs = torch.where(finite[:, None], b, 0.0), torch.where(finite[:, None], Gs, 0.0)
    tol = 1e-12 * Gs.clamp_min(1e-300)
    tol_w = 1e-12 * (b.abs() + A.abs().matmul(Gs[..., None])[..., 0]).amax(1, keepdim=True)
    # start: every candidate free
    free = valid.clone()
    at_up = torch.zeros_like(valid)
    gamma = torch.zeros_like(b)
    for _ in range(3 * kmax + 2):
        fixed_val = torch.where(at_up, Gs, torch.zeros_like(Gs)) * valid
        rhs = -(b + (A * (~free)[:, None, :]).matmul(fixed_val[..., None])[..., 0])
        M = torch.where(free[:, :, None] & free[:, None, :], A, eye)
        sol = solve_small(M, torch.where(free, rhs, fixed_val))
        gamma = torch.where(free, sol, fixed_val)
        w = sgn * (b + A.matmul(gamma[..., None])[..., 0])  # the pairs' velocities, sign of u'
        low = free & (gamma < -tol)
        high = free & (gamma > Gs + tol)
        back_low = valid & ~free & ~at_up & (w > tol_w)  # at 0 (inactive) but u' > 0: would re-enter
        back_up = valid & ~free & at_up & (w < -tol_w)
        bad = low | high | back_low | back_up
        if not bool(bad.any()):
            break
        # one change per neuron per round: the first bad index (Murty's least-index rule)
        first = torch.where(bad, torch.arange(kmax, device=A.device)[None, :], kmax).min(1).values
        row = (first < kmax).nonzero().flatten()
        j = first[row]
        if bool(low[row, j].any()) or bool(high[row, j].any()):
            to_bound = low[row, j] | high[row, j]
            free[row[to_bound], j[to_bound]] = False
            at_up[row[to_bound], j[to_bound]] = high[row[to_bound], j[to_bound]]
        back = back_low[row, j] | back_up[row, j]
        free[row[back], j[back]] = True
    gamma = torch.minimum(torch.maximum(gamma, torch.zeros_like(gamma)), Gs)
    inside = valid & free & (gamma > 0) & (gamma < Gs)
    kk = torch.arange(K, device=A.device)[:, None].expand_as(order)
    ee, nn = e[kk[valid]], n[kk[valid]]
    mu = order[valid]
    held[ee, mu, nn] = inside[valid]
    gam[ee, mu, nn] = torch.where(inside, gamma * sign_g, torch.zeros_like(gamma))[valid]
    side[ee, mu, nn] = torch.where(inside | (free & (gamma >= Gs)) | (~free & at_up), 1.0, 0.0).to(side.dtype)[valid]
    return side, held, gam


@dataclass
class NeuronStep:
    """What advance_neurons returns: the networks at the end of the step and how they got there."""
    V: torch.Tensor
    beta: torch.Tensor
    side: torch.Tensor
    held: torch.Tensor
    gam: torch.Tensor
    segs: Segments
    ok: torch.Tensor  # (E,): no neuron ran out of rounds
    t_coupled: torch.Tensor  # (E,): the first coupled crossing (inf where none)
    side0: torch.Tensor  # the sides at the start, after the holds were re-decided
    end: torch.Tensor  # (E,): the time V and beta are at: tau, or the first coupled crossing inside the step
    reached: torch.Tensor  # (E,): the time every neuron reached within max_rounds (end where ok)


def advance_neurons(st, V, beta, G, sliding, side, held, gam, tau, max_rounds: int, start=None,
                    decided=None) -> NeuronStep:
    """Every neuron of every live network through its own pair crossings over tau (E,), the hinge weights
    G (E, p) fixed (a NeuronStep; ok is False where some neuron had more than max_rounds crossings, and
    reached then says how far every neuron got).

    A crossing of a neuron active on a sliding point (sliding (E, p): the points on their margin), or of
    a sliding point itself, changes the velocity of those margins, and so the multipliers lambda that
    hold them: the Filippov lambda(t) jumps there. Such a crossing is an event of the whole network
    (t_coupled (E,): the first one, inf where none), at which the step must end. The network's neurons then
    stop there (``end``): the trial will be cut to it, and its crossings beyond would be computed for nothing.

    start: u of V, where the caller has it (each Newton iteration of a trial starts from the same V): the
    first round does not recompute it. decided (E,): networks whose holds were decided under these G
    already (by the last accepted step's neurons), which need no re-decision at the start."""
    E, h = beta.shape
    y = st.y
    relevant = G != 0
    t_loc = torch.zeros(E, h, dtype=V.dtype, device=V.device)
    # the sets are the caller's until a hold or crossing changes them: copied then (most evaluations in the
    # lazy regime change nothing, and each copy is a pass over an (E, p, h) tensor)
    owned = False

    def own():
        nonlocal side, held, gam, owned
        if not owned:
            side, held, gam, owned = side.clone(), held.clone(), gam.clone(), True

    # the weights G (the multipliers lambda) may have changed since the last step: re-decide the holds
    stale = held.any(1) if decided is None else held.any(1) & ~decided[:, None]
    e, n = stale.nonzero(as_tuple=True)
    if e.numel():
        own()
        side, held, gam = local_holds(st, V, beta, G, side, held, gam, e, n, held[e, :, n])
    side0, owned = side, False  # the start's sides, kept apart from the crossings' changes
    starts, Vs, bs, cs = [], [], [], []
    t_coupled = torch.full_like(tau, float("inf"))
    end = tau
    any_sliding = bool(sliding.any())
    for r in range(max_rounds):
        c = st.frozen_coef(G, side, held, gam)
        u0 = start if r == 0 and start is not None else st.pre(V)
        tol_v = st.surface_scale(V)  # (E, h): the surface tolerance is tol_v |xh_mu|
        left = (end[:, None] - t_loc).clamp_min(0)
        k, sigma, b0, P = pair_terms(V, beta, c, st.X_hat, st.lr)
        # searched: pairs of points with a weight, not held, and off their surface
        allowed = lambda e, mu, n: (relevant[e, mu] & ~held[e, mu, n]  # noqa: E731
                                    & (u0[e, mu, n].abs() > tol_v[e, n] * st.xnorm[mu]))
        ftol = lambda e, mu, n: 0.1 * tol_v[e, n] * st.xnorm[mu]  # noqa: E731
        t_cross, mu_star = first_crossing_by_neuron(u0, P, k, sigma, b0, left, allowed, ftol)  # (E, h)
        crossed = t_cross < left
        if any_sliding and bool(crossed.any()):
            on_sliding = (((side > 0) | held) & sliding[:, :, None]).any(1)  # (E, h)
            coupled = crossed & (on_sliding | torch.gather(sliding, 1, mu_star))
            t_abs = torch.where(coupled, t_loc + t_cross, torch.full_like(t_loc, float("inf")))
            t_coupled = torch.minimum(t_coupled, t_abs.amin(1))
            end = torch.where(t_coupled < tau * (1 - 1e-12), t_coupled, tau)
            left = (end[:, None] - t_loc).clamp_min(0)
            crossed = t_cross < left
        starts.append(t_loc), Vs.append(V), bs.append(beta), cs.append(c)
        V, beta = advance(V, beta, c, torch.where(crossed, t_cross, left), st.lr)
        t_loc = torch.where(crossed, t_loc + t_cross, torch.maximum(t_loc, end[:, None]))
        if not bool(crossed.any()):
            break
        e, n = crossed.nonzero(as_tuple=True)
        own()
        mu = mu_star[e, n]
        attract = beta[e, n] * y[mu] * G[e, mu] < 0  # G > 0 for the hinge; a smooth loss's may be negative
        # a repelling surface is crossed: it is reached from the side that it then leaves
        rep = ~attract
        side[e[rep], mu[rep], n[rep]] = 1 - side[e[rep], mu[rep], n[rep]]
        cand = held[e, :, n].clone()
        cand[torch.arange(e.numel(), device=V.device)[attract], mu[attract]] = True
        side, held, gam = local_holds(st, V, beta, G, side, held, gam, e, n, cand)
    reached = torch.minimum(t_loc.amin(1), end)  # below end only where the rounds ran out
    segs = Segments(torch.stack(starts), torch.stack(Vs), torch.stack(bs), torch.stack(cs))
    # a network stopped at a coupled crossing found after some of its neurons had gone on to tau: all at end
    early = ((t_loc > end[:, None]).any(1)).nonzero().flatten()
    if early.numel():
        V, beta = V.clone(), beta.clone()
        V[early], beta[early] = segs.at(early, end[early], st.lr)
    return NeuronStep(V, beta, side, held, gam, segs, reached >= end, t_coupled, side0, end, reached)
