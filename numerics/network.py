"""The one-hidden-layer network in torch, as plain functions of its parameters.

f(x) = (1/h) sum_n beta_n relu(omega_n.x/sqrt(d) + b_n), F = alpha (f - f_0), and the mean
loss L = (1/(alpha^2 p)) sum_mu l(y_mu F(x_mu)) with l compiled from theory.losses (never
typed twice). The parameter velocity is -h grad L by autograd: this is the independent
reference against which the symbolic flow is checked, and the building block of the simulator.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
import torch

from .ensemble import init_ensemble, loss_functions


@dataclass
class Params:
    omega: torch.Tensor  # (h, d)
    b: torch.Tensor  # (h,)
    beta: torch.Tensor  # (h,)

    @property
    def h(self) -> int:
        return self.omega.shape[0]

    def tuple(self):
        return self.omega, self.b, self.beta

    def flat(self) -> np.ndarray:
        """All parameters as one float64 vector (omega row by row, then b, then beta)."""
        return torch.cat([self.omega.reshape(-1), self.b, self.beta]).detach().numpy()

    @classmethod
    def from_flat(cls, v, h: int, d: int) -> "Params":
        v = torch.as_tensor(v)
        return cls(v[: h * d].reshape(h, d), v[h * d: h * d + h], v[h * d + h:])


def init_params(h: int, d: int, seed: int = 0, dtype=torch.float64, device="cpu") -> Params:
    """Standard normal omega, b and beta (the talk's initialisation), as network ``seed`` of an ensemble."""
    ens = init_ensemble([seed], h, d, dtype=dtype, device=device)
    return Params(ens.omega[0], ens.b[0], ens.beta[0])


def output(omega, b, beta, X) -> torch.Tensor:
    """f(x_mu) for every row of X: shape (p,)."""
    d = X.shape[-1]
    return torch.relu(X @ omega.T / math.sqrt(d) + b) @ beta / omega.shape[0]


def pointwise_loss(margin: torch.Tensor, loss: str) -> torch.Tensor:
    """l(m), compiled from the symbolic loss."""
    return loss_functions(loss)[0](margin)


def loss_weights(margin: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """g_mu = -l'(m_mu) y_mu from the symbolic derivative of the loss."""
    return loss_functions(loss)[1](margin, y)


def margins(omega, b, beta, X, y, f0, alpha) -> torch.Tensor:
    return y * alpha * (output(omega, b, beta, X) - f0)


def mean_loss(omega, b, beta, X, y, f0, alpha, loss="hinge") -> torch.Tensor:
    m = margins(omega, b, beta, X, y, f0, alpha)
    return pointwise_loss(m, loss).sum() / (alpha ** 2 * X.shape[0])


def flat_velocity(X, y, f0, alpha, loss, h: int, d: int):
    """rhs(t, v) of the parameter flow on flat vectors, for scipy's solve_ivp (the reference)."""
    def rhs(_, v):
        return parameter_velocity(Params.from_flat(v, h, d), X, y, f0, alpha, loss).flat()

    return rhs


def parameter_velocity(params: Params, X, y, f0, alpha, loss="hinge") -> Params:
    """d theta/dt = -h grad_theta L, by autograd."""
    leaves = [t.detach().requires_grad_(True) for t in params.tuple()]
    grads = torch.autograd.grad(mean_loss(*leaves, X, y, f0, alpha, loss), leaves)
    return Params(*(-params.h * gr for gr in grads))
