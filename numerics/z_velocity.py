"""Check: the derived neuron flow dz/dt = F(z) equals autograd through the parameter flow.

The reference never uses the derivation: it differentiates the network's loss with torch
autograd to get d theta/dt = -h grad L, then pushes that velocity through z(omega, b) with a
Jacobian-vector product. The prediction is the compiled symbolic formula evaluated at z, b,
beta, the data and g. The same run checks that the conserved quantity Q_n has zero rate and
that the activation condition in z agrees with the sign of the pre-activation.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict

import torch

from . import network as N
from .data import Dataset
from ..theory.derived import derive


@dataclass
class ZVelocityReport:
    loss: str
    h: int
    p: int
    d: int
    alpha: float
    zdot_max_rel_error: float
    conserved_max_rate: float
    activation_mismatches: int
    tolerance: float

    @property
    def passed(self) -> bool:
        return (self.zdot_max_rel_error <= self.tolerance and self.conserved_max_rate <= self.tolerance
                and self.activation_mismatches == 0)

    def to_json(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def reference_z_velocity(params: N.Params, X, y, f0, alpha, loss):
    """(theta_dot, z, dz/dt, dQ/dt) by autograd: theta_dot from the loss, then JVPs of z and Q."""
    z_of = derive("z-position").compile("torch", "z")
    Q_of = derive("conserved").compile("torch", "Q")
    vel = N.parameter_velocity(params, X, y, f0, alpha, loss)
    z, zdot = torch.func.jvp(lambda w, b: z_of(omega=w, b=b), (params.omega, params.b), (vel.omega, vel.b))
    _, Qdot = torch.func.jvp(lambda w, b, be: Q_of(omega=w, b=b, beta=be), params.tuple(), vel.tuple())
    return vel, z, zdot, Qdot


def predicted_z_velocity(z, params: N.Params, X, g, alpha):
    """The symbolic dz/dt, compiled to torch and summed over the training points."""
    return derive("z-velocity").compile("torch", "zdot")(z=z, b=params.b, beta=params.beta, x=X, g=g, alpha=alpha)


def check_z_velocity(data: Dataset, h: int = 16, alpha: float = 1.0, loss: str = "hinge", seed: int = 0,
                     tolerance: float = 1e-8) -> ZVelocityReport:
    """Compare prediction and autograd for h random neurons on ``data`` (float64)."""
    X = torch.as_tensor(data.X, dtype=torch.float64)
    y = torch.as_tensor(data.y, dtype=torch.float64)
    params = N.init_params(h, data.d, seed)
    # f_0 is a second random network, so the margins (and hence g) are spread out, not all zero
    f0 = N.output(*N.init_params(h, data.d, seed + 1).tuple(), X)
    m = N.margins(*params.tuple(), X, y, f0, alpha)
    g = N.loss_weights(m, y, loss)
    vel, z, zdot_ref, Qdot = reference_z_velocity(params, X, y, f0, alpha, loss)
    zdot = predicted_z_velocity(z, params, X, g, alpha)
    scale = zdot_ref.norm(dim=1).clamp_min(1e-300)
    rel = ((zdot - zdot_ref).norm(dim=1) / scale).max().item()
    # dQ/dt = 2 beta beta' - 2 omega.omega' - 2 b b' cancels exactly; measure it against its terms
    terms = (params.beta * vel.beta).abs() + (params.omega * vel.omega).sum(1).abs() + (params.b * vel.b).abs()
    qrate = (Qdot.abs() / terms.clamp_min(1e-300)).max().item()
    arg = derive("activation").compile("torch", "argument")(z=z, b=params.b, x=X)
    u = N.preactivations(params.omega, params.b, X)  # (p, h)
    mismatches = int(((arg > 0) != (u.T > 0)).sum().item())
    return ZVelocityReport(loss, h, data.p, data.d, alpha, rel, qrate, mismatches, tolerance)
