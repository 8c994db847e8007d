"""The attractor reduction: an identity on the training set for any network, and a check that can fail."""
import numpy as np
from hypothesis import given, settings, strategies as st

from lazyrich.cli import main
from lazyrich.numerics.reduction import reduce_network, relative_change


def _network(seed, h, d, p, groups):
    """A network with ``groups`` clusters of neurons (copies of a few directions, positive multiples: the
    same pattern), plus random ones, and random data."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(groups, d + 1))
    pick = rng.integers(0, groups, size=h)
    V = base[pick] * rng.uniform(0.5, 2.0, size=(h, 1))
    V[: h // 4] = rng.normal(size=(h // 4, d + 1))
    beta = rng.normal(size=h)
    return V[:, :-1], V[:, -1], beta, rng.normal(size=(p, d))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(4, 40), st.integers(1, 6), st.integers(2, 5), st.integers(3, 30))
def test_reduction_is_an_identity_on_the_training_set(seed, h, groups, d, p):
    omega, b, beta, X = _network(seed, h, d, p, groups)
    red = reduce_network(omega, b, beta, X)
    assert red.size <= h
    assert relative_change((omega, b, beta), red, X) <= 1e-10


def test_merging_across_signs_or_patterns_is_caught():
    """Grouping by pattern alone (both signs of beta in a group) or by sign alone (different patterns)
    changes f on the training set: the check has teeth."""
    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(20, 2))) + 0.1  # every point in the positive quadrant
    # same pattern (active everywhere), opposite signs: the merged neuron is relu(x1 - x2), not x1 - x2
    omega, b, beta = np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2), np.array([1.0, -1.0])
    assert relative_change((omega, b, beta), reduce_network(omega, b, beta, X), X) <= 1e-12
    assert relative_change((omega, b, beta), reduce_network(omega, b, beta, X, by="pattern"), X) > 0.1
    # same sign, opposite patterns: relu(x1) + relu(-x1) = |x1| against a merged neuron of zero weight
    X2 = rng.normal(size=(20, 2))
    omega, beta = np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1.0, 1.0])
    assert relative_change((omega, b, beta), reduce_network(omega, b, beta, X2), X2) <= 1e-12
    assert relative_change((omega, b, beta), reduce_network(omega, b, beta, X2, by="sign"), X2) > 0.1


def test_reduce_command_on_a_trained_feature_regime_network(tmp_path, capsys):
    import json

    out = tmp_path / "run"
    assert main(["simulate", "--p", "32", "--h", "48", "--alpha", "0.1", "--seeds", "0:2", "--t-max", "5", "--max-steps", "3000",
                 "--ptest", "500", "--checkpoints", "4", "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    for net in (0, 1):
        assert main(["reduce", str(out), "--network", str(net), "--json"]) == 0
        js = json.loads(capsys.readouterr().out)
        assert {"neurons_before", "neurons_after", "train_change", "test_change"} <= set(js)
        assert js["neurons_before"] == 48 and js["neurons_after"] < 48
        assert js["train_change"] <= 1e-10 and js["test_change"] is not None
    assert main(["reduce", str(out), "--network", "7"]) == 2
    assert main(["reduce", str(tmp_path / "nothing")]) == 2
