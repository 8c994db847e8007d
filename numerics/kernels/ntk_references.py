"""The NTK by torch.func, for any model ``fn(params, X) -> (p,)``: the references of the closed form.

Two generic ways to get an NTK Gram matrix (as in neural-tangents): Jacobian contraction J J^T
(``"jacobian"``) and NTK-vector products J (J^T e), one column at a time (``"vector-products"``).
:func:`reference_ntk` selects one by name; the closed form of ntk.py is tested and benchmarked
against both.
"""
from __future__ import annotations

import math

import torch

from .. import network as N
from .ntk import kernel_inputs, kernel_pair
from ...theory.errors import LazyrichError

def ntk_parametrization(params: dict, X: torch.Tensor) -> torch.Tensor:
    """f(x) = (1/sqrt h) sum_n beta_n relu(omega_n.x/sqrt d + b_n): the model the kernels describe."""
    omega, b, beta = params["omega"], params["b"], params["beta"]
    return torch.relu(N.preactivations(omega, b, X)) @ beta / math.sqrt(omega.shape[0])


def _jacobian(fn, params, X):
    """(p, P): the Jacobian of fn's outputs at the rows of X with respect to all parameters."""
    from torch.func import jacrev, vmap

    jac = vmap(jacrev(lambda prm, x: fn(prm, x[None])[0]), in_dims=(None, 0))(params, X)
    return torch.cat([jac[k].reshape(X.shape[0], -1) for k in params], 1)


def jacobian_ntk(fn, params: dict, X, Xp=None) -> torch.Tensor:
    """Theta = J(X) J(Xp)^T by Jacobian contraction (torch.func): any model fn(params, X) -> (p,)."""
    X, Xp, symmetric = kernel_pair(X, Xp, None, torch.float64)
    J = _jacobian(fn, params, X)
    return J @ (J if symmetric else _jacobian(fn, params, Xp)).T


def ntk_vector_products(fn, params: dict, X, chunk_size: int = 32, columns=None) -> torch.Tensor:
    """The Gram matrix as Theta e_mu = J (J^T e_mu), one vjp and one jvp per column.

    Columns are vmapped ``chunk_size`` at a time: each carries the model's intermediate
    activations (p x h for this network), so all p at once would need p^2 h numbers.
    ``columns``: indices of the columns wanted (all by default); returns (len(columns), p).
    """
    from torch.func import jvp, vjp, vmap

    X = kernel_inputs(X)
    _, pullback = vjp(lambda prm: fn(prm, X), params)

    def column(e):
        (cotangent,) = pullback(e)
        return jvp(lambda prm: fn(prm, X), (params,), (cotangent,))[1]

    basis = torch.eye(X.shape[0], dtype=X.dtype)
    return vmap(column, chunk_size=chunk_size)(basis if columns is None else basis[torch.as_tensor(columns)])


REFERENCES = {"jacobian": jacobian_ntk, "vector-products": ntk_vector_products}


def reference_ntk(name: str, fn, params: dict, X, **options) -> torch.Tensor:
    """The NTK Gram matrix of ``fn`` at ``params`` on the rows of X by the torch.func path ``name``."""
    if name not in REFERENCES:
        raise LazyrichError(f"unknown NTK reference {name!r}; choose one of {', '.join(REFERENCES)}")
    return REFERENCES[name](fn, params, X, **options)
