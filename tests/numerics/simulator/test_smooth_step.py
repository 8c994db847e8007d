"""The smooth losses' step with per-neuron events (smooth_step.py): its order, its error estimate, and the holds
it keeps under loss weights of either sign."""
import copy
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from test_filippov import _problem  # noqa: E402
from test_neuron_events import assert_holds  # noqa: E402


def _one(x):
    return torch.tensor([x], dtype=torch.float64)


def _substeps(state, tau: float, n: int):
    """The margins after n trial steps of tau/n, each taken as it is (the reference: the scheme's own error
    falls as n^-2, so 128 substeps leave some 1e-4 of its one-step error)."""
    state = copy.deepcopy(state)
    for _ in range(n):
        tr = state.trial(_one(tau / n))
        state.V, state.beta, state.side, state.held, state.gam = tr["V"], tr["beta"], tr["side"], tr["held"], tr["gam"]
    return state.margins(state.V, state.beta)


@pytest.mark.parametrize("loss", ["mse", "logistic", "quadratic-hinge"])
def test_step_error_is_third_order_and_its_estimate_measures_it(loss):
    """p = 16, h = 8, alpha = 1: the one-step error of the margins against 128 substeps falls 8x per halving of
    tau (the step is second order), and the estimate (err ratio^3 tol_local: the difference between the step, under
    Simpson's weights, and the midpoint step) is that error within 30 % (measured 0.87 - 0.97 of it)."""
    state, _ = _problem(16, 8, 1.0, loss=loss, d=5, seed=2)
    true, est = [], []
    for tau in (0.04, 0.02):
        tr = state.trial(_one(tau))
        true.append(float((tr["m"] - _substeps(state, tau, 128)).abs().max()))
        est.append(float(tr["err"][0]) ** 3 * state.o.tol_local)
    assert 6 <= true[0] / true[1] <= 10, true
    assert 6 <= est[0] / est[1] <= 10, est
    for t, e in zip(true, est):
        assert 0.7 <= e / t <= 1.3, (e, t)


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 1000), st.sampled_from([0.1, 1.0]))
def test_held_pairs_of_a_smooth_loss_stay_on_their_surface_within_signed_weights(seed, alpha):
    """MSE runs (p = 16, h = 8), 150 accepted steps: after every step every held pair has |u| within 1e-9 of
    |v_n| |xh_mu|, and its weight lies between 0 and the step's frozen point weight G = g y, whichever its sign
    (MSE's -l'(m) = 1 - m is negative beyond the target); Q_n of every neuron stays put. No multiplier is carried:
    no step is refused for a drift."""
    state, _ = _problem(16, 8, alpha, loss="mse", d=5, seed=seed)
    Q0 = state.beta ** 2 - (state.V ** 2).sum(-1)
    scale0 = state.beta ** 2 + (state.V ** 2).sum(-1)
    dt, accepted, seen = _one(1.0), 0, 0
    while accepted < 150:
        accept, tau, dt, _, tr = state.step(dt, _one(1e9))
        assert float(state._step_error(tr, tau)[1][0]) == 0  # no multiplier, no drift
        if not bool(accept[0]):
            continue
        accepted += 1
        if bool(state.held[0].any()):
            seen += 1
            assert_holds(state, (tr["g"] * state.y)[0])
    Q1 = state.beta ** 2 - (state.V ** 2).sum(-1)
    assert float(((Q1 - Q0).abs() / scale0).max()) <= 1e-9
    assert seen > 0  # the runs do hold pairs (else this test checks nothing)


def test_a_trial_whose_estimate_overflows_is_refused_and_shortened():
    """MSE, alpha = 0.1 (p = 16, h = 8, seed 0): the first trial, tau = 1, diverges in its estimate pass (the
    margins reach 2e6, the Simpson weights overflow) while its own margins stay finite. It is refused and the next
    step is shorter and finite (the nan estimate made the next step nan, and the run stalled at t = 0)."""
    state, _ = _problem(16, 8, 0.1, loss="mse", d=5, seed=0)
    accept, _, nxt, _, tr = state.step(_one(1.0), _one(1e9))
    assert not bool(torch.isfinite(tr["err"]).all())  # the case this test is about
    assert not bool(accept[0]) and 0 < float(nxt[0]) < 1


def test_a_nan_step_is_an_error_not_a_stall(monkeypatch):
    """Whatever makes the controller's next step non-finite (here a nan error ratio on a finite trial, as the
    overflow above did), the step raises with the numbers instead of returning a nan step that every later step
    would retry."""
    state, _ = _problem(16, 8, 1.0, loss="mse", d=5, seed=0)
    own = state._step_error

    def nan_ratio(tr, tau):
        worst, drift, finite = own(tr, tau)
        return torch.full_like(worst, float("nan")), drift, finite

    monkeypatch.setattr(state, "_step_error", nan_ratio)
    with pytest.raises(RuntimeError, match="non-finite next step"):
        state.step(_one(0.01), _one(1e9))


def test_tol_local_trades_steps_for_accuracy_from_the_config_and_the_command_line(tmp_path, capsys):
    """SimulationConfig.tol_local (--tol-local) sets the smooth steps' tolerance: MSE, p = 24, h = 16, alpha = 1,
    t = 5: 100x looser takes fewer steps (measured 46, 184 and 766 steps at 1e-5, 1e-7 and 1e-9: the cube root of
    the tolerance) and lands farther from a 100x tighter run, within 20 times its tolerance in the final loss
    (measured 1.3); a tolerance that is not a positive number is refused in one line, exit 2."""
    from lazyrich.cli import main
    from lazyrich.numerics.simulator import SimulationConfig, SimulationError, simulate

    def run(tol):
        cfg = SimulationConfig(data="stripe", d=5, p=24, h=16, ptest=0, alphas=(1.0,), seeds=(0,), loss="mse",
                               t_max=5.0, checkpoints=2, device="cpu", tol_local=tol)
        net = simulate(cfg, progress=False).networks()[0]
        return net["steps"], net["train_loss"]

    (n_loose, loose), (n_mid, mid), (_, tight) = run(1e-5), run(1e-7), run(1e-9)
    assert n_loose < n_mid / 2
    assert abs(mid - tight) < abs(loose - tight) < 20 * 1e-5
    with pytest.raises(SimulationError, match="tol_local"):
        SimulationConfig(tol_local=0.0)
    assert main(["simulate", "--p", "8", "--h", "4", "--d", "2", "--loss", "mse", "--tol-local", "-1",
                 "--out", str(tmp_path / "s")]) == 2
    assert "tol_local must be finite and positive" in capsys.readouterr().err
