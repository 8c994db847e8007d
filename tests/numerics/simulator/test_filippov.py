"""The event-driven Filippov integrator: its exact pieces against references, and whole runs against
the Filippov conditions (multipliers in [0, 1], sliding margins on their surface) and against Euler."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.integrate import solve_ivp
from scipy.optimize import minimize

from lazyrich.numerics import network as N
from lazyrich.numerics.data import make
from lazyrich.numerics.simulator.filippov import CONVERGED_MARGIN, ON_MARGIN, Filippov, FilippovState
from lazyrich.numerics.simulator.neuron_flow import advance, first_crossing, u_at_pairs
from lazyrich.numerics.simulator.sliding import solve_qp

floats = st.floats(-2, 2, allow_nan=False)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 3.0), st.sampled_from([(1.0, 1.0), (2.0, 0.5), (0.3, 3.0)]))
def test_advance_is_the_frozen_coefficient_flow(seed, t, lr):
    """advance against scipy's RK45 on dv/dt = eta_1 beta c, dbeta/dt = eta_2 v . c (c frozen)."""
    g = torch.Generator().manual_seed(seed)
    h, D = 3, 4
    V, beta, c = torch.randn(1, h, D, generator=g, dtype=torch.float64), torch.randn(1, h, generator=g,
                                                                                     dtype=torch.float64), \
        torch.randn(1, h, D, generator=g, dtype=torch.float64)
    V1, b1 = advance(V, beta, c, torch.tensor([t], dtype=torch.float64), lr)
    cc = c[0].numpy()

    def rhs(_, z):
        v, b = z[: h * D].reshape(h, D), z[h * D:]
        return np.concatenate([(lr[0] * b[:, None] * cc).ravel(), lr[1] * (v * cc).sum(1)])

    z0 = np.concatenate([V[0].numpy().ravel(), beta[0].numpy()])
    ref = solve_ivp(rhs, (0, t), z0, rtol=1e-12, atol=1e-12).y[:, -1]
    got = np.concatenate([V1[0].numpy().ravel(), b1[0].numpy()])
    assert np.allclose(got, ref, rtol=1e-8, atol=1e-8)
    # the conserved imbalance of every neuron, eta_1 beta^2 - eta_2 |v|^2, to rounding
    Q = lambda v, b: lr[0] * b ** 2 - lr[1] * (v ** 2).sum(-1)  # noqa: E731
    scale = torch.maximum(lr[0] * beta ** 2 + lr[1] * (V ** 2).sum(-1), lr[0] * b1 ** 2 + lr[1] * (V1 ** 2).sum(-1))
    assert float(((Q(V1, b1) - Q(V, beta)).abs() / scale).max()) < 1e-12


@settings(max_examples=200, deadline=None)
@given(floats, floats, st.floats(0, 3), floats, floats, st.floats(0.01, 5))
def test_first_crossing_is_the_first_zero(u0, P, k, sigma, b0, T):
    """first_crossing against a dense sampling of u(t) on (0, T]: the first sign change is where it says,
    and there is none where it says inf (tangencies within the sampling's reach are left out)."""
    if abs(u0) < 1e-3:
        return
    t = torch.linspace(0, T, 20001, dtype=torch.float64)
    one = lambda x: torch.full_like(t, x)  # noqa: E731
    u = u_at_pairs(one(u0), one(P), one(k), one(sigma), one(b0), t).numpy()
    tensor = lambda x: torch.tensor([[[x]]], dtype=torch.float64)  # noqa: E731
    got = float(first_crossing(tensor(u0), tensor(P), torch.tensor([[k]], dtype=torch.float64),
                               torch.tensor([[sigma]], dtype=torch.float64), torch.tensor([[b0]], dtype=torch.float64),
                               torch.tensor([T], dtype=torch.float64), torch.ones(1, 1, 1, dtype=torch.bool),
                               tensor(1e-13))[0, 0, 0])
    change = np.nonzero(np.sign(u[1:]) != np.sign(u0))[0]
    if change.size == 0:
        # no sign change on the grid: either none, or a zero pair closer than the grid (a near tangency)
        assert math.isinf(got) or np.abs(u).min() < 1e-3 * max(1.0, abs(u0))
    else:
        t_grid = float(t[change[0] + 1])
        assert got <= t_grid + 1e-12 and got >= t_grid - 2 * T / 20000
        val = float(u_at_pairs(*(torch.tensor(x, dtype=torch.float64) for x in (u0, P, k, sigma, b0, got))))
        assert abs(val) < 1e-9 * max(1.0, abs(u0), abs(P))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(0, 3))
def test_sliding_qp_is_optimal_and_feasible(seed, J, rows):
    """solve_qp (daqp) against SLSQP: w in [0, 1], w_i <= w_j on the product rows, objective no worse."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(J + 2, J))
    H, r = A.T @ A, rng.normal(size=J) * 2
    pairs = [(i, j) for i, j in [tuple(rng.choice(J, 2, replace=False)) for _ in range(rows)]] if J > 1 else []
    w = solve_qp(H, r, pairs)
    assert np.all(w >= 0) and np.all(w <= 1)
    assert all(w[i] <= w[j] + 1e-9 for i, j in pairs)
    obj = lambda x: 0.5 * x @ H @ x + r @ x  # noqa: E731
    cons = [{"type": "ineq", "fun": (lambda x, i=i, j=j: x[j] - x[i])} for i, j in pairs]
    ref = minimize(obj, np.full(J, 0.5), bounds=[(0, 1)] * J, constraints=cons, method="SLSQP",
                   options={"ftol": 1e-14, "maxiter": 500})
    assert obj(w) <= ref.fun + 1e-8 * max(1.0, abs(ref.fun))


def _problem(p, h, alpha, loss="hinge", seed=0, d=3):
    ds = make("stripe", p, d, 0)
    X, y = (torch.as_tensor(a, dtype=torch.float64) for a in (ds.X, ds.y))
    th = N.init_ensemble([seed], h, d)
    f0 = N.output(*th.tuple(), X)
    V = torch.cat([th.omega, th.b[..., None]], -1).clone()
    state = FilippovState(Filippov(), X, y, f0, torch.tensor([alpha], dtype=torch.float64), loss, (1.0, 1.0), False, V,
                          th.beta.clone())
    return state, (X, y, f0, th)


def _run_to(state, times, checks=None, max_steps=20000):
    """Step one network to each of ``times`` exactly; returns its (V, beta) there. ``checks(state, trial)``
    runs after every accepted step."""
    t, dt, out = 0.0, torch.tensor([1.0], dtype=torch.float64), []
    for target in times:
        for _ in range(max_steps):
            if t >= target * (1 - 1e-15):
                break
            room = torch.tensor([target - t], dtype=torch.float64)
            accept, tau, dt, _, tr = state.step(dt, room)
            if bool(accept[0]):
                t = target if float(tau[0]) >= float(room[0]) else t + float(tau[0])
                if checks is not None:
                    checks(state, tr)
        else:
            raise AssertionError(f"no convergence to t = {target} in {max_steps} steps")
        out.append((state.V.clone(), state.beta.clone()))
    return out


def _filippov_conditions(state, tr):
    """After an accepted step: every multiplier in [0, 1] (gamma <= lambda on a sliding point) and every
    sliding margin within 1e-9 of 1."""
    lam, gam = state.lam[0], state.gam[0]
    assert bool(((lam >= -1e-12) & (lam <= 1 + 1e-12)).all())
    assert bool(((gam >= -1e-12) & (gam <= 1 + 1e-12)).all())
    on = state.status[0] == ON_MARGIN
    held = state.held[0]
    if bool(held.any()):
        mu = held.nonzero()[:, 0]
        upper = torch.where(on[mu], lam[mu], torch.ones_like(lam[mu]))
        assert bool((gam[held] <= upper + 1e-12).all())
    if bool(on.any()):
        m = state.margins(state.V, state.beta)[0]
        assert float((m[on] - 1).abs().max()) <= 1e-9


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 50), st.sampled_from([1e-2, 1.0, 1e2]))
def test_runs_keep_the_filippov_conditions(seed, alpha):
    """Hinge runs (p = 16, h = 8), 200 accepted steps or to convergence: after every step the multipliers
    lie in their intervals and the sliding margins on m = 1 (within 1e-9); a converged run has every
    margin >= 1 - 1e-9."""
    state, _ = _problem(16, 8, alpha, seed=seed)
    dt, accepted = torch.tensor([1.0], dtype=torch.float64), 0
    while accepted < 200:
        accept, tau, dt, _, tr = state.step(dt, torch.tensor([1e9], dtype=torch.float64))
        if bool(accept[0]):
            accepted += 1
            _filippov_conditions(state, tr)
            if bool(state.converged(tr["m"])[0]):
                assert float(state.margins(state.V, state.beta).min()) >= CONVERGED_MARGIN
                break


def test_lazy_run_converges_exactly():
    """alpha = 100 (p = 16, h = 8): every margin reaches 1 - 1e-9 at a finite time, in few events."""
    state, _ = _problem(16, 8, 100.0, seed=1)
    dt, t = torch.tensor([1.0], dtype=torch.float64), 0.0
    for _ in range(3000):
        accept, tau, dt, _, tr = state.step(dt, torch.tensor([1e9], dtype=torch.float64))
        if bool(accept[0]):
            t += float(tau[0])
            if bool(state.converged(tr["m"])[0]):
                break
    else:
        raise AssertionError("no convergence in 3000 steps")
    assert float(state.margins(state.V, state.beta).min()) >= CONVERGED_MARGIN and math.isfinite(t)


def _euler(X, y, f0, th, alpha, dt, times, loss="hinge"):
    """The reference: fixed-step explicit Euler of network.velocity, at ``times``."""
    theta, t, out, a = th.map(torch.clone), 0.0, [], torch.tensor([alpha], dtype=torch.float64)
    for target in times:
        n = int(round((target - t) / dt))
        for _ in range(n):
            vel, *_ = N.velocity(theta, X, y, f0, a, loss)
            theta = theta.axpy(torch.tensor([dt], dtype=torch.float64), vel)
        t = target
        out.append(theta.map(torch.clone))
    return out


@pytest.mark.parametrize("alpha,loss", [(1.0, "hinge"), (0.1, "hinge"), (1.0, "logistic"), (1.0, "mse"),
                                        (1.0, "quadratic-hinge")])
def test_trajectory_agrees_with_euler_within_its_own_error(alpha, loss):
    """p = 16, h = 8: at every checkpoint the Filippov state lies within 2x the error of the Euler reference
    at step dt, that error estimated as |Euler(dt) - Euler(dt/10)|, on the parameters and the margins; and it
    lies nearer the finer run (Euler converges to it: measured 10x nearer per decade of dt, down to dt/100).
    (Richardson's |Euler(dt) - Euler(dt/10)|/9 for the finer run's error does not hold for the margins
    that slide on m = 1: Euler chatters there with an amplitude of order dt, not a smooth first-order error.)"""
    times = [0.5, 1.0, 2.0, 4.0]
    state, (X, y, f0, th) = _problem(16, 8, alpha, loss)
    fil = _run_to(state, times)
    coarse, fine = (_euler(X, y, f0, th, alpha, dt, times, loss) for dt in (2e-3, 2e-4))
    a = torch.tensor([alpha], dtype=torch.float64)
    for (V, beta), c, f in zip(fil, coarse, fine):
        theta = N.Params(V[..., :-1], V[..., -1], beta)
        flat = lambda th: torch.cat([x.flatten() for x in th.tuple()])  # noqa: E731
        marg = lambda th: N.margins(*th.tuple(), X, y, f0, a)  # noqa: E731
        for get in (flat, marg):
            err = (get(c) - get(f)).abs().max()
            dev = (get(theta) - get(c)).abs().max()
            assert dev <= 2 * err + 1e-12, (float(dev), float(err))
            assert (get(theta) - get(f)).abs().max() <= dev / 3 + 1e-12



def test_converged_means_every_margin_reached():
    """SimulationResult's converged is every margin >= 1 - 1e-9: an Euler run stopped at its own margin
    tolerance (m >= 1 - tol_output) has not converged."""
    from lazyrich.numerics.simulator import SimulationConfig, simulate

    rough = simulate(SimulationConfig(data="stripe", d=3, p=16, ptest=0, h=32, alphas=(1.0,), seeds=(0,),
                                      loss="hinge", checkpoints=2, t_max=1e4, integrator="euler", tol_output=0.5),
                     progress=False)
    net = rough.networks()[0]
    assert rough.stop_reason == ["margins"] and net["min_margin"] < CONVERGED_MARGIN and not net["converged"]


def test_feature_regime_steps_neither_stall_nor_refuse_every_other_step():
    """stripe d = 5, p = h = 64, alpha = 1e-3 (feature regime), 300 accepted steps.

    A stall: at t = 0.0173 the multiplier of the one sliding point reaches 0 while its stored value, the last
    step's average, is 4e-4. Every trial then put the event inside the step, the four cuts never reached it, and
    the step was retried from the cut: 1,242 refusals in a row. A step still cut after four cuts now re-decides
    the sets at its start (the QP's multipliers of that instant), and the run goes on (at most 4 in a row).

    The drift controller: the drift of the multipliers is |lambda'| times the time from the stored multipliers'
    reference (the instant of a resolve, or the middle of the last step) to the middle of this one. Taken as
    proportional to the step alone, every other step was refused (111 refusals in these 300 steps); 43 now."""
    state, _ = _problem(64, 64, 1e-3, d=5, seed=0)
    dt, room = torch.tensor([1.0], dtype=torch.float64), torch.tensor([1e9], dtype=torch.float64)
    accepted, refused, in_a_row, worst, t = 0, 0, 0, 0, 0.0
    for _ in range(1000):
        accept, tau, dt, _, _ = state.step(dt, room)
        if bool(accept[0]):
            accepted, in_a_row, t = accepted + 1, 0, t + float(tau[0])
            if accepted == 300:
                break
        else:
            refused, in_a_row = refused + 1, in_a_row + 1
            worst = max(worst, in_a_row)
    assert accepted == 300 and t > 0.0175, (accepted, t)
    assert worst <= 10
    assert refused <= 60


@settings(max_examples=60, deadline=None)
@given(st.floats(-2, 2), st.floats(-2, 2), st.floats(1, 60), st.floats(-2, 2), st.floats(-2, 2))
def test_closed_form_zero_lands_on_the_crossing(u0, P, kT, sigma, b0):
    """u(t) = u0 + P (sigma phi1 + b0 phi2) is a quadratic in e^{kt}: its zero in closed form, tried first, leaves
    the bracketed root at most one Newton step after its two ends and the guess, however large kT (from the
    bracket's ends alone, regula falsi crept towards the zero by about 1/k per evaluation: up to the 100-iteration
    cap was measured). On [0, 1] with u monotone (u' of one sign at both ends: u has one extremum at most)."""
    from lazyrich.numerics.simulator.neuron_flow import bracketed_root, closed_form_zero, du_at_pairs

    one = lambda x: torch.tensor([x], dtype=torch.float64)  # noqa: E731
    args = tuple(one(x) for x in (u0, P, kT, sigma, b0))  # k = kT, bracket [0, T = 1]
    lo, hi = one(0.0), one(1.0)
    ends, slopes = u_at_pairs(*args, torch.cat([lo, hi])), du_at_pairs(*args, torch.cat([lo, hi]))
    if not bool(torch.isfinite(ends).all()) or float(ends[0] * ends[1]) >= 0 or float(slopes[0] * slopes[1]) <= 0:
        return
    ftol = 1e-12 * float(ends.abs().max())
    if abs(float(ends[0])) <= ftol:
        return  # on its surface at the start: first_crossing does not search such a pair
    calls = []
    fun = lambda s: calls.append(1) or u_at_pairs(*args, s)  # noqa: E731
    root = bracketed_root(fun, lo, hi, ftol, slope=lambda s: du_at_pairs(*args, s),
                          guess=closed_form_zero(*args, lo, hi))
    assert abs(float(u_at_pairs(*args, root))) <= ftol or float(root) - 1e-15 <= 0  # on the zero
    assert len(calls) <= 4
