"""The one definition of the network: one network and a stack agree, numpy and torch agree, and the
neuron positions are theory's z-position."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from lazyrich.numerics import network as N
from lazyrich.theory import derive


@settings(max_examples=20, deadline=None)
@given(seeds=st.lists(st.integers(0, 10 ** 6), min_size=1, max_size=4, unique=True), h=st.integers(1, 9),
       d=st.integers(1, 5), p=st.integers(1, 7))
def test_a_stack_is_its_networks_one_by_one(seeds, h, d, p):
    X = torch.as_tensor(np.random.default_rng(seeds[0]).standard_normal((p, d)))
    stack = N.init_ensemble(seeds, h, d)
    u = N.preactivations(stack.omega, stack.b, X)
    f = N.output(*stack.tuple(), X)
    assert u.shape == (len(seeds), p, h) and f.shape == (len(seeds), p)
    for e, seed in enumerate(seeds):
        one = N.init_params(h, d, seed)
        assert all(torch.equal(a, b) for a, b in zip(one.tuple(), stack.select(e).tuple()))
        torch.testing.assert_close(N.preactivations(one.omega, one.b, X), u[e], rtol=1e-14, atol=1e-14)
        torch.testing.assert_close(N.output(*one.tuple(), X), f[e], rtol=1e-14, atol=1e-14)
        # the definition itself, written out
        ref = torch.relu(X @ one.omega.T / np.sqrt(d) + one.b) @ one.beta / h
        torch.testing.assert_close(N.output(*one.tuple(), X), ref, rtol=1e-13, atol=1e-13)
    # numpy arrays take the same formula
    un = N.preactivations(stack.omega.numpy(), stack.b.numpy(), X.numpy())
    np.testing.assert_allclose(un, u.numpy(), rtol=1e-14, atol=1e-14)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10 ** 6), h=st.integers(1, 12), d=st.integers(1, 6))
def test_neuron_positions_are_the_derived_z(seed, h, d):
    P = N.init_params(h, d, seed)
    expected = derive("z-position").compile("numpy", "z")(omega=P.omega.numpy(), b=P.b.numpy())
    np.testing.assert_allclose(N.neuron_positions(P.omega.numpy(), P.b.numpy()), expected, rtol=1e-14)
    np.testing.assert_allclose(N.neuron_positions(P.omega, P.b).numpy(), expected, rtol=1e-14)
    # on the hyperplane through the origin's nearest point: u(z) = 0 and z parallel to omega
    z = torch.as_tensor(expected)
    u = (z * P.omega).sum(1) / np.sqrt(d) + P.b
    assert u.abs().max() < 1e-10 * (1 + P.b.abs().max())


def test_neuron_positions_are_nan_where_undefined():
    omega = torch.tensor([[[0.0, 0.0], [1.0, 2.0]], [[3.0, 0.0], [float("nan"), 1.0]]])
    b = torch.tensor([[1.0, 0.0], [2.0, 1.0]])
    z = N.neuron_positions(omega, b)
    assert z.shape == (2, 2, 2)
    assert torch.isnan(z[0, 0]).all() and torch.isnan(z[1, 1]).all()
    assert torch.equal(z[0, 1], torch.zeros(2))  # b = 0: z is the origin
    torch.testing.assert_close(z[1, 0], torch.tensor([-np.sqrt(2) * 2 / 3, 0.0], dtype=z.dtype))


def test_devices():
    assert N.resolve_device("cpu").type == "cpu"
    assert N.resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(N.DeviceError, match="no CUDA device"):
            N.resolve_device("cuda")
