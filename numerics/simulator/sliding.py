"""The set-valued weights of the Filippov flow: which points and neuron-point pairs slide, and with what weight.

The flow's coefficient of neuron n is c_n = (1/(alpha p)) sum_mu W_{mu n} xh_mu (neuron_flow.py). Where the
flow is smooth, W_{mu n} = g_mu Theta(u_{mu n}). On a kink, the weight is a multiplier inside an interval:

- a point on its margin (hinge, m_mu = 1): g_mu = y_mu lambda_mu, lambda_mu in [0, 1];
- a pair on its switching surface (u_{mu n} = 0, g_mu != 0): W_{mu n} = y_mu gamma_{mu n} for the hinge, with
  0 <= gamma <= 1, or 0 <= gamma <= lambda_mu when the point is on its margin too (the product of the two
  multipliers: a linear constraint, not a box); W_{mu n} = g_mu gamma for a smooth loss, gamma in [0, 1].

Every multiplier w_j enters the parameter velocity linearly, theta' = a + sum_j w_j phi_j, through its
tangent feature phi_j = d theta'/d w_j. The Filippov velocity is the one of least norm,
min |a + Phi w|^2 over the allowed w (a QP solved by daqp at each event), whose optimality conditions
are the complementarity conditions of sliding: with H = Phi^T Phi and r = Phi^T a, (r + H w)_j is a
positive multiple of the velocity of constraint j (m'_mu, or y_mu beta_n u'_{mu n}), so a multiplier at
its lower bound leaves its surface to the side where the kink weight is 0, one at its upper bound to
the other side, and one strictly inside keeps its surface (slides). The hinge is convex in m, so its
margins always attract; a pair attracts only where beta_n g_mu < 0, and a pair that repels from both
sides does not enter the QP (the exit rule: it stays on the side it was on).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Multipliers:
    """The multipliers of one network: margin points (indices mu) and pairs (mu, n); their values are the
    state's lam and gam (lambda then gamma, in this order, wherever they are stacked)."""
    points: torch.Tensor  # (J_m,) long
    pairs: torch.Tensor  # (J_z, 2) long: (mu, n)

    @property
    def size(self) -> int:
        return int(self.points.numel() + self.pairs.shape[0])


def tangent_features(V, beta, u, side, y, g_pair, alpha, p, lr, fix_dir, mult: Multipliers, X_hat):
    """Phi (J, h, d+2) of one network's multipliers: column j is d theta'/d w_j, (V block, beta block).

    side (p, h): the weight Theta of the pairs that are not multipliers; g_pair (p,): dW/dgamma of a pair
    of point mu (y_mu for the hinge, g_mu for a smooth loss); fix_dir (h, d) or None: the fixed
    orientations (the V blocks are then projected as the flow is)."""
    eta1, eta2 = lr
    h, D = V.shape
    scale = 1.0 / (alpha * p)
    cols = []
    if mult.points.numel():
        mu = mult.points
        held_side = side[mu].clone()  # (J_m, h): a pair that is itself a multiplier leaves the margin column
        if mult.pairs.shape[0]:
            pos = {int(m): i for i, m in enumerate(mu.tolist())}
            for (m_, n_) in mult.pairs.tolist():
                if m_ in pos:
                    held_side[pos[m_], n_] = 0
        Vb = (eta1 * scale) * (y[mu][:, None] * held_side * beta[None, :])[:, :, None] * X_hat[mu][:, None, :]
        bb = (eta2 * scale) * y[mu][:, None] * torch.relu(u[mu])
        cols.append((Vb, bb))
    if mult.pairs.shape[0]:
        mu, n = mult.pairs[:, 0], mult.pairs[:, 1]
        J = mu.numel()
        Vb = torch.zeros(J, h, D, dtype=V.dtype, device=V.device)
        Vb[torch.arange(J), n] = (eta1 * scale) * (g_pair[mu] * beta[n])[:, None] * X_hat[mu]
        cols.append((Vb, torch.zeros(J, h, dtype=V.dtype, device=V.device)))
    Vb = torch.cat([c[0] for c in cols])
    bb = torch.cat([c[1] for c in cols])
    if fix_dir is not None:
        Vb = project(Vb, fix_dir)
    return Vb, bb


def project(c, fix_dir):
    """The part of c (..., h, d+1) the fixed-orientation flow keeps: omega's component along its unit
    direction fix_dir (h, d), and b."""
    w = c[..., :-1]
    along = (w * fix_dir).sum(-1, keepdim=True) * fix_dir
    return torch.cat([along, c[..., -1:]], -1)


def gram(Vb, bb, lr, other=None):
    """H = Phi^T eta^{-1} Phi' in the flow's metric (eta the learning rates)."""
    eta1, eta2 = lr
    oV, ob = (Vb, bb) if other is None else other
    return Vb.flatten(1) @ oV.flatten(1).T / eta1 + bb @ ob.T / eta2


def solve_qp(H: np.ndarray, r: np.ndarray, upper_rows: list[tuple[int, int]]):
    """min 1/2 w^T H w + r^T w over 0 <= w <= 1 and w_i <= w_j for (i, j) in upper_rows, by daqp
    (an active-set dual solver, exact on these small dense problems; see notes/simulator.md for the
    comparison with scipy's lsq_linear). H is rescaled to unit diagonal for the solver's tolerances."""
    import daqp

    J = H.shape[0]
    s = np.sqrt(np.clip(np.diag(H), 1e-300, None))
    scale = float(s.max()) ** 2
    Hs, rs = H / scale, r / scale
    A = np.zeros((len(upper_rows), J))
    for k, (i, j) in enumerate(upper_rows):
        A[k, i], A[k, j] = 1.0, -1.0
    bu = np.concatenate([np.ones(J), np.zeros(len(upper_rows))])
    bl = np.concatenate([np.zeros(J), np.full(len(upper_rows), -1e30)])
    Hs = Hs + 1e-12 * np.eye(J)  # the features may be dependent; daqp then regularises as well
    x, _, flag, _ = daqp.solve(np.ascontiguousarray(Hs), np.ascontiguousarray(rs), np.ascontiguousarray(A),
                               bu, bl, np.zeros(J + len(upper_rows), dtype=np.int32))
    if flag < 1:  # not solved to optimality: fall back on the projected-gradient-free box solution
        from scipy.optimize import lsq_linear

        L = np.linalg.cholesky(Hs + 1e-10 * np.eye(J))
        x = lsq_linear(L.T, -np.linalg.solve(L, rs), bounds=(0, 1)).x
        for i, j in upper_rows:
            x[i] = min(x[i], x[j])
    return np.clip(x, 0.0, 1.0)
