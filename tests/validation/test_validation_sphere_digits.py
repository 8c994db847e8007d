"""Claims sphere-phases and digits: statistics with known answers, verdict logic, Outcome structure."""
import math

import numpy as np
import pytest
import torch
from lazyrich.numerics.data import parity_digits
from lazyrich.numerics.network import neuron_positions
from lazyrich.validation import claim as C
from lazyrich.validation import measures as M
from lazyrich.validation import runner as Rn
from lazyrich.validation.claims import digits as Dg
from lazyrich.validation.claims import sphere as S


@pytest.fixture
def ctx(tmp_path):
    return C.Context(quick=True, device="cpu", report_dir=tmp_path / "report")


def uniform_directions(n, d, seed=0):
    g = np.random.default_rng(seed).standard_normal((n, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def clustered_directions(n, d, clusters=5, spread=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    centres = uniform_directions(clusters, d, seed + 1)
    return centres[rng.integers(clusters, size=n)] + spread * rng.standard_normal((n, d))


# ------------------------------------------------------------------------------------ statistics
def test_shell_fraction_and_radial_spread_on_known_shapes():
    ring = 2.0 * uniform_directions(300, 2)
    assert M.shell_fraction(ring, 2.0) == 1.0 and M.shell_fraction(ring, 1.0) == 0.0
    assert M.radial_spread(ring) == pytest.approx(0.0, abs=1e-12)
    assert M.ball_spread(2) == pytest.approx((math.sqrt(0.75) - math.sqrt(0.25)) / math.sqrt(0.5))
    rng = np.random.default_rng(3)
    for d in (2, 3):  # uniform in the unit d-ball: radius U^(1/d) times a uniform direction
        ball = uniform_directions(20000, d, seed=d) * rng.uniform(size=(20000, 1)) ** (1 / d)
        assert M.radial_spread(ball) == pytest.approx(M.ball_spread(d), abs=0.02)
        assert M.radial_spread(ball) == pytest.approx(M.radial_spread(5 * ball))  # no scale


def test_direction_statistics_tell_uniform_from_clustered():
    for d in (2, 3, 10):
        uniform, clustered = uniform_directions(200, d, seed=d), clustered_directions(200, d, seed=d)
        assert 0.8 < M.nn_angle_ratio(uniform) < 1.2
        assert M.nn_angle_ratio(clustered) < 0.05
        # the length of z does not matter, only its direction
        scaled = uniform * np.random.default_rng(d).uniform(0.1, 3, size=(200, 1))
        assert M.nn_angle_ratio(scaled) == pytest.approx(M.nn_angle_ratio(uniform))
    assert M.mean_resultant_length(np.tile([[0.0, 2.0]], (7, 1))) == pytest.approx(1.0)
    assert M.mean_resultant_length([[1.0, 0.0], [-3.0, 0.0]]) == pytest.approx(0.0)
    assert M.rayleigh_p(uniform_directions(500, 2, seed=9)) > 0.01
    assert M.rayleigh_p(np.array([[1.0, 0.0]]) + 0.3 * uniform_directions(500, 2)) < 1e-6


def test_groups_clusters_and_participation_ratio():
    active = np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [1, 0, 1]], dtype=bool)
    assert M.pattern_groups(active).tolist() == [3, 1]
    assert M.participation_ratio([1, 1, 1, 1]) == 4.0
    assert M.participation_ratio([4]) == 1.0
    assert M.participation_ratio([3, 1]) == pytest.approx(16 / 10)
    blobs = np.concatenate([np.zeros((6, 2)), np.full((3, 2), 5.0)]) + 1e-3 * np.arange(9)[:, None]
    assert M.z_clusters(blobs, 0.5).tolist() == [6, 3]
    assert len(M.z_clusters(blobs, 1e-6)) == 9
    assert M.cutting(np.array([[1, 1], [0, 0], [1, 0]], dtype=bool)).tolist() == [False, False, True]


def test_positions_and_activations_agree_with_the_network():
    rng = np.random.default_rng(1)
    omega, b, X = rng.standard_normal((20, 3)), rng.standard_normal(20), rng.standard_normal((50, 3))
    z = neuron_positions(omega, b)
    np.testing.assert_allclose(z, neuron_positions(torch.as_tensor(omega), torch.as_tensor(b)).numpy())
    # z lies on the neuron's hyperplane u = 0, and the activation side is the talk's: b < 0 active
    # where x.z > |z|^2, b > 0 active where x.z < |z|^2
    np.testing.assert_allclose((z @ omega.T).diagonal() / math.sqrt(3) + b, 0, atol=1e-12)
    act = M.activations(omega, b, X)
    side = X @ z.T > (z ** 2).sum(1)
    np.testing.assert_array_equal(act, np.where(b[:, None] < 0, side.T, ~side.T))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="shape"):
        M.radial_spread(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        M.nn_angle_ratio([[1.0, np.nan], [0.0, 1.0]])
    with pytest.raises(ValueError, match="zero row"):
        M.directions([[0.0, 0.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="at least 2"):
        M.nearest_neighbour_angles([[1.0, 0.0]])
    with pytest.raises(ValueError, match="positive"):
        M.z_clusters([[0.0, 1.0], [1.0, 0.0]], 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        M.participation_ratio([2, -1])
    with pytest.raises(ValueError, match="positive"):
        M.shell_fraction([[1.0, 0.0]], -1.0)
    with pytest.raises(ValueError, match="at least 2"):
        Dg.relative_nn_distance([[1.0]])
    with pytest.raises(ValueError, match="p must be"):
        parity_digits(0, 5000)


def test_verdict_helpers_over_seeds():
    assert C.seed_verdict([0.1, 0.2], 0.5, above=False) == "confirmed"
    assert C.seed_verdict([0.6, 0.9], 0.5, above=False) == "refuted"
    assert C.seed_verdict([0.1, 0.9], 0.5, above=False) == "inconclusive"
    assert C.seed_verdict([float("nan")], 0.5, above=True) == "inconclusive"
    assert C.combine(["confirmed", "confirmed"]) == "confirmed"
    assert C.combine(["confirmed", "inconclusive"]) == "inconclusive"
    assert C.combine(["inconclusive", "refuted"]) == "refuted"
    assert S.during_checkpoint([1.0, 0.8, 0.4, 0.1]) == 2
    assert S.during_checkpoint([1.0, 0.9, np.nan]) is None
    low, high = Dg.seed_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3)
    assert (low, high) == pytest.approx((2 - half, 2 + half))
    assert Dg.seed_interval([1.0]) == (None, None)


def test_relative_nn_distance_has_no_scale():
    line = np.arange(1.0, 6.0)[:, None] * np.array([[1.0, 0.0]])  # neighbours 1 apart, median |z| 3
    assert Dg.relative_nn_distance(line) == pytest.approx(1 / 3)
    assert Dg.relative_nn_distance(7 * line) == pytest.approx(1 / 3)


# ------------------------------------------------------------------------------------ verdict logic
def synthetic_panels(talk_is_right: bool, seeds=2, n=120, p=40, seed=0):
    """Panels built by hand: the talk's picture (lazy = init, a uniform ring during, 4 clusters at
    the end) or its opposite (lazy moves and merges, a clustered blob, uniform spread at the end)."""
    rng = np.random.default_rng(seed)
    distinct = lambda: rng.random((n, p)) < 0.5  # noqa: E731  (almost surely all rows distinct and cutting)
    grouped = lambda: np.repeat(rng.random((4, p)) < 0.5, n // 4, axis=0)  # noqa: E731
    spread = lambda: rng.standard_normal((n, 2))  # noqa: E731
    clusters = lambda: np.repeat(2 * uniform_directions(4, 2, seed + 1), n // 4, axis=0) + 1e-4 * spread()  # noqa: E731
    panels = {k: [] for k in ("init", "lazy end", "feature during", "feature end")}
    trajectory = []
    for _ in range(seeds):
        z0 = spread()
        panels["init"].append((z0, distinct()))
        if talk_is_right:
            ring = 0.3 * uniform_directions(n, 2, int(rng.integers(1 << 30)))
            lazy, during, end = (z0, panels["init"][-1][1]), (ring, distinct()), (clusters(), grouped())
        else:
            lazy, during, end = (clusters(), grouped()), (clusters(), grouped()), (spread(), distinct())
        panels["lazy end"].append(lazy)
        panels["feature during"].append(during)
        panels["feature end"].append(end)
        trajectory.append([(1.0, *during), (2.0, *end)])
    return panels, trajectory


def test_evaluate_confirms_the_talks_picture_and_refutes_its_opposite():
    panels, traj = synthetic_panels(True)
    sub = S.evaluate(panels, traj, 1.0, 2)["sub_verdicts"]
    assert sub["lazy_unchanged"] == sub["feature_during_circle"] == sub["feature_end_attractors"] == "confirmed"
    panels, traj = synthetic_panels(False)
    sub = S.evaluate(panels, traj, 1.0, 2)["sub_verdicts"]
    assert sub["lazy_unchanged"] == sub["feature_during_circle"] == sub["feature_end_attractors"] == "refuted"


def test_parity_digits_split_and_projection():
    train, test = parity_digits(seed=0, p=300)
    assert (train.p, train.d, test.p, test.d) == (300, 10, 1797 - 300, 10)
    np.testing.assert_allclose(train.X.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(train.X.std(0), 1, atol=1e-10)
    assert set(np.unique(train.y)) == {-1.0, 1.0} and 0.4 < (train.y > 0).mean() < 0.6
    again, _ = parity_digits(seed=0, p=300)
    np.testing.assert_array_equal(again.X, train.X)


# ------------------------------------------------------------------------------------ Outcome structure
TINY_SPHERE = dict(d=2, p=16, h=12, ptest=50, seeds=2, alpha_feature=0.3, alpha_lazy=100.0, t_max=3.0,
                   max_wall=20.0, checkpoints=6)
TINY_DIGITS = dict(p=40, h=12, seeds=2, alpha_feature=0.3, alpha_lazy=100.0, t_max=3.0, max_wall=20.0)


def check_result(res, name):
    assert res.error is None, res.error
    assert res.passed and res.kind == "empirical" and res.verdict in C.VERDICTS
    assert res.summary and "Not converged" in res.summary  # t_max = 3 stops every tiny network early
    assert res.figure and (res.figure.endswith(f"{name}.png"))
    assert isinstance(res.to_json()["measured"], dict)


def test_sphere_phases_outcome_on_tiny_sizes(ctx, monkeypatch):
    Rn.names()
    monkeypatch.setattr(ctx, "size", lambda quick, full: TINY_SPHERE)
    res = Rn.run_claims(["sphere-phases"], ctx)[0]
    check_result(res, "sphere-phases")
    assert set(res.measured["sub_verdicts"]) == {"lazy_unchanged", "feature_during_circle", "feature_end_attractors",
                                                 "feature_near_label_sphere"}
    assert {"init", "lazy end", "feature during", "feature end"} <= set(res.measured)
    assert len(res.measured["test_error_feature"]) == 2


def test_digits_outcome_on_tiny_sizes(ctx, monkeypatch):
    Rn.names()
    monkeypatch.setattr(ctx, "size", lambda quick, full: TINY_DIGITS)
    res = Rn.run_claims(["digits"], ctx)[0]
    check_result(res, "digits")
    assert set(res.measured["sub_verdicts"]) == {"feature_sparsifies", "lazy_does_not", "feature_beats_lazy"}
    assert len(res.measured["lazy_minus_feature_error_95ci"]) == 2
