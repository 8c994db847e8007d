"""One gradient step: the derived first gradient against autograd, and the derived alignment's shape."""
import math

import numpy as np
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

from lazyrich.numerics.one_step import first_gradient
from lazyrich.theory import one_step as T


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 6), st.integers(1, 12), st.integers(1, 8), st.integers(0, 10_000))
def test_derived_first_gradient_equals_autograd(d, p, h, seed):
    rng = np.random.default_rng(seed)
    W = torch.as_tensor(rng.standard_normal((h, d)) / math.sqrt(d)).requires_grad_(True)
    a = torch.as_tensor(rng.standard_normal(h) / math.sqrt(h))
    X = torch.as_tensor(rng.standard_normal((p, d)))
    y = torch.as_tensor(rng.standard_normal(p))
    f = torch.relu(X @ W.T) @ a / math.sqrt(h)
    L = 0.5 * ((y - f) ** 2).mean()
    (grad,) = torch.autograd.grad(L, W)
    G = first_gradient(W.detach().numpy(), a.numpy(), X.numpy(), (y - f).detach().numpy())
    torch.testing.assert_close(G, -grad, rtol=1e-10, atol=1e-12)


def _cos(teacher, psi, noise=0.0):
    H = T.hermite(teacher)
    return float(T.predicted_alignment().subs({T.mu1: H["mu1"], T.norm2: H["norm2"], T.noise: noise, T.psi: psi}))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["relu", "tanh"]), st.floats(0.05, 50), st.floats(1.01, 4), st.floats(0, 1))
def test_alignment_increases_with_p_over_d_and_tends_to_one(teacher, psi, factor, noise):
    assert 0 < _cos(teacher, psi, noise) < _cos(teacher, psi * factor, noise) < 1
    assert _cos(teacher, 1e8, noise) > 1 - 1e-6


@settings(max_examples=10, deadline=None)
@given(st.floats(0.05, 100))
def test_he2_teacher_has_no_spike_alignment(psi):
    assert _cos("he2", psi) == 0


def test_hermite_data_of_the_teachers():
    H = T.hermite("relu")
    assert H["mu1"] == sp.Rational(1, 2) and H["norm2"] == sp.Rational(1, 2) and sp.simplify(H["mu0"] - 1 / sp.sqrt(2 * sp.pi)) == 0
    tanh = T.hermite("tanh")
    z = np.random.default_rng(0).standard_normal(2_000_000)
    assert abs(float(tanh["mu1"]) - np.mean(z * np.tanh(z))) < 2e-3
    assert abs(float(tanh["norm2"]) - np.mean(np.tanh(z) ** 2)) < 2e-3
    assert T.hermite("he2")["mu1"] == 0 and T.hermite("he2")["norm2"] == 1
    # the best linear risk of the ReLU teacher: 1/2 - 1/(2 pi) - 1/4
    assert sp.simplify(T.linear_risk().subs({T.mu0: H["mu0"], T.mu1: H["mu1"], T.norm2: H["norm2"], T.noise: 0})
                       - (sp.Rational(1, 4) - 1 / (2 * sp.pi))) == 0
