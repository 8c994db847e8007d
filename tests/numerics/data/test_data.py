"""Data models: labels as specified, balanced classes, reproducible, symmetric."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lazyrich.numerics import data as D


@given(st.integers(1, 8), st.integers(0, 10 ** 6))
def test_stripe_labels_depend_on_first_coordinate_only(d, seed):
    ds = D.stripe(200, d, seed)
    inside = (ds.X[:, 0] > -0.3) & (ds.X[:, 0] < 1.18549)
    np.testing.assert_array_equal(ds.y, np.where(inside, -1.0, 1.0))
    if d > 1:  # shuffling the other coordinates leaves the labels
        X = ds.X.copy()
        X[:, 1:] = np.random.default_rng(seed).permutation(X[:, 1:])
        np.testing.assert_array_equal(D.stripe_labels(X), ds.y)


@given(st.integers(1, 8), st.integers(0, 10 ** 6))
def test_sphere_labels_are_rotation_invariant(d, seed):
    ds = D.sphere(100, d, seed)
    R, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    r = np.linalg.norm(ds.X, axis=1)
    clear = np.abs(r - D.balanced_radius(d)) > 1e-9
    np.testing.assert_array_equal(D.radial_labels(ds.X @ R.T, d)[clear], ds.y[clear])


@given(st.integers(2, 8), st.data())
def test_cylinder_labels_depend_on_the_subspace_only(d, data):
    k = data.draw(st.integers(1, d))
    ds = D.cylinder(100, d, seed=1, d_par=k)
    np.testing.assert_array_equal(ds.y, D.radial_labels(ds.X[:, :k], k))
    assert ds.meta["d_par"] == k


@pytest.mark.parametrize("model, d", [(m, d) for m in ("stripe", "sphere", "cylinder") for d in (1, 3, 10)
                                      if not (m == "cylinder" and d == 1)])  # the cylinder needs d >= d_par = 2
def test_classes_are_balanced(model, d):
    ds = D.make(model, 40000, d, seed=0)
    # binomial standard deviation at p = 40000 is 0.0025
    assert abs((ds.y > 0).mean() - 0.5) < 0.015


def test_reproducible_and_roundtrip(tmp_path):
    a = D.make("sphere", 50, 4, seed=7)
    b = D.make("sphere", 50, 4, seed=7)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, D.make("sphere", 50, 4, seed=8).X)
    back = D.load(a.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(back.X, a.X)
    np.testing.assert_array_equal(back.y, a.y)
    assert back.X.dtype == np.float64 and back.meta["model"] == "sphere"


def test_user_arrays(tmp_path):
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.where(X[:, 0] > 0, 1, -1)
    np.save(tmp_path / "X.npy", X)
    np.savetxt(tmp_path / "y.csv", y, delimiter=",")
    ds = D.from_files(tmp_path / "X.npy", tmp_path / "y.csv", p=10)
    assert ds.p == 10 and ds.d == 3
    np.testing.assert_array_equal(ds.y, y[:10])
    with pytest.raises(D.DataError, match="dimension 3"):
        D.from_files(tmp_path / "X.npy", tmp_path / "y.csv", d=2)
