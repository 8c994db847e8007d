"""Per-neuron events of the hinge flow (neuron_events.py): the step that takes every neuron through its own
ReLU crossings against the step that ends the whole network at the first one, and the holds it decides."""
import dataclasses
import math
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st

from lazyrich.numerics.simulator.filippov import ON_MARGIN
from lazyrich.numerics.simulator.neuron_events import advance_neurons, local_holds

sys.path.insert(0, str(Path(__file__).parent))
from test_filippov import _problem, _run_to  # noqa: E402


def _with(state, per_neuron: bool):
    state.o = dataclasses.replace(state.o, per_neuron=per_neuron)
    state.neuron_events = per_neuron
    return state


@pytest.mark.parametrize("alpha", [1e-2, 1.0, 1e2])
def test_per_neuron_trajectory_is_the_network_wide_one(alpha):
    """p = 16, h = 8, d = 5: the same Filippov trajectory at every checkpoint whether a pair crossing ends the
    network's step or only moves its own neuron on (both are exact: they differ by the rounding of the
    event times and by the multipliers' drift control, measured below 1e-7 of the parameters)."""
    times = [0.02, 0.05, 0.1] if alpha < 1 else [0.5, 2.0, 8.0, 30.0]
    runs = []
    for per in (False, True):
        state, _ = _problem(16, 8, alpha, d=5, seed=3)
        runs.append(_run_to(_with(state, per), times))
    for (V0, b0), (V1, b1) in zip(*runs):
        scale = max(float(V0.abs().max()), float(b0.abs().max()))
        assert float((V0 - V1).abs().max()) <= 1e-6 * scale
        assert float((b0 - b1).abs().max()) <= 1e-6 * scale


def assert_holds(state, G):
    """Every held pair of network 0 lies on its surface (|u| within 1e-9 of |v_n| |xh_mu|) with its weight between
    0 and its point's weight G (p,), whichever the sign of G."""
    held = state.held[0]
    u = state.pre(state.V)[0]
    scale = state.V[0].norm(dim=-1)[None, :] * state.xnorm[:, None]
    assert float((u[held].abs() / scale.expand_as(u)[held]).max()) <= 1e-9
    bound, gam = G[held.nonzero()[:, 0]], state.gam[0][held]
    assert bool((gam >= torch.clamp(bound, max=0) - 1e-12).all()) and bool((gam <= bound.clamp_min(0) + 1e-12).all())


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 1000), st.sampled_from([1e-2, 1.0]))
def test_held_pairs_stay_on_their_surface_and_in_their_interval(seed, alpha):
    """Along a run (p = 16, h = 8): after every accepted step every held pair has |u| within 1e-9 of
    |v_n| |xh_mu| and its weight inside [0, G_mu] (G = lambda on a sliding point, 1 below the margin)."""
    state, _ = _problem(16, 8, alpha, d=5, seed=seed)
    dt, accepted, seen = torch.tensor([1.0], dtype=torch.float64), 0, 0
    while accepted < 150:
        accept, tau, dt, _, tr = state.step(dt, torch.tensor([1e9], dtype=torch.float64))
        if not bool(accept[0]):
            continue
        accepted += 1
        if bool(state.held[0].any()):
            seen += 1
            assert_holds(state, state.hinge_weights(state.lam)[0])
        if bool(state.converged(tr["m"])[0]):
            break
    assert seen > 0  # the runs do hold pairs (else this test checks nothing)


@pytest.mark.parametrize("signed", [False, True])
def test_local_holds_make_the_velocity_tangent(signed):
    """On a state with pairs on their surfaces: for every pair local_holds keeps, x_mu . c_n = 0 (the
    neuron's velocity is tangent to the surface) and its weight lies between 0 and G_mu, and for every pair it
    releases, u' points to its side. signed: point weights G of either sign (a smooth loss's frozen -l'(m), MSE
    beyond its target), the hinge's are 1."""
    state, _ = _problem(16, 8, 1e-2, d=5, seed=5)
    g = torch.Generator().manual_seed(4)
    G = torch.ones(1, 16, dtype=torch.float64)
    if signed:
        G = (torch.rand(1, 16, generator=g, dtype=torch.float64) + 0.2) * torch.where(
            torch.rand(1, 16, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    # put neurons on surfaces: move each neuron's bias so that it passes through one point of weight y G beta < 0
    V, beta = state.V.clone(), state.beta
    u = state.pre(V)[0]
    chosen = []
    for n in range(V.shape[1]):
        mus = (state.y * G[0] * beta[0, n] < 0).nonzero().flatten()
        mu = int(mus[0])
        V[0, n, -1] -= u[mu, n]
        chosen.append(mu)
    side = (state.pre(V) > 0).to(V.dtype)
    held = torch.zeros(1, 16, 8, dtype=torch.bool)
    gam = torch.zeros(1, 16, 8, dtype=V.dtype)
    e = torch.zeros(8, dtype=torch.long)
    n = torch.arange(8)
    cand = torch.zeros(8, 16, dtype=torch.bool)
    cand[n, torch.tensor(chosen)] = True
    side, held, gam = local_holds(state, V, beta, G, side, held, gam, e, n, cand)
    W = state.y[:, None] * torch.where(held, gam, G[:, :, None] * side)
    c = state.coef(W)[0]
    neg, kept = G[0, torch.tensor(chosen)] < 0, held[0, torch.tensor(chosen), torch.arange(8)]
    assert not signed or (bool((kept & neg).any()) and bool((kept & ~neg).any()))  # weights of both signs held
    for k in range(8):
        mu = chosen[k]
        du = float(beta[0, k] * (state.X_hat[mu] * c[k]).sum())
        if bool(held[0, mu, k]):
            assert abs(du) <= 1e-10 * float(c[k].norm() * state.X_hat[mu].norm() * beta[0, k].abs())
            weight, bound = float(gam[0, mu, k]), float(G[0, mu])
            assert min(0.0, bound) <= weight <= max(0.0, bound)
        else:
            assert (du > 0) == bool(side[0, mu, k] > 0) or abs(du) < 1e-12


def test_advance_neurons_without_crossings_is_the_frozen_step():
    """Over a step with no crossing, every neuron moves by the exact frozen-coefficient flow (one round)."""
    from lazyrich.numerics.simulator.neuron_flow import advance

    state, _ = _problem(16, 8, 1e3, d=5, seed=2)
    G = state.hinge_weights(state.lam)
    tau = torch.tensor([1e-3], dtype=torch.float64)
    ns = advance_neurons(state, state.V, state.beta, G, state.status == ON_MARGIN, state.side, state.held,
                         state.gam, tau, 8)
    W = state.weights()
    V1, b1 = advance(state.V, state.beta, state.coef(W), tau, state.lr)
    assert ns.segs.starts.shape[0] == 1 and bool(ns.ok.all()) and math.isinf(float(ns.t_coupled[0]))
    assert torch.allclose(ns.V, V1, rtol=0, atol=1e-15) and torch.allclose(ns.beta, b1, rtol=0, atol=1e-15)


def test_fixed_orientation_per_neuron_is_the_network_wide_one():
    """fix_orientation (the flow keeps every omega_n on its line): the per-neuron step, whose holds then solve
    x_mu . P_n c_n = 0 with the projection P_n, against the network-wide one, and the directions kept."""
    from lazyrich.numerics import network as N
    from lazyrich.numerics.data import make
    from lazyrich.numerics.simulator.filippov import Filippov, FilippovState

    ds = make("stripe", 16, 5, 0)
    X, y = (torch.as_tensor(a, dtype=torch.float64) for a in (ds.X, ds.y))
    th = N.init_ensemble([4], 8, 5)
    f0 = N.output(*th.tuple(), X)
    runs = []
    for per in (False, True):
        V = torch.cat([th.omega, th.b[..., None]], -1).clone()
        state = FilippovState(Filippov(per_neuron=per), X, y, f0, torch.tensor([0.1], dtype=torch.float64), "hinge",
                              (1.0, 1.0), True, V, th.beta.clone())
        runs.append(_run_to(state, [0.05, 0.2, 0.5]))
    for (V0, b0), (V1, b1) in zip(*runs):
        scale = max(float(V0.abs().max()), float(b0.abs().max()))
        assert float((V0 - V1).abs().max()) <= 1e-6 * scale and float((b0 - b1).abs().max()) <= 1e-6 * scale
    w0, w1 = th.omega[0], runs[1][-1][0][0, :, :-1]
    cos = (w0 * w1).sum(-1) / (w0.norm(dim=-1) * w1.norm(dim=-1))
    assert float((cos.abs() - 1).abs().max()) <= 1e-10


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5), st.integers(1, 8))
def test_solve_small_is_the_pseudo_inverse_solution(seed, k, K):
    """local_holds' systems: LU where it is well conditioned, the pseudo-inverse (rtol 1e-13) elsewhere; on a batch
    mixing regular systems with singular ones (rank k - 1 Grams) it gives the minimum-norm
    solution of every one, as the pseudo-inverse alone did."""
    from lazyrich.numerics.simulator.neuron_events import solve_small

    g = torch.Generator().manual_seed(seed)
    X = torch.randn(K, k, k, generator=g, dtype=torch.float64)
    M = X @ X.transpose(1, 2) + 0.1 * torch.eye(k, dtype=torch.float64)
    if k > 1:
        low = torch.randn(K, k, k - 1, generator=g, dtype=torch.float64)
        singular = low @ low.transpose(1, 2)  # rank k - 1
        M = torch.where((torch.arange(K) % 2 == 1)[:, None, None], singular, M)
    rhs = torch.randn(K, k, generator=g, dtype=torch.float64)
    ref = (torch.linalg.pinv(M, rtol=1e-13) @ rhs[..., None])[..., 0]
    got = solve_small(M, rhs)
    assert torch.allclose(got, ref, rtol=1e-8, atol=1e-8 * float(ref.abs().max()))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.integers(1, 24), st.integers(1, 9))
def test_first_crossing_by_neuron_is_the_dense_minimum(seed, E, p, h):
    """The per-neuron search (the searched pairs and tolerances given as functions of the indices, evaluated
    after the reach bound; only each neuron's likely earliest zero refined, the others checked at its time)
    gives the earliest crossing of every neuron and its point, as the minimum over the points of
    first_crossing's dense (E, p, h) times (every zero refined) does."""
    from lazyrich.numerics.simulator.neuron_flow import first_crossing, first_crossing_by_neuron

    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    u0, P = 0.3 * rnd(E, p, h), rnd(E, p, h)
    k, sigma, b0 = rnd(E, h).abs(), rnd(E, h), rnd(E, h)
    horizon = torch.rand(E, h, generator=g, dtype=torch.float64) * 2
    mask = torch.rand(E, p, h, generator=g) < 0.7
    ftol = torch.full((E, p, h), 1e-13, dtype=torch.float64)
    dense = first_crossing(u0, P, k, sigma, b0, horizon, mask, ftol)
    t_ref, mu_ref = dense.min(1)
    t, mu = first_crossing_by_neuron(u0, P, k, sigma, b0, horizon, lambda e, m, n: mask[e, m, n],
                                     lambda e, m, n: ftol[e, m, n])
    assert torch.equal(torch.isinf(t), torch.isinf(t_ref))
    fin = torch.isfinite(t_ref)
    # the same zero, up to where each refinement stopped (|u| <= 1e-13); the same point unless two points of
    # one neuron cross within that of each other
    assert torch.allclose(t[fin], t_ref[fin], rtol=1e-9, atol=1e-12)
    second = torch.where(dense == t_ref[:, None, :], torch.inf, dense).min(1).values  # the runner-up's time
    clear = fin & (second - t_ref > 1e-9 * (1 + t_ref.abs()))
    assert torch.equal(mu[clear], mu_ref[clear])


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.booleans(), st.integers(1, 3))
def test_frozen_coef_is_the_coefficient_of_the_weights(seed, fix_orientation, E):
    """frozen_coef (one product of the sides with y G xh, the held pairs replaced one by one) against coef of the
    dense weights W = y (G side off the held pairs, gamma on them), for any sets: random sides, holds (a fifth of
    the pairs), weights gamma and G in [0, 1], with and without the fixed-orientation projection."""
    from lazyrich.numerics.simulator.neuron_events import hinge_pair_weights

    state, _ = _problem(16, 8, 0.5, d=5, seed=seed % 5)
    g = torch.Generator().manual_seed(seed)
    state.select(torch.zeros(E, dtype=torch.long))  # E copies of the network
    if fix_orientation:
        w = state.V[..., :-1]
        state.fix_dir = w / w.norm(dim=-1, keepdim=True)
    shape = state.side.shape
    side = (torch.rand(shape, generator=g) < 0.5).to(torch.float64)
    held = torch.rand(shape, generator=g) < 0.2
    gam = torch.rand(shape, generator=g, dtype=torch.float64) * held
    G = torch.rand(state.lam.shape, generator=g, dtype=torch.float64)
    ref = state.coef(hinge_pair_weights(state.y, G, side, held, gam))
    got = state.frozen_coef(G, side, held, gam)
    assert torch.allclose(got, ref, rtol=0, atol=1e-14 * float(ref.abs().max()))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 1000))
def test_margins_count_the_band_pairs_on_their_set_side(seed):
    """margins (relu(u) beta, then the rounding band's pairs corrected one by one) against the dense formula
    act = side u inside the band |u| <= 1e3 tol_pre |v_n| |xh_mu|, relu(u) outside, on states with pairs put
    inside the band (either sign, either side) and just outside it."""
    state, _ = _problem(16, 8, 1.0, d=5, seed=seed % 7)
    g = torch.Generator().manual_seed(seed)
    V = state.V.clone()
    u = state.pre(V)
    band = 1e3 * state.o.tol_pre * V.norm(dim=-1)[:, None, :] * state.xnorm[None, :, None]
    # move some pairs' u into the band (or just past it) by shifting their neuron's bias
    for _ in range(5):
        mu, n = int(torch.randint(16, (1,), generator=g)), int(torch.randint(8, (1,), generator=g))
        frac = float(torch.empty(1).uniform_(-1.5, 1.5, generator=g))
        V[0, n, -1] += frac * float(band[0, mu, n]) - float(u[0, mu, n])
        u = state.pre(V)
    side = (torch.rand(u.shape, generator=g) < 0.5).to(u.dtype)
    band = 1e3 * state.o.tol_pre * V.norm(dim=-1)[:, None, :] * state.xnorm[None, :, None]
    act = torch.where(u.abs() <= band, side * u, torch.relu(u))
    ref = state.y * state.alpha[:, None] * (torch.einsum("eph,eh->ep", act, state.beta) / 8 - state.f0)
    got = state.margins(V, state.beta, u, side=side)
    assert torch.allclose(got, ref, rtol=0, atol=1e-14 * (1 + float(ref.abs().max())))
