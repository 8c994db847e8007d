"""The field dz/dt = F(z) of one neuron for a fixed training set and loss weights g.

Everything is evaluated through the compiled derived objects of theory/: the z velocity, the
region field and its Jacobian, the activation condition and the switching surfaces. The
neuron's own parameters enter dz/dt only through the prefactor beta/(alpha b): its magnitude
rescales time and is set to 1 here, its sign (sign_beta * sign_b) sets the direction of time,
and sign_b alone decides which side of each switching sphere is active. So

    F(z) = sign_beta sign_b / (d p) * sum_mu g_mu Theta_mu(z) [(d + 2 x_mu.z) z - |z|^2 x_mu],

and the physical velocity is |beta/b|/alpha times this. Eigenvalues are reported in this unit.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

from ...theory import symbols as S
from ...theory import vectors as V
from ...theory.compile import InputError, compile_expression
from ...theory.derived import derive
from ..data import check_inputs
from ...theory.errors import LazyrichError


class FieldError(LazyrichError):
    """Bad data for the neuron field (shapes, NaN, signs)."""


@dataclass
class NeuronField:
    X: np.ndarray  # (p, d) training inputs
    g: np.ndarray  # (p,) loss weights (g = y early in training, with every point in the hinge)
    sign_b: int = 1
    sign_beta: int = 1

    def __post_init__(self):
        X = check_inputs(self.X, FieldError)
        g = np.asarray(self.g, dtype=np.float64)
        if g.shape != (X.shape[0],):
            raise FieldError(f"g must have shape (p,) = ({X.shape[0]},), got {g.shape}")
        if not np.isfinite(g).all():
            raise FieldError("g contains NaN or infinite values")
        for name in ("sign_b", "sign_beta"):
            if getattr(self, name) not in (1, -1):
                raise FieldError(f"{name} must be +1 or -1, got {getattr(self, name)!r}")
        self.X, self.g = X, g

    @property
    def p(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def time_sign(self) -> int:
        """+1 when the flow runs forward in the unit of this module, -1 when it is reversed."""
        return self.sign_b * self.sign_beta

    def _neuron(self, n):
        return {"b": np.full(n, float(self.sign_b)), "beta": np.full(n, float(self.sign_beta)), "alpha": 1.0}

    # -- the field and its pieces, all from theory/ -------------------------------------------
    def velocity(self, z) -> np.ndarray:
        """F(z) for a batch z (N, d) (the Filippov field is set-valued only on surfaces)."""
        z = self._points(z)
        return derive("z-velocity").compile("numpy", "zdot")(z=z, x=self.X, g=self.g, **self._neuron(len(z)))

    def argument(self, z) -> np.ndarray:
        """(N, p) activation argument b(|z|^2 - z.x): the neuron is active at x_mu where > 0."""
        z = self._points(z)
        return derive("activation").compile("numpy", "argument")(z=z, x=self.X, b=np.full(len(z), float(self.sign_b)))

    def surface(self, z) -> np.ndarray:
        """(N, p) S_mu(z) = |z|^2 - z.x_mu: zero on the switching sphere of x_mu."""
        z = self._points(z)
        return _surface()(z=z, x=self.X)

    def normals(self, z, idx) -> np.ndarray:
        """(k, d) gradients of S_mu at one point z for the training points idx."""
        z = self._points(np.reshape(z, (1, -1)))
        return _surface_gradient()(z=z, x=self.X[idx])[0]

    def region_field(self, z, G, m) -> np.ndarray:
        """F_A(z) of a region with weights (G, m) (one point z, one region): (d,)."""
        z = self._points(np.reshape(z, (1, -1)))
        out = derive("region-field").compile("numpy", "F")(
            z=z, G=np.atleast_1d(G), m_A=np.reshape(m, (1, -1)), p=self.p, **self._neuron(1))
        return np.asarray(out).reshape(-1, self.d)[0]

    def point_fields(self, z, idx) -> np.ndarray:
        """(k, d) the field of each single training point idx at z, times its g: columns of dF/dlambda."""
        idx = np.asarray(idx, dtype=int)
        z = self._points(np.reshape(z, (1, -1)))
        out = derive("region-field").compile("numpy", "F")(
            z=z, G=self.g[idx], m_A=self.g[idx, None] * self.X[idx], p=self.p, **self._neuron(1))
        return np.asarray(out).reshape(len(idx), self.d)

    def region_jacobian(self, z, G, m) -> np.ndarray:
        """dF_A/dz at one point for weights (G, m): (d, d)."""
        z = self._points(np.reshape(z, (1, -1)))
        out = derive("jacobian").compile("numpy", "J")(
            z=z, G=np.atleast_1d(G), m_A=np.reshape(m, (1, -1)), p=self.p, d=self.d, **self._neuron(1))
        return np.asarray(out).reshape(self.d, self.d)

    def weights(self, mask) -> tuple[np.ndarray, np.ndarray]:
        """(G, m) of the active sets given as (N, p) weights in [0, 1] (Filippov weights allowed)."""
        mask = np.asarray(mask, dtype=np.float64)
        return mask @ self.g, mask @ (self.g[:, None] * self.X)

    def _points(self, z) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.d:
            raise InputError(f"z must have shape (N, d) with d = {self.d}, got {z.shape}")
        return z

    @cached_property
    def scale(self) -> float:
        """A length: the largest |x_mu| (the switching spheres have diameter |x_mu|)."""
        return float(max(np.linalg.norm(self.X, axis=1).max(), 1e-300))


@cache
def per_neuron_region_field(backend: str = "torch"):
    """The region field of theory/ with weights (G_n, m_n) of each neuron's own region."""
    F = derive("region-field").equation("F").term
    F = V.substitute(F.subs(S.G, S.G_n), {S.m_A: S.m_n})
    return compile_expression(F, (), backend)


@cache
def per_neuron_surface_gradient(backend: str = "torch"):
    """grad S(z) for one point x_n per neuron (theory/'s switching surface)."""
    level = derive("switching-surface").equation("level").term
    return compile_expression(V.substitute(V.grad(level, S.z), {S.x: S.x_n}), (), backend)


@cache
def _surface():
    level = derive("switching-surface").equation("level").term
    return compile_expression(level, (), "numpy")


@cache
def _surface_gradient():
    level = derive("switching-surface").equation("level").term
    return compile_expression(V.grad(level, S.z), (), "numpy")
