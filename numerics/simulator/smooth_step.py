"""The step of the smooth losses (soft hinge, quadratic hinge, MSE, logistic) with per-neuron events.

The loss weights g_mu = -l'(m_mu) y_mu change along the flow; a step freezes them, and with the point weights
G = g y frozen every neuron goes through its own crossings and holds within the step exactly
(neuron_events.advance_neurons; with no sliding margin no crossing is coupled). Three passes per trial:

1. the start's weights g0: its margins at tau/2 give the midpoint's weights g;
2. the midpoint's weights g: the step (the exponential midpoint rule, second order);
3. Simpson's weights (g0 + 4 g + g1)/6, g1 those at the step's end: the error estimate.

Why twice the difference of passes 3 and 2 is the step's local error. With K the tangent kernel (frozen over the
step), pass 2 is m1 = m0 + tau K g(m~), m~ the first pass's half-step margins, and the flow is
m(tau) = m0 + tau K (g(m(tau/2)) + tau^2 g''/24 + ...). Write Q = tau^3 K g''/24 (the midpoint rule's quadrature
error) and D = tau K (g(m~) - g(m(tau/2))) (the predicted midpoint's): m1 - m(tau) = D - Q, while
m3 - m1 = tau K (g0 - 2 g(m~) + g1)/6 = Q - D/3. For the linear flow m' = k (1 - m) (MSE with a constant kernel)
D = -k^3 tau^3 g0/8 and Q = k^3 tau^3 g0/24, so m1 - m(tau) = -k^3 tau^3 g0/6 = -2 (m3 - m1) exactly at leading
order; measured on the nonlinear flows (p = 16, h = 8, alpha = 1, tau = 0.01 ... 0.08, against 256 substeps):
2.07 for MSE and the quadratic hinge, 2.15 for the logistic loss, both scaling as tau^3
(tests/numerics/simulator/test_smooth_step.py). The error ratio is (2 |m3 - m1| / tol_local)^(1/3).

The pairs' weights are decided by their neurons under each pass's G, so no multiplier is carried from step to
step and none drifts. The network-wide path (Filippov.per_neuron False) holds them by Newton on multipliers
whose drift limited its steps (4,266 of 4,939 at MSE, alpha = 1, p = h = 64), and estimated the error by the
start's frozen weights, a first-order estimate (err ~ tau^2) of a second-order step: 7,633 steps to t = 10
there, against 388 now (notes/simulator.md, 2026-12-06, fourth stop).
"""
from __future__ import annotations

import torch

from .neuron_events import advance_neurons


def midpoint_trial(st, tau, start: dict) -> dict:
    """The trial step of every live network of FilippovState ``st`` over tau (E,), from ``start``
    (FilippovState.step_start): the trial dictionary FilippovState.step reads."""
    u0, m0 = start["u0"], start["m0"]
    E = tau.shape[0]
    none_slide = torch.zeros_like(st.status, dtype=torch.bool)

    def run(g):
        return advance_neurons(st, st.V, st.beta, g * st.y, none_slide, st.side, st.held, st.gam,
                               tau, st.o.max_rounds, u0)

    g0 = st.g_smooth(m0)
    first = run(g0)
    Vh, bh = first.segs.at(torch.arange(E, device=tau.device), tau / 2, st.lr)
    g = st.g_smooth(st.margins(Vh, bh, side=first.side))
    ns = run(g)
    u1 = st.pre(ns.V)
    m1 = st.margins(ns.V, ns.beta, u1, side=ns.side)
    # the step under Simpson's weights (g0 + 4 g + g1)/6 differs from it by about tau K (g0 - 2 g + g1)/6, of order
    # tau^3; its error is twice that (see the module's docstring)
    est = run((g0 + 4 * g + st.g_smooth(m1)) / 6)
    mC = st.margins(est.V, est.beta, side=est.side)
    err = (2 * (mC - m1).abs().amax(1) / st.o.tol_local) ** (1 / 3)
    return {"u0": u0, "m0": m0, "V": ns.V, "beta": ns.beta, "u": u1, "m": m1, "c": None, "lam": st.lam.clone(),
            "gam": ns.gam, "side": ns.side, "held": ns.held, "segs": ns.segs, "err": err,
            "ok": first.ok & ns.ok & est.ok, "g": g, "t_coupled": ns.t_coupled, "end": ns.end,
            "reached": torch.minimum(torch.minimum(first.reached, ns.reached), est.reached)}
