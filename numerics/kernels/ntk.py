"""The NTK and NNGP of the one-hidden-layer ReLU network: infinite width, finite width, and torch.func.

Every kernel here is in NTK scaling, f = (1/sqrt h) sum_n beta_n relu(u_n(x)): O(1) as h grows.
The simulator's network has 1/h instead (notes/conventions.md); its finite NTK is this one
divided by h, so a trained simulator network gives its kernel with :func:`empirical_ntk` of
its parameters, and the function-space flow is dF/dt = (1/p) sum_mu g_mu Theta(x, x_mu).

- :func:`analytic_kernel`: the infinite-width NTK or NNGP derived in theory/ (``ntk-infinite``,
  ``nngp``), evaluated in tiles with an angle that stays exact for nearly parallel inputs.
- :func:`analytic_kernel_mp`: the same expectation by one-dimensional mpmath quadrature, an
  independent high-precision check (it does not use the closed form).
- :func:`empirical_ntk`: the finite-width NTK from two matrix products per tile,
  Theta = [A A'^T + (D D'^T) * (X X'^T/d + 1)]/h with A = relu(U) and D = beta step(U): the
  structure of the derived ``ntk-finite`` term, without forming any per-sample Jacobian.
- the generic torch.func paths for any model ``fn(params, X)``, the references the closed form
  is checked and benchmarked against, are in ntk_references.py, selectable by name.

Gram matrices (one argument) are symmetric: only the tiles on and above the diagonal are
computed and the others mirrored (a diagonal tile from its upper triangle), so that K = K^T
exactly. ``out`` may be a numpy array or memmap (np.lib.format.open_memmap)
so that p up to 10^5 needs memory for a few tiles only, besides the output itself.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import torch

from .. import network as N
from ..data import check_inputs
from ...theory.errors import LazyrichError

KINDS = ("ntk", "nngp")
MAX_TILE = {"cpu": 2048, "cuda": 8192}
FEATURE_MEMORY = 2 ** 30  # bytes: below this the hidden features of all points are kept, not recomputed


class KernelError(LazyrichError):
    """Bad input to a kernel function (shapes, NaN, an unknown kind)."""


# ----------------------------------------------------------------------------- tiling
def kernel_inputs(X, device=None, dtype=torch.float64) -> torch.Tensor:
    """Inputs as a float tensor, after the shared checks (2-d, non-empty, finite)."""
    if isinstance(X, torch.Tensor):
        arr = X.detach()
        check_inputs(arr.cpu().numpy(), KernelError)
        return arr.to(device=device if device is not None else arr.device, dtype=dtype)
    arr = np.asarray(X, dtype=np.float64)
    check_inputs(arr, KernelError)
    return torch.as_tensor(arr, dtype=dtype, device=device)


def kernel_pair(X, Xp, device, dtype):
    X = kernel_inputs(X, device, dtype)
    if Xp is None:
        return X, X, True
    Xp = kernel_inputs(Xp, X.device, dtype)
    if Xp.shape[1] != X.shape[1]:
        raise KernelError(f"X has d = {X.shape[1]} but Xp has d = {Xp.shape[1]}")
    return X, Xp, False


def auto_tile(p: int, device) -> int:
    """Tile size: about p/4, so that a Gram matrix computes 10 of 16 tiles rather than all of
    them, but not below 128 (small products run far from peak) nor above a size whose features
    and blocks stay within a few hundred MB."""
    largest = MAX_TILE["cuda" if torch.device(device).type == "cuda" else "cpu"]
    return int(min(largest, max(128, 64 * math.ceil(p / 4 / 64))))


def tiled_gram(block, p: int, q: int, symmetric: bool, tile: int | None, out=None, device="cpu",
               dtype=torch.float64, progress=None):
    """Assemble K (p, q) from ``block(rows, cols)`` (two slices) tile by tile.

    With ``symmetric`` only tiles with column start >= row start are computed; their transposes
    fill the rest. ``out``: a numpy array (or memmap) to write into, else a new torch tensor.
    ``tile``: rows and columns per tile (default :func:`auto_tile`).
    """
    tile = auto_tile(max(p, q), device) if tile is None else tile
    if tile < 1:
        raise KernelError(f"tile must be a positive integer, got {tile}")
    if out is not None and tuple(out.shape) != (p, q):
        raise KernelError(f"out has shape {tuple(out.shape)}, the kernel is ({p}, {q})")
    K = out if out is not None else torch.empty((p, q), dtype=dtype, device=device)

    def put(r, c, value):
        if isinstance(K, torch.Tensor):
            K[r, c] = value
        else:
            K[r, c] = value.cpu().numpy()

    starts = range(0, p, tile)
    for i in starts:
        rows = slice(i, min(i + tile, p))
        for j in range(i if symmetric else 0, q, tile):
            cols = slice(j, min(j + tile, q))
            value = block(rows, cols)
            if symmetric and j == i:  # a matrix product is symmetric only up to rounding: mirror it
                value = torch.triu(value) + torch.triu(value, 1).T
            put(rows, cols, value)
            if symmetric and j != i:
                put(cols, rows, value.T)
        if progress is not None:
            progress(rows.stop, p)
    return K


# ----------------------------------------------------------------------------- infinite width
def _angle_terms(X, Xp, d):
    """(S, Sigma, theta) of the derived kernels on one tile, with theta exact near 0.

    Sigma = x.x'/d + 1 and S = sqrt(s^2 s'^2 - Sigma^2) as in theory/ (``ntk-infinite``), from
    one matrix product. For nearly parallel augmented inputs a = (x/sqrt d, 1), S^2 loses all its
    digits to cancellation (the error of theta would be ~1e-8); there theta is recomputed from
    the chord of the unit vectors, theta = 2 asin(|a/|a| - a'/|a'|| / 2), which is exact.
    """
    s2 = (X * X).sum(1) / d + 1
    s2p = (Xp * Xp).sum(1) / d + 1
    Sigma = X @ Xp.T / d + 1
    # |a||a'| from the norms, not sqrt(s^2 s'^2): the product of squares overflows from |x| ~ 1e77,
    # inside the accepted data scale; S and the cosine come from it
    root = s2.sqrt()[:, None] * s2p.sqrt()[None, :]
    cos = torch.clamp(Sigma / root, -1.0, 1.0)
    sin2 = torch.clamp(1 - cos * cos, min=0.0)
    S = root * sin2.sqrt()
    theta = torch.atan2(sin2.sqrt(), cos)
    near = (sin2 < 1e-4).nonzero(as_tuple=True)
    if near[0].numel():
        r, c = near
        a = torch.cat([X[r] / math.sqrt(d), torch.ones_like(r, dtype=X.dtype)[:, None]], 1) / s2[r, None].sqrt()
        ap = torch.cat([Xp[c] / math.sqrt(d), torch.ones_like(c, dtype=X.dtype)[:, None]], 1) / s2p[c, None].sqrt()
        chord = torch.linalg.vector_norm(a - ap, dim=1)
        th = 2 * torch.asin(torch.clamp(chord / 2, max=1.0))
        theta[r, c] = th
        S[r, c], Sigma[r, c] = root[r, c] * torch.sin(th), root[r, c] * torch.cos(th)
    return S, Sigma, theta


def analytic_kernel(X, Xp=None, kind: str = "ntk", tile: int | None = None, device=None, out=None,
                    dtype=torch.float64):
    """The infinite-width NTK (default) or NNGP between the rows of X and of Xp (default X).

    Theta = (S + 2 (pi - theta) Sigma)/(2 pi), K = (S + (pi - theta) Sigma)/(2 pi), derived in
    theory/infinite_width.py and tested against the compiled derived objects.
    Returns a torch tensor (p, q), or ``out`` filled in.
    """
    if kind not in KINDS:
        raise KernelError(f"unknown kernel kind {kind!r}; choose one of {', '.join(KINDS)}")
    X, Xp, symmetric = kernel_pair(X, Xp, device, dtype)
    d = X.shape[1]
    weight = 2.0 if kind == "ntk" else 1.0

    def block(rows, cols):
        S, Sigma, theta = _angle_terms(X[rows], Xp[cols], d)
        return (S + weight * (math.pi - theta) * Sigma) / (2 * math.pi)

    return tiled_gram(block, X.shape[0], Xp.shape[0], symmetric, tile, out, X.device, dtype)


def analytic_kernel_mp(x, xp, kind: str = "ntk", dps: int = 30):
    """One entry of the infinite-width kernel by mpmath quadrature, independent of the closed form.

    Condition on u = omega.x/sqrt d + b ~ N(0, s^2): u' | u is N(Sigma u/s^2, tau^2) with
    tau^2 = s'^2 - Sigma^2/s^2, so E[relu(u') | u] = m Phi(m/tau) + tau phi(m/tau) and
    E[step(u') | u] = Phi(m/tau); one integral over u > 0 remains.
    """
    if kind not in KINDS:
        raise KernelError(f"unknown kernel kind {kind!r}; choose one of {', '.join(KINDS)}")
    with mpmath.workdps(dps):
        x = [mpmath.mpf(float(v)) for v in np.asarray(x, dtype=np.float64).ravel()]
        xp = [mpmath.mpf(float(v)) for v in np.asarray(xp, dtype=np.float64).ravel()]
        d = len(x)
        dot = lambda a, c: mpmath.fsum(ai * ci for ai, ci in zip(a, c))  # noqa: E731
        s2, s2p, Sigma = dot(x, x) / d + 1, dot(xp, xp) / d + 1, dot(x, xp) / d + 1
        tau2 = max(s2p - Sigma ** 2 / s2, mpmath.mpf(0))
        tau = mpmath.sqrt(tau2)
        density = lambda u: mpmath.npdf(u, 0, mpmath.sqrt(s2))  # noqa: E731

        def relu_given(u):
            m = Sigma * u / s2
            return max(m, 0) if tau == 0 else m * mpmath.ncdf(m / tau) + tau * mpmath.npdf(m / tau)

        def step_given(u):
            m = Sigma * u / s2
            return (1 if m > 0 else 0) if tau == 0 else mpmath.ncdf(m / tau)

        nngp = mpmath.quad(lambda u: u * relu_given(u) * density(u), [0, mpmath.inf])
        if kind == "nngp":
            return nngp
        return nngp + Sigma * mpmath.quad(lambda u: step_given(u) * density(u), [0, mpmath.inf])


# ----------------------------------------------------------------------------- finite width
def _check_params(omega, b, beta, d):
    omega, b, beta = (torch.as_tensor(t) for t in (omega, b, beta))
    if omega.ndim != 2 or b.shape != (omega.shape[0],) or beta.shape != (omega.shape[0],):
        raise KernelError(f"parameters must be omega (h, d), b (h,), beta (h,); got {tuple(omega.shape)}, "
                          f"{tuple(b.shape)}, {tuple(beta.shape)}")
    if omega.shape[0] == 0:
        raise KernelError("the network has no neurons (h = 0)")
    if omega.shape[1] != d:
        raise KernelError(f"omega has d = {omega.shape[1]} but the inputs have d = {d}")
    for name, t in (("omega", omega), ("b", b), ("beta", beta)):
        if not bool(torch.isfinite(t).all()):
            raise KernelError(f"{name} contains NaN or infinite values")
    return omega, b, beta


def hidden_features(omega, b, beta, Z):
    """(A, D) at the rows of Z: A = relu(U) and D = beta step(U), U = Z omega^T/sqrt d + b (p, h).

    The two factors of every finite-width NTK here: Theta = [A A'^T + (D D'^T) * (Z Z'^T/d + 1)]/h.
    """
    U = N.preactivations(omega, b, Z)
    return torch.relu(U), (U > 0).to(U.dtype) * beta


def neuron_terms(omega, b, beta, X) -> torch.Tensor:
    """(h, p, p): each neuron's NTK term on the rows of X; their mean is :func:`empirical_ntk`.

    For Monte Carlo error bars (the spread over neurons); memory h p^2, so for small p only.
    """
    X = kernel_inputs(X)
    omega, b, beta = (t.to(torch.float64) for t in _check_params(omega, b, beta, X.shape[1]))
    A, D = hidden_features(omega, b, beta, X)
    return torch.einsum("pn,qn->npq", A, A) + torch.einsum("pn,qn->npq", D, D) * (X @ X.T / X.shape[1] + 1)


def empirical_ntk(omega, b, beta, X, Xp=None, tile: int | None = None, out=None, device=None,
                  dtype=torch.float64, progress=None):
    """The finite-width NTK (NTK scaling) of one network, from matrix products, tile by tile.

    Per neuron the derived term is relu(u) relu(u') + beta^2 step(u) step(u') (x.x'/d + 1)
    (``derive('ntk-finite')`` times h^2; the mean over neurons is the NTK-scaled kernel).
    """
    X, Xp, symmetric = kernel_pair(X, Xp, device, dtype)
    d = X.shape[1]
    omega, b, beta = (t.to(device=X.device, dtype=dtype) for t in _check_params(omega, b, beta, d))
    h = omega.shape[0]
    features = lambda Z: hidden_features(omega, b, beta, Z)  # noqa: E731

    # keep the features of all points when they fit: each is then computed once, not per tile
    keep = 2 * (X.shape[0] + (0 if symmetric else Xp.shape[0])) * h * X.element_size() <= FEATURE_MEMORY
    rows_f = features(X) if keep else None
    cols_f = rows_f if (keep and symmetric) else (features(Xp) if keep else None)

    def block(rows, cols):
        A, D = (t[rows] for t in rows_f) if keep else features(X[rows])
        Ap, Dp = (t[cols] for t in cols_f) if keep else features(Xp[cols])
        K = (D @ Dp.T).mul_(torch.addmm(torch.ones((), dtype=dtype, device=X.device), X[rows], Xp[cols].T,
                                        alpha=1.0 / d))
        return K.addmm_(A, Ap.T).div_(h)

    return tiled_gram(block, X.shape[0], Xp.shape[0], symmetric, tile, out, X.device, dtype, progress)


def compressed_ntk_parts(omega, b, beta, X, Xp=None, informative=(0,)):
    """(Theta_par, Theta_perp) of a compressed network (NTK scaling), as in ``derive('ntk-compressed')``.

    Theta(x, x') = Theta_par(x_par, x'_par) + Theta_perp(x_par, x'_par) x_perp.x'_perp when every
    omega_n lies in the coordinates ``informative``. The derived coefficients are those of the
    finite NTK evaluated on x_par (the pre-activations do not see x_perp), and
    beta^2 step(u) step(u')/d summed over neurons, i.e. D D'^T/(h d): matrix products again.
    Refuses networks that are not compressed.
    """
    X, Xp, symmetric = kernel_pair(X, Xp, None, torch.float64)
    d = X.shape[1]
    omega, b, beta = (t.to(torch.float64) for t in _check_params(omega, b, beta, d))
    mask = torch.zeros(d, dtype=torch.bool)
    mask[list(informative)] = True
    leak = omega[:, ~mask].abs().max().item() if (~mask).any() else 0.0
    if leak > 1e-12 * max(1.0, omega.abs().max().item()):
        raise KernelError(f"the network is not compressed: |omega| off the informative coordinates {list(informative)} "
                          f"reaches {leak:.3g}")
    par, parp = X * mask, Xp * mask
    theta_par = empirical_ntk(omega, b, beta, par, None if symmetric else parp)
    D = hidden_features(omega, b, beta, par)[1]
    Dp = D if symmetric else hidden_features(omega, b, beta, parp)[1]
    return theta_par, D @ Dp.T / (omega.shape[0] * d)
