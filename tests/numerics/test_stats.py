"""Intervals and bootstrap power-law fits: exact on exact data, scipy's t interval, paired differences."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lazyrich.numerics import stats


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=12), level=st.floats(0.5, 0.99))
def test_mean_interval_is_scipys_t_interval(values, level):
    from scipy.stats import sem, t

    mean, lo, hi = stats.mean_interval(values, level)
    assert mean == pytest.approx(np.mean(values), abs=1e-9)
    spread = sem(values)
    if spread > 0:
        ref = t.interval(level, len(values) - 1, loc=np.mean(values), scale=spread)
        assert lo == pytest.approx(ref[0], rel=1e-9, abs=1e-9) and hi == pytest.approx(ref[1], rel=1e-9, abs=1e-9)
    with pytest.raises(ValueError, match="two finite"):
        stats.mean_interval(values[:1])


@settings(max_examples=25, deadline=None)
@given(k=st.floats(-2.0, 2.0), A=st.floats(0.01, 10.0), seeds=st.integers(2, 8), geometric=st.booleans())
def test_an_exact_power_law_is_found_exactly(k, A, seeds, geometric):
    ps = np.array([16.0, 32.0, 64.0, 128.0])
    table = np.repeat((A * ps ** k)[:, None], seeds, axis=1)
    fit = stats.power_law_fit(ps, table, geometric=geometric, bootstrap=50)
    assert fit["exponent"] == pytest.approx(k, abs=1e-10) and fit["prefactor"] == pytest.approx(A, rel=1e-9)
    assert fit["ci"] == pytest.approx([k, k], abs=1e-10)  # every resample is the same table
    diff = stats.power_law_difference(ps, table, table * ps[:, None] ** 0.25, bootstrap=50)
    assert diff["difference"] == pytest.approx(-0.25, abs=1e-10) and diff["ci"] == pytest.approx([-0.25, -0.25])


@settings(max_examples=10, deadline=None)
@given(k=st.floats(-1.5, -0.2), seed=st.integers(0, 10 ** 6))
def test_noisy_power_laws_are_covered_by_their_interval(k, seed):
    rng = np.random.default_rng(seed)
    ps = np.array([32.0, 64.0, 128.0, 256.0, 512.0])
    table = 0.5 * ps[:, None] ** k * np.exp(0.02 * rng.standard_normal((5, 8)))
    fit = stats.power_law_fit(ps, table, bootstrap=400, rng_seed=seed)
    lo, hi = fit["ci"]
    assert abs(fit["exponent"] - k) < 0.03 and lo <= fit["exponent"] <= hi and hi - lo < 0.05


def test_vanishing_means_leave_the_fit():
    ps = np.array([10.0, 20.0, 40.0])
    table = np.array([[0.1, 0.2], [0.05, 0.1], [0.0, 0.0]])
    fit = stats.power_law_fit(ps, table, bootstrap=20)
    assert fit["used_p"] == [10.0, 20.0] and fit["exponent"] == pytest.approx(-1.0)
    assert stats.power_law_fit(ps, [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])["exponent"] is None
    with pytest.raises(ValueError, match="positive"):
        stats.power_law_fit(ps, -table - 1, geometric=True)
    with pytest.raises(ValueError, match="shape"):
        stats.power_law_fit(ps[:2], table)
    # groups of unequal size (a seed missing at one p) are resampled each within itself
    ragged = stats.power_law_fit(ps[:2], [[0.1, 0.2, 0.15], [0.05, 0.1]], bootstrap=100)
    assert ragged["exponent"] == pytest.approx(math.log2(0.075 / 0.15))


def test_log_linear_fit_recovers_two_exponents_and_their_seeds():
    rng = np.random.default_rng(1)
    p, h, seeds = np.meshgrid([16, 32, 64], [8, 32, 128], range(5), indexing="ij")
    p, h, seeds = p.ravel(), h.ravel(), seeds.ravel()
    y = 3.0 * p ** 0.8 * h ** 0.4 * np.exp(0.1 * rng.standard_normal(5))[seeds]  # a factor per seed
    fit = stats.log_linear_fit(y, {"a": ("p", p), "b": ("h", h)}, seeds, bootstrap=200)
    assert fit["a"] == pytest.approx(0.8) and fit["b"] == pytest.approx(0.4) and fit["n_seeds"] == 5
    assert fit["a_ci"] == pytest.approx([0.8, 0.8]) and fit["rms_log_residual"] < 0.2
    one_h = stats.log_linear_fit(y[h == 8], {"a": ("p", p[h == 8]), "b": ("h", h[h == 8])}, seeds[h == 8])
    assert one_h["b"] is None and one_h["b_ci"] == [None, None]
    with pytest.raises(ValueError, match="single value"):
        stats.log_linear_fit([1.0, 2.0], {"a": ("p", [4, 4])}, [0, 1])
