"""The step of the smooth losses (soft hinge, quadratic hinge, MSE, logistic) with per-neuron events.

The loss weights g_mu = -l'(m_mu) y_mu change along the flow; a step freezes them, and with the point weights
G = g y frozen every neuron goes through its own crossings and holds within the step exactly
(neuron_events.advance_neurons; with no sliding margin no crossing is coupled). Three passes per trial:

1. the start's weights g0: its margins at tau/2 give the predicted midpoint's weights g~;
2. the midpoint's weights g~ (the exponential midpoint rule, second order): its margins m2 give g1 = g(m2);
3. Simpson's weights (g0 + 4 g~ + g1)/6: the step taken, with |m3 - m2| as its error.

Why |m3 - m2| is the local error of pass 3. With K the tangent kernel (frozen over the step) the flow is
m(tau) = m0 + tau K (g0 + 4 g(m(tau/2)) + g(m(tau)))/6 + O(tau^5) (Simpson's rule). Write
D = tau K (g~ - g(m(tau/2))) for the error of the predicted midpoint (order tau^3) and Q = tau^3 K g''/24 for the
midpoint rule's quadrature error. Then m2 - m(tau) = D - Q, m3 - m(tau) = 2D/3 + O(tau^4) and
m3 - m2 = Q - D/3. For the linear flow m' = k (1 - m) (MSE with a constant kernel) D = -k^3 tau^3 g0/8 and
Q = k^3 tau^3 g0/24: pass 3 is off by -k^3 tau^3 g0/12, pass 2 by twice that, and |m3 - m2| = k^3 tau^3 g0/12,
pass 3's error exactly at leading order. Measured on the nonlinear flows (p = 16, h = 8, alpha = 1,
tau = 0.08 ... 0.01, one step against 256 substeps): pass 3's error is 1.03 - 1.07 |m3 - m2| for MSE and the
quadratic hinge, 1.15 for the logistic loss, both falling as tau^3 (tests/numerics/simulator/test_smooth_step.py).
The error ratio is (|m3 - m2| / tol_local)^(1/3).

The pairs' weights are decided by their neurons under each pass's G, so no multiplier is carried from step to
step and none drifts. The network-wide path (Filippov.per_neuron False) holds them by Newton on multipliers
whose drift limited its steps (4,266 of 4,939 at MSE, alpha = 1, p = h = 64), and estimated the error by the
start's frozen weights, a first-order estimate (err ~ tau^2) of a second-order step: 7,633 steps to t = 10
there (notes/simulator.md, 2026-12-06, fourth stop).
"""
from __future__ import annotations

import torch

from .neuron_events import advance_neurons


def smooth_trial(st, tau, start: dict) -> dict:
    """The trial step of every live network of FilippovState ``st`` over tau (E,), from ``start``
    (FilippovState.step_start): the trial dictionary FilippovState.step reads (its "g": the weights g of the step
    taken, Simpson's, under which its pairs' holds were decided)."""
    u0, m0 = start["u0"], start["m0"]
    E = tau.shape[0]
    none_slide = torch.zeros_like(st.status, dtype=torch.bool)

    def run(g):
        return advance_neurons(st, st.V, st.beta, g * st.y, none_slide, st.side, st.held, st.gam,
                               tau, st.o.max_rounds, u0)

    g0 = st.g_smooth(m0)
    first = run(g0)
    Vh, bh = first.segs.at(torch.arange(E, device=tau.device), tau / 2, st.lr)
    g_mid = st.g_smooth(st.margins(Vh, bh, side=first.side))
    mid = run(g_mid)
    m2 = st.margins(mid.V, mid.beta, side=mid.side)
    G = (g0 + 4 * g_mid + st.g_smooth(m2)) / 6  # Simpson's weights: the step (see the module's docstring)
    ns = run(G)
    u3 = st.pre(ns.V)
    m3 = st.margins(ns.V, ns.beta, u3, side=ns.side)
    err = ((m3 - m2).abs().amax(1) / st.o.tol_local) ** (1 / 3)
    return {"u0": u0, "m0": m0, "V": ns.V, "beta": ns.beta, "u": u3, "m": m3, "c": None, "lam": st.lam.clone(),
            "gam": ns.gam, "side": ns.side, "held": ns.held, "segs": ns.segs, "err": err,
            "ok": first.ok & mid.ok & ns.ok, "g": G, "t_coupled": ns.t_coupled, "end": ns.end,
            "reached": torch.minimum(torch.minimum(first.reached, mid.reached), ns.reached)}
