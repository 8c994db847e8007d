"""Activation patterns: one rule for numpy and torch, ensembles, diverged networks, and the count of attractors."""
import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from lazyrich.numerics import patterns as P


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 12), st.integers(1, 20))
def test_one_rule_for_numpy_torch_and_ensembles(seed, n, p):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(3, n, p)) * rng.uniform(1e-3, 1e3, size=(3, n, 1))
    u[0, 0, :] = 1e-12 * u[0, 0, :] + np.where(u[0, 0, :] > 0, 1.0, 0.0)  # u ~ 0 up to rounding: inactive there
    numpy_rule = np.stack([P.active(x) for x in u])
    assert (P.active_mask(torch.from_numpy(u)).numpy() == numpy_rule).all()
    assert (P.active_mask(u) == numpy_rule).all()
    assert not numpy_rule[0, 0][np.abs(u[0, 0]) < 1e-6].any()
    # the count of attractors is the number of distinct groups among the active neurons
    for a in numpy_rule:
        assert P.count_patterns(a) == len({tuple(row) for row in a if row.any()})


def test_a_diverged_network_is_inactive_and_not_an_error():
    u = torch.tensor([[[float("nan"), 1.0], [2.0, -1.0]]])
    mask = P.active_mask(u)
    assert mask.tolist() == [[[False, False], [True, False]]]
    assert P.count_patterns(mask[0].numpy()) == 1
