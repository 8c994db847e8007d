"""E independent networks with stacked weights, evaluated with batched matrix products.

Shapes: omega (E, h, d), b (E, h), beta (E, h), alpha (E,), data X (p, d) shared by all.
The parameter velocity is the derived flow of theory/ (``lazyrich derive parameter-flow``),
written here in batched matrix form for speed; tests check it against autograd and against
the compiled symbolic flow. The loss and its weight g are compiled from theory.losses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cache

import torch

from ..theory import losses as L
from ..theory import symbols as S
from ..theory.compile import elementwise


@dataclass
class Ensemble:
    omega: torch.Tensor  # (E, h, d)
    b: torch.Tensor  # (E, h)
    beta: torch.Tensor  # (E, h)

    @property
    def E(self) -> int:
        return self.omega.shape[0]

    @property
    def h(self) -> int:
        return self.omega.shape[1]

    @property
    def d(self) -> int:
        return self.omega.shape[2]

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def map(self, fn) -> "Ensemble":
        return Ensemble(*(fn(t) for t in self.tensors()))

    def select(self, idx) -> "Ensemble":
        return self.map(lambda t: t[idx])

    def axpy(self, scale: torch.Tensor, other: "Ensemble") -> "Ensemble":
        """self + scale[e] * other, per network."""
        return Ensemble(*(t + scale.view(-1, *[1] * (t.dim() - 1)) * o for t, o in zip(self.tensors(), other.tensors())))

    def where(self, mask: torch.Tensor, other: "Ensemble") -> "Ensemble":
        """Per network: self where mask, else other."""
        return Ensemble(*(torch.where(mask.view(-1, *[1] * (t.dim() - 1)), t, o)
                          for t, o in zip(self.tensors(), other.tensors())))

    def norm(self) -> torch.Tensor:
        return torch.sqrt(sum((t ** 2).flatten(1).sum(1) for t in self.tensors()))


def init_ensemble(seeds, h: int, d: int, dtype=torch.float64, device="cpu") -> Ensemble:
    """Standard normal weights; network e drawn from its own seed (same as a lone network's)."""
    parts = []
    for seed in seeds:
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        parts.append([torch.randn(*shape, generator=gen, dtype=torch.float64) for shape in ((h, d), (h,), (h,))])
    return Ensemble(*(torch.stack([p[i] for p in parts]).to(device=device, dtype=dtype) for i in range(3)))


def preactivations(ens: Ensemble, X: torch.Tensor) -> torch.Tensor:
    """u[e, mu, n] = omega_en . x_mu / sqrt(d) + b_en."""
    return torch.einsum("pd,ehd->eph", X, ens.omega) / math.sqrt(ens.d) + ens.b[:, None, :]


def outputs(ens: Ensemble, X: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
    """f[e, mu] = (1/h) sum_n beta_en relu(u[e, mu, n])."""
    u = preactivations(ens, X) if u is None else u
    return torch.einsum("eph,eh->ep", torch.relu(u), ens.beta) / ens.h


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


def velocity(ens: Ensemble, X, y, f0, alpha, loss: str, fix_orientation: bool = False):
    """The parameter velocity -h grad L of every network, with the outputs and margins it used.

    ``fix_orientation``: keep every omega_n on its initial line (only its norm, b and beta train):
    the omega velocity is projected onto omega_n, so that an Euler step
    omega + dt (v.w) w = (|omega| + dt v.w) w, with w = omega/|omega|, changes the norm only. This
    is the flow of omega_n = s_n w_n with a trained scalar s_n and a fixed unit vector w_n: s_n
    may pass through 0, and the direction then reverses (the flow crosses s = 0 transversally).
    Returns (velocity Ensemble, f (E, p), margins (E, p), g (E, p)).
    """
    _, gfun = loss_functions(loss)
    u = preactivations(ens, X)
    act = torch.relu(u)
    f = torch.einsum("eph,eh->ep", act, ens.beta) / ens.h
    m = y * alpha[:, None] * (f - f0)
    g = gfun(m, y)
    p = X.shape[0]
    scale = 1.0 / (alpha * p)  # (E,)
    gact = g[:, :, None] * (u > 0).to(u.dtype)  # (E, p, h): g_mu Theta(u)
    domega = torch.einsum("eph,pd->ehd", gact, X) * (ens.beta * scale[:, None] / math.sqrt(ens.d))[:, :, None]
    if fix_orientation:
        domega = _along(domega, ens.omega)
    db = gact.sum(1) * ens.beta * scale[:, None]
    dbeta = torch.einsum("ep,eph->eh", g, act) * scale[:, None]
    return Ensemble(domega, db, dbeta), f, m, g


def _along(v: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """The component of v (E, h, d) along each omega_n; zero for a neuron with omega_n = 0,
    which has no direction to keep."""
    ww = (omega * omega).sum(-1, keepdim=True)
    coef = (v * omega).sum(-1, keepdim=True) / ww.clamp_min(1e-300)
    return torch.where(ww > 0, coef * omega, torch.zeros_like(v))


def mean_loss(m: torch.Tensor, alpha: torch.Tensor, loss: str) -> torch.Tensor:
    """L = (1/(alpha^2 p)) sum_mu l(m_mu), per network."""
    ell, _ = loss_functions(loss)
    return ell(m).mean(1) / alpha ** 2
