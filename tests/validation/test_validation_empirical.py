"""The empirical claims stripe-compression and learning-curves: their statistics, and the structure
of their outcome at tiny sizes (the quick sizes themselves run in `lazyrich validate --quick`)."""
import json
import math

import numpy as np
import pytest
from lazyrich.numerics import stats
from lazyrich.validation import claim as C
from lazyrich.validation import runner as Rn
from lazyrich.validation.claims import learning_curves as LC
from lazyrich.validation.claims import stripe as ST


@pytest.fixture
def ctx(tmp_path):
    return C.Context(quick=True, device="cpu", report_dir=tmp_path / "report")


def numbers(obj):
    """Every number in a nested measured dict (None allowed: an undefined crossover)."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in numbers(v)]
    if isinstance(obj, (list, tuple)):
        return [x for v in obj for x in numbers(v)]
    return [obj] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


def check_outcome(res, name, ctx):
    assert res.error is None, res.error
    assert res.verdict in C.VERDICTS and res.passed
    assert all(math.isfinite(x) for x in numbers(res.measured)), res.measured
    figure = ctx.report_dir / f"{name}.png"
    assert res.figure == str(figure) and figure.exists() and figure.stat().st_size > 1000
    json.dumps(res.to_json())  # the report can write it
    assert res.summary


# ------------------------------------------------------------------------------------ statistics
def test_exponent_fit_recovers_a_power_law():
    ps = np.array([32, 64, 128, 256])
    rng = np.random.default_rng(0)
    values = 2.0 * ps[:, None] ** 0.5 * np.exp(0.05 * rng.standard_normal((4, 6)))
    fit = stats.power_law_fit(ps, values, geometric=True, bootstrap=500)
    assert abs(fit["exponent"] - 0.5) < 0.05 and fit["ci"][0] < 0.5 < fit["ci"][1]
    assert fit["ci"][1] - fit["ci"][0] < 0.1
    with pytest.raises(ValueError, match="positive"):
        stats.power_law_fit(ps, -values, geometric=True)
    with pytest.raises(ValueError, match="shape"):
        stats.power_law_fit(ps[:2], values, geometric=True)


def test_mean_interval_combine_and_distance():
    mean, lo, hi = stats.mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and lo < 1.0 and hi > 3.0  # t(2) = 4.3: a wide interval from three values
    with pytest.raises(ValueError, match="at least two"):
        stats.mean_interval([1.0])
    assert C.combine(["confirmed", "confirmed"]) == "confirmed"
    assert C.combine(["confirmed", "inconclusive"]) == "inconclusive"
    assert C.combine(["confirmed", "refuted", "inconclusive"]) == "refuted"
    assert ST.relative_distance(np.eye(3), np.eye(3)) == 0.0
    assert ST.relative_distance(2 * np.eye(3), np.eye(3)) == pytest.approx(0.5)


def test_compressed_kernel_is_the_kernel_of_the_network_without_omega_perp(rng):
    from lazyrich.numerics.ntk import empirical_ntk

    omega, b, beta, X = rng.standard_normal((50, 4)), rng.standard_normal(50), rng.standard_normal(50), \
        rng.standard_normal((30, 4))
    K, share = ST.compressed_kernel(omega, b, beta, X)
    flat = omega.copy()
    flat[:, 1:] = 0
    np.testing.assert_allclose(K, empirical_ntk(flat, b, beta, X).numpy(), rtol=1e-12, atol=1e-12)
    assert 0 < share < 1


def test_beta_difference_and_crossover():
    ps = np.array([16, 32, 64, 128])
    rng = np.random.default_rng(1)
    noise = lambda: np.exp(0.02 * rng.standard_normal((4, 5)))  # noqa: E731
    fast, slow = ps[:, None] ** -1.0 * noise(), 0.5 * ps[:, None] ** -0.5 * noise()
    diff = LC.beta_difference(ps, fast, slow, bootstrap=300)
    assert abs(diff["difference"] - 0.5) < 0.05 and diff["ci"][0] > 0.4
    with pytest.raises(ValueError, match="shape"):
        LC.beta_difference(ps, fast, slow[:2])
    zero = LC.beta_difference(ps, np.zeros((4, 5)), slow)
    assert zero["difference"] is None and zero["ci"] is None
    inside = LC.crossover([10, 100], [0.1, -0.1])
    assert inside["where"] == "inside" and inside["p_star"] == pytest.approx(math.sqrt(1000))
    assert LC.crossover([10, 100], [0.1, 0.2])["where"] == "above"
    assert LC.crossover([10, 100], [-0.1, -0.2])["where"] == "below"
    fits = {"beta": 1.0, "prefactor": 1.0}, {"beta": 0.5, "prefactor": 0.5}
    assert LC.crossover_from_fits(*fits) == pytest.approx(4.0)  # p^-1 = 0.5 p^-0.5 at p = 4


# ------------------------------------------------------------------------------------ the claims, tiny
def test_stripe_compression_outcome(ctx, monkeypatch):
    monkeypatch.setattr(ST, "QUICK", {"ps": (24, 48), "h": 16, "seeds": 2, "t_max": 2.0, "tol_output": 0.5,
                                      "ptest": 200, "max_wall": None, "alpha": 0.1})
    res = Rn.run_claims(["stripe-compression"], ctx)[0]
    check_outcome(res, "stripe-compression", ctx)
    m = res.measured
    assert m["ps"] == [24, 48] and set(m["part_verdicts"]) == {"a", "b", "c", "d"}
    assert 0 <= m["network_test_error"] <= 1 and 0 <= m["svc_final_ntk_test_error"] <= 1
    assert m["ratio_exponent_ci"][0] <= m["ratio_exponent"] <= m["ratio_exponent_ci"][1]


def test_learning_curves_outcome_and_resume(ctx, monkeypatch):
    monkeypatch.setattr(LC, "QUICK", {"d": 3, "ps": (12, 24), "seeds": 2, "h": 16, "ptest": 200, "t_max": 20.0,
                                      "max_steps": 150, "tol_output": 0.5, "max_wall": None, "bootstrap": 50,
                                      "alpha_lazy": 1e3, "alpha_feature": 0.1})
    res = Rn.run_claims(["learning-curves"], ctx)[0]
    check_outcome(res, "learning-curves", ctx)
    m = res.measured
    assert set(m["stripe"]) == {"knn", "svc-ntk", "lazy", "feature"}
    assert set(m["sphere"]) == {"knn", "svc-ntk", "lazy", "feature", "feature-fixed"}
    assert m["p_star_where"] in ("inside", "above", "below")
    # the limit checks at the largest p: both regimes with alpha 10x further in, and at twice the width
    assert m["alpha_limit"]["feature"]["values"] == [0.1, 0.01] and m["alpha_limit"]["lazy"]["values"] == [1e3, 1e4]
    assert m["width_limit"]["feature"]["values"] == [16, 32] and m["width_limit"]["lazy"]["values"] == [16, 32]
    assert all(v["p"] == 24 and v["verdict"] in ("stopped", "moving", "undecided")
               for check in ("alpha_limit", "width_limit") for v in m[check].values())
    assert res.trained.networks == 2 * 2 * 2 + 2 * 3 * 2 + 2 * 2 * 2  # stripe, sphere (with fixed), the two checks
    from lazyrich.sweep import results

    store = ctx.report_dir / "learning-curves" / "sphere" / "quick"
    assert len(results(store, kind="learning-curve")) == 2 * 2 * 5
    for name in ("alpha", "width"):
        assert len(results(ctx.report_dir / "learning-curves" / f"stripe-{name}" / "quick", kind="learning-curve")) == 4
    again = Rn.run_claims(["learning-curves"], ctx)[0]  # every cell is read back, none recomputed
    assert again.measured["sphere"] == m["sphere"] and again.seconds < res.seconds
    assert again.measured["alpha_limit"] == m["alpha_limit"] and again.measured["width_limit"] == m["width_limit"]


@pytest.mark.parametrize("shift,verdict", [(0.0, "stopped"), (0.05, "moving"), (-0.05, "moving"),
                                           (None, "undecided")])
def test_limit_check_says_stopped_moving_or_undecided(shift, verdict):
    """limit_check pairs the other runs' test errors with the base runs' by seed: a change whose 95 % interval lies
    within +-0.01 has stopped, one entirely beyond it is moving, one that straddles it is undecided."""
    seeds = [0, 1, 2, 3]
    base_err = [0.20, 0.22, 0.18, 0.21]
    noise = [0.001, -0.002, 0.0015, -0.0005] if shift is not None else [0.03, -0.03, 0.02, -0.025]
    change = [(shift or 0.0) + n for n in noise]

    def result(errs, a_lazy, a_feature):
        return {"config": {"alpha_lazy": a_lazy, "alpha_feature": a_feature},
                "records": [{"method": m, "p": 64, "seed": s, "test_error": e} for m in ("lazy", "feature")
                            for s, e in zip(seeds, errs)]}

    out = LC.limit_check(result(base_err, 1e3, 0.1), result([b + c for b, c in zip(base_err, change)], 1e4, 0.01),
                         64, seeds, LC.VARIANTS["alpha"][1])
    assert out["feature"]["values"] == [0.1, 0.01] and out["lazy"]["values"] == [1e3, 1e4]
    for v in out.values():
        assert v["verdict"] == verdict and v["stopped"] == (verdict == "stopped")
        assert abs(v["change"] - sum(change) / 4) < 1e-12


def test_claims_refuse_too_few_seeds(ctx, monkeypatch):
    monkeypatch.setattr(ST, "QUICK", {**ST.QUICK, "seeds": 1})
    res = Rn.run_claims(["stripe-compression"], ctx)[0]
    assert not res.passed and "at least 2 seeds" in res.summary


def test_unbalanced_relu_measures_each_cell(tmp_path):
    """The imbalance phase diagram runs at quick size: every (tau, delta, seed) cell has its kernel distance
    (0 at the first checkpoint), Hamming and parameter distances and a finite test loss; the figure is drawn."""
    ctx = C.Context(quick=True, device="cpu", report_dir=tmp_path / "r")
    res = Rn.run_claims(["unbalanced-relu"], ctx)[0]
    assert res.error is None and res.verdict in C.VERDICTS
    rows = res.details["rows"]
    assert len(rows) == 2 * 3 * 3
    for r in rows:
        assert r["S"][0] == 0 and 0 <= r["S_final"] <= 1 and 0 <= r["hamming"] <= 1
        assert np.isfinite(r["test_loss"]) and r["parameter_distance"] > 0
    assert (ctx.report_dir / "unbalanced-relu.png").stat().st_size > 1000


def test_p_star_bootstrap_brackets_a_crossover_and_says_when_there_is_none():
    """p_star_bootstrap resamples the seeds: on gaps that change sign between p = 64 and 128 for every seed the
    crossover lies inside in every resample, and its interval within [64, 128] around the mean's p*; on gaps
    positive at every p (lazy better throughout) it lies above the range in every resample and has no interval."""
    ps = [16, 32, 64, 128, 256]
    rng = np.random.default_rng(0)
    base = np.array([0.04, 0.03, 0.01, -0.01, -0.03])[:, None]
    gap = base + 0.002 * rng.standard_normal((5, 8))
    out = LC.p_star_bootstrap(ps, gap, 500)
    assert out["fractions"]["inside"] == 1.0
    point = LC.crossover(ps, gap.mean(1))["p_star"]
    assert 64 <= out["ci"][0] <= point <= out["ci"][1] <= 128
    above = LC.p_star_bootstrap(ps, np.abs(gap) + 0.01, 200)
    assert above["fractions"]["above"] == 1.0 and above["ci"] is None
