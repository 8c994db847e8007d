"""Bad input gets a clear error naming the problem, never a silent NaN."""
import numpy as np
import pytest
import torch
from lazyrich.numerics import data as D
from lazyrich.theory import InputError, derive


@pytest.fixture
def zdot():
    return derive("z-velocity").compile("numpy", "zdot")


def good(h=3, p=4, d=2):
    rng = np.random.default_rng(0)
    return dict(z=rng.standard_normal((h, d)), b=rng.uniform(0.5, 1, h), beta=rng.standard_normal(h),
                x=rng.standard_normal((p, d)), g=rng.choice([-1.0, 1.0], p), alpha=1.0)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("bad, message", [
    (dict(z=np.array([[np.nan, 0.0]] * 3)), "NaN"),
    (dict(x=np.full((4, 2), np.inf)), "NaN or infinite"),
    (dict(x=np.ones((4, 3))), "disagree in dimension: x has d = 3, z has d = 2"),
    (dict(z=np.ones(3)), "must have 2 dimension"),
    (dict(g=np.ones(5)), "along axis p"),
    (dict(b=np.array([1.0, 0.0, 1.0])), "b = 0"),
    (dict(z=np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])), "z = 0"),
    (dict(alpha=-1.0), "alpha must be a finite positive"),
    (dict(bogus=1.0), "unexpected argument"),
])
def test_compiled_callables_refuse_bad_input(backend, bad, message):
    F = derive("z-velocity").compile(backend, "zdot")
    args = {**good(), **bad}
    if backend == "torch":
        args = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in args.items()}
    with pytest.raises(InputError, match=message):
        F(**args)


def test_missing_argument_is_named(zdot):
    args = good()
    del args["beta"]
    with pytest.raises(InputError, match="missing argument 'beta'"):
        zdot(**args)
    args = good()
    del args["alpha"]
    with pytest.raises(InputError, match="alpha"):
        zdot(**args)


def test_neuron_position_needs_b_and_omega_nonzero():
    z = derive("z-position").compile("numpy", "z")
    with pytest.raises(InputError, match="omega = 0"):
        z(omega=np.array([[1.0, 2.0], [0.0, 0.0]]), b=np.array([1.0, 1.0]))
    # b = 0 gives z = 0, where the position (and everything in z-space) is undefined
    with pytest.raises(InputError, match="z = 0"):
        derive("z-position").compile("numpy", "omega")(z=np.zeros((1, 2)), b=np.array([1.0]))


def test_fixed_point_needs_nonzero_m():
    with pytest.raises(InputError, match="m_A = 0"):
        derive("fixed-point").compile("numpy", "zstar")(G=np.array([1.0]), m_A=np.zeros((1, 3)))


@pytest.mark.parametrize("X, y, message", [
    (np.ones((3, 2)), np.array([1, -1, 0]), "labels must be -1 or \\+1"),
    (np.ones((3, 2)), np.array([1, 1]), "3 points but y has 2"),
    (np.ones(3), np.array([1, 1, 1]), "X must have shape"),
    (np.array([[1.0, np.nan]]), np.array([1]), "NaN or infinite"),
    (np.zeros((0, 2)), np.zeros(0), "empty"),
    (np.array([["a", "b"]]), np.array([1]), "numeric"),
])
def test_datasets_refuse_bad_arrays(X, y, message):
    with pytest.raises(D.DataError, match=message):
        D.Dataset(X, y)


def test_bad_model_parameters():
    with pytest.raises(D.DataError, match="p must be a positive integer"):
        D.make("stripe", 0, 3)
    with pytest.raises(D.DataError, match="d_par"):
        D.make("cylinder", 10, 3, d_par=4)
    with pytest.raises(D.DataError, match="unknown data model"):
        D.make("torus", 10, 3)
