"""Attractor counts of one network: bounds and monotonicity on nested neuron sets."""
import numpy as np
import pytest
from lazyrich.numerics.data import make
from lazyrich.numerics.fixed_points.attractor_count import attractor_counts, reached
from lazyrich.numerics.fixed_points.basins import STATUSES


@pytest.fixture(scope="module")
def small():
    ds = make("sphere", 14, 2, 3)
    return reached(ds.X, ds.y, 48, seed=3)


def test_counts_are_bounded_and_grow_with_nested_neuron_sets(small):
    hs = list(range(1, 49))
    A = attractor_counts(small["label"], hs)
    assert all(a <= h for a, h in zip(A, hs))
    assert all(a <= small["stable"] for a in A)
    assert all(a1 <= a2 for a1, a2 in zip(A, A[1:]))
    assert A[-1] >= 2  # the four classes of neurons reach more than one attractor here
    label = small["label"]
    assert label.min() >= -1 and label.max() < small["equilibria"]
    assert sum(small["status"][s] for s in STATUSES) == 48 and small["status"]["unconverged"] == 0
    with pytest.raises(ValueError, match="h = 49"):
        attractor_counts(label, [49])
    with pytest.raises(ValueError, match="positive integer"):
        reached(np.ones((3, 2)), np.ones(3), 0, seed=0)
