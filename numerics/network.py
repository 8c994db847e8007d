"""The one definition of the talk's network: f(x) = (1/h) sum_n beta_n relu(omega_n.x/sqrt(d) + b_n).

Everything here works for one network (omega (h, d), b (h,), beta (h,)) and for a stack of E
networks trained together (omega (E, h, d), b (E, h), beta (E, h)); data X (p, d) are shared.

- :class:`Params`: the parameters, one network or a stack; :func:`init_ensemble` draws them, with an
  optional scale tau and imbalance delta per neuron (:func:`balanced_norms`);
- :func:`preactivations`, :func:`output`: u = X omega^T/sqrt(d) + b and f, torch or numpy;
- :func:`loss_functions`: l(m) and g = -l'(m) y compiled from theory.losses (never typed twice);
  :func:`margins` and :func:`mean_loss` of the alpha-trick, L = (1/(alpha^2 p)) sum_mu l(m_mu);
- :func:`velocity`: the derived parameter flow (``lazyrich derive parameter-flow``) in batched
  matrix form, what the simulator integrates; :func:`parameter_velocity`: the same flow by
  autograd of the loss, the independent reference it is tested against;
- :func:`neuron_positions`: z = -sqrt(d) b omega/|omega|^2, compiled from theory's z-position;
- :func:`resolve_device`: "auto", "cpu" or "cuda" to a torch device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cache

import numpy as np
import torch

from ..theory import losses as L
from ..theory import symbols as S
from ..theory.compile import elementwise
from ..theory.derived import derive
from ..theory.errors import LazyrichError


class DeviceError(LazyrichError):
    """A device that cannot be used (cuda asked for without a CUDA device)."""


# ---------------------------------------------------------------------------------- parameters
@dataclass
class Params:
    """omega (..., h, d), b (..., h), beta (..., h): one network, or E stacked along a first axis."""

    omega: torch.Tensor
    b: torch.Tensor
    beta: torch.Tensor

    @property
    def E(self) -> int:
        """The number of stacked networks (the first axis; a stack only)."""
        return self.omega.shape[0]

    @property
    def h(self) -> int:
        return self.omega.shape[-2]

    @property
    def d(self) -> int:
        return self.omega.shape[-1]

    def tuple(self) -> tuple[torch.Tensor, ...]:
        """(omega, b, beta), for the functions that take them one by one."""
        return tuple(getattr(self, f.name) for f in fields(self))

    def map(self, fn) -> "Params":
        return Params(*(fn(t) for t in self.tuple()))

    def select(self, idx) -> "Params":
        """Networks ``idx`` of a stack (an integer index gives one network)."""
        return self.map(lambda t: t[idx])

    def axpy(self, scale: torch.Tensor, other: "Params") -> "Params":
        """self + scale[e] * other, per network of a stack."""
        return Params(*(t + scale.view(-1, *[1] * (t.dim() - 1)) * o for t, o in zip(self.tuple(), other.tuple())))

    def where(self, mask: torch.Tensor, other: "Params") -> "Params":
        """Per network of a stack: self where mask, else other."""
        return Params(*(torch.where(mask.view(-1, *[1] * (t.dim() - 1)), t, o)
                        for t, o in zip(self.tuple(), other.tuple())))

    def norm(self) -> torch.Tensor:
        """The Euclidean norm of all parameters, per network of a stack."""
        return torch.sqrt(sum((t ** 2).flatten(1).sum(1) for t in self.tuple()))

    def flat(self) -> np.ndarray:
        """One network's parameters as one float64 vector (omega row by row, then b, then beta)."""
        return torch.cat([self.omega.reshape(-1), self.b, self.beta]).detach().numpy()

    @classmethod
    def from_flat(cls, v, h: int, d: int) -> "Params":
        v = torch.as_tensor(v)
        return cls(v[: h * d].reshape(h, d), v[h * d: h * d + h], v[h * d + h:])


def init_ensemble(seeds, h: int, d: int, dtype=torch.float64, device="cpu", init_scale=None, imbalance=None,
                  lr=(1.0, 1.0)) -> Params:
    """Standard normal omega, b and beta (the talk's initialisation) for a stack of networks:
    network e is drawn from its own seed, so it is the same network whatever the stack.

    ``init_scale`` tau and ``imbalance`` delta (either one; the other defaults to tau = 1, delta = 0)
    keep each neuron's drawn directions, (omega_n, b_n)/|(omega_n, b_n)| and sign(beta_n), and set its
    norms so that |beta_n| |(omega_n, b_n)| = tau^2 and delta_n = eta_1 beta_n^2 - eta_2 |(omega_n, b_n)|^2
    = delta (``balanced_norms``); ``lr`` = (eta_1, eta_2). Without either, the draws are untouched."""
    parts = []
    for seed in seeds:
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        parts.append([torch.randn(*shape, generator=gen, dtype=torch.float64) for shape in ((h, d), (h,), (h,))])
    params = Params(*(torch.stack([p[i] for p in parts]) for i in range(3)))
    if init_scale is not None or imbalance is not None:
        params = _with_norms(params, 1.0 if init_scale is None else init_scale, 0.0 if imbalance is None else imbalance,
                             lr)
    return params.map(lambda t: t.to(device=device, dtype=dtype))


def balanced_norms(init_scale: float, imbalance: float, lr=(1.0, 1.0)) -> tuple[float, float]:
    """(|(omega, b)|, |beta|) of a neuron with |beta| |(omega, b)| = tau^2 and eta_1 beta^2 - eta_2 |(omega, b)|^2
    = delta: eta_1 beta^2 = (delta + sqrt(delta^2 + 4 eta_1 eta_2 tau^4))/2, and the first layer's from the
    product. Every delta is reachable for every tau > 0 (as for the single neuron's a and w)."""
    eta1, eta2 = lr
    root = math.sqrt(imbalance ** 2 + 4 * eta1 * eta2 * init_scale ** 4)
    # the difference of two nearly equal numbers loses digits: take the larger root, the other from the product
    if imbalance >= 0:
        beta2 = (imbalance + root) / (2 * eta1)
        first2 = init_scale ** 4 / beta2
    else:
        first2 = (root - imbalance) / (2 * eta2)
        beta2 = init_scale ** 4 / first2
    return math.sqrt(first2), math.sqrt(beta2)


def _with_norms(params: Params, init_scale: float, imbalance: float, lr) -> Params:
    first, second = balanced_norms(init_scale, imbalance, lr)
    norm = torch.sqrt((params.omega ** 2).sum(-1) + params.b ** 2)
    scale = first / norm
    beta = torch.where(params.beta < 0, -second, second).to(params.beta.dtype)
    return Params(params.omega * scale[..., None], params.b * scale, beta)


def init_params(h: int, d: int, seed: int = 0, dtype=torch.float64, device="cpu", **init) -> Params:
    """One network: network ``seed`` of an ensemble."""
    return init_ensemble([seed], h, d, dtype=dtype, device=device, **init).select(0)


# ---------------------------------------------------------------------------------- the function
def preactivations(omega, b, X):
    """u[..., mu, n] = omega_n . x_mu / sqrt(d) + b_n: (p, h) for one network, (E, p, h) for a stack.

    Torch tensors or numpy arrays (the same formula for both; numpy's einsum is told to use BLAS)."""
    xp, options = (torch, {}) if torch.is_tensor(X) else (np, {"optimize": True})
    return xp.einsum("pd,...hd->...ph", X, omega, **options) / math.sqrt(X.shape[-1]) + b[..., None, :]


def output(omega, b, beta, X, act=None) -> torch.Tensor:
    """f(x_mu) = (1/h) sum_n beta_n relu(u_n(x_mu)): (p,) for one network, (E, p) for a stack.
    ``act``: the hidden activations relu(u), when the caller has them already."""
    act = torch.relu(preactivations(omega, b, X)) if act is None else act
    return torch.einsum("...ph,...h->...p", act, beta) / omega.shape[-2]


@cache
def loss_functions(loss: str):
    """(l(m), g(m, y)) compiled from the symbolic losses, with the default soft-hinge sharpness."""
    name = L.canonical_loss(loss)
    a = L.DEFAULT_SOFTNESS
    ell = elementwise(L.loss(name).subs(S.softness, a), [S.margin], "torch")
    g_raw = elementwise(L.loss_weight(name).subs(S.softness, a), [S.margin, S.y], "torch")

    def g(m, y):  # always an array like m, also for a weight that would not depend on m
        out = g_raw(m, y)
        return out if torch.is_tensor(out) else torch.full_like(m, float(out))

    return ell, g


def pointwise_loss(margin: torch.Tensor, loss: str) -> torch.Tensor:
    """l(m), compiled from the symbolic loss."""
    return loss_functions(loss)[0](margin)


def loss_weights(margin: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """g_mu = -l'(m_mu) y_mu from the symbolic derivative of the loss."""
    return loss_functions(loss)[1](margin, y)


def margins(omega, b, beta, X, y, f0, alpha) -> torch.Tensor:
    """m_mu = y_mu alpha (f(x_mu) - f_0(x_mu)), the alpha-trick's margins."""
    return y * alpha * (output(omega, b, beta, X) - f0)


def mean_loss(m: torch.Tensor, alpha, loss: str) -> torch.Tensor:
    """L = (1/(alpha^2 p)) sum_mu l(m_mu) from the margins (..., p); alpha a number or (E,)."""
    return pointwise_loss(m, loss).mean(-1) / alpha ** 2


# ---------------------------------------------------------------------------------- the flow
def velocity(params: Params, X, y, f0, alpha, loss: str, fix_orientation: bool = False, lr=(1.0, 1.0)):
    """The parameter velocity -h grad L of every network of a stack, with the outputs and margins it used.

    ``lr`` = (eta_1, eta_2): the learning rates of the first layer (omega, b) and of beta, which
    multiply their rates (both 1 by default: the talk's flow).

    The derived flow of theory/ in batched matrix form (tests check it against autograd and the
    compiled symbolic flow). ``fix_orientation``: keep every omega_n on its initial line (only its
    norm, b and beta train): the omega velocity is projected onto omega_n, so that an Euler step
    omega + dt (v.w) w = (|omega| + dt v.w) w, with w = omega/|omega|, changes the norm only. This
    is the flow of omega_n = s_n w_n with a trained scalar s_n and a fixed unit vector w_n: s_n
    may pass through 0, and the direction then reverses (the flow crosses s = 0 transversally).
    Returns (velocity Params, f (E, p), margins (E, p), g (E, p)).
    """
    _, gfun = loss_functions(loss)
    u = preactivations(params.omega, params.b, X)
    act = torch.relu(u)
    f = output(params.omega, params.b, params.beta, X, act)
    m = y * alpha[:, None] * (f - f0)
    g = gfun(m, y)
    p = X.shape[0]
    scale = 1.0 / (alpha * p)  # (E,)
    gact = g[:, :, None] * (u > 0).to(u.dtype)  # (E, p, h): g_mu Theta(u)
    domega = torch.einsum("eph,pd->ehd", gact, X) * (params.beta * scale[:, None] / math.sqrt(params.d))[:, :, None]
    if fix_orientation:
        domega = _along(domega, params.omega)
    db = gact.sum(1) * params.beta * scale[:, None]
    dbeta = torch.einsum("ep,eph->eh", g, act) * scale[:, None]
    if tuple(lr) != (1.0, 1.0):
        domega, db, dbeta = lr[0] * domega, lr[0] * db, lr[1] * dbeta
    return Params(domega, db, dbeta), f, m, g


def _along(v: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """The component of v (E, h, d) along each omega_n; zero for a neuron with omega_n = 0,
    which has no direction to keep."""
    ww = (omega * omega).sum(-1, keepdim=True)
    coef = (v * omega).sum(-1, keepdim=True) / ww.clamp_min(1e-300)
    return torch.where(ww > 0, coef * omega, torch.zeros_like(v))


def parameter_velocity(params: Params, X, y, f0, alpha, loss="hinge", lr=(1.0, 1.0)) -> Params:
    """d theta/dt = -h eta grad_theta L of one network, by autograd (the reference for the derived flow)."""
    leaves = [t.detach().requires_grad_(True) for t in params.tuple()]
    L = mean_loss(margins(*leaves, X, y, f0, alpha), alpha, loss)
    grads = torch.autograd.grad(L, leaves)
    return Params(*(-params.h * rate * gr for rate, gr in zip((lr[0], lr[0], lr[1]), grads)))


def flat_velocity(X, y, f0, alpha, loss, h: int, d: int, lr=(1.0, 1.0)):
    """rhs(t, v) of one network's parameter flow on flat vectors, for scipy's solve_ivp (the reference)."""
    def rhs(_, v):
        return parameter_velocity(Params.from_flat(v, h, d), X, y, f0, alpha, loss, lr).flat()

    return rhs


# ---------------------------------------------------------------------------------- positions
def neuron_positions(omega, b):
    """z = -sqrt(d) b omega/|omega|^2 of every neuron, from theory's z-position, for one network
    (omega (h, d), b (h,)) or a stack; torch or numpy. NaN where omega = 0 (no hyperplane) or where
    the parameters are not finite; during training a b_n may pass through 0, where z is 0."""
    is_torch = torch.is_tensor(omega)
    xp = torch if is_torch else np
    omega = omega if is_torch else np.asarray(omega, dtype=np.float64)
    b = b if is_torch else np.asarray(b, dtype=np.float64)
    d = omega.shape[-1]
    flat_omega, flat_b = omega.reshape(-1, d), b.reshape(-1)
    ok = ((flat_omega ** 2).sum(-1) > 0) & xp.isfinite(flat_omega).all(-1) & xp.isfinite(flat_b)
    z = xp.full_like(flat_omega, float("nan"))
    if bool(ok.any()):
        z[ok] = derive("z-position").compile("torch" if is_torch else "numpy", "z")(omega=flat_omega[ok], b=flat_b[ok])
    return z.reshape(omega.shape)


# ---------------------------------------------------------------------------------- devices
def resolve_device(name: str) -> torch.device:
    """"auto" (cuda when there is one), "cpu", "cuda" or "cuda:N" as a torch device."""
    name = str(name)
    if not (name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit())):
        raise DeviceError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("device cuda requested but no CUDA device is available (use --device cpu or auto)")
    return torch.device(name)
