"""Integrators of the parameter flow: one small object each, passed to the run (diffrax's spirit).

An integrator takes one trial step of every live network and measures, for the step-size
controller (step_control.py), how far the step went: the change of the outputs and the turn of
the velocity, each in units of its tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import network as N


@dataclass
class Trial:
    """A trial step of every live network: the new state and its error measures (<= 1 passes)."""
    theta: N.Params
    vel: N.Params
    f: torch.Tensor
    m: torch.Tensor
    r_out: torch.Tensor  # the largest change of F = alpha (f - f_0) over the step, over tol_output
    r_dir: torch.Tensor  # 1 - cos between the velocities at both ends, over tol_angle


@dataclass(frozen=True)
class Euler:
    """The explicit Euler step theta + dt v(theta) of the derived flow (network.velocity)."""
    tol_output: float
    tol_angle: float

    def step(self, flow, theta: N.Params, vel: N.Params, f: torch.Tensor, alpha: torch.Tensor,
             step: torch.Tensor) -> Trial:
        """``flow(theta) -> (velocity, f, margins, g)``; ``step`` (E,): each network's step."""
        new = theta.axpy(step.to(theta.omega.dtype), vel)
        vel2, f2, m2, _ = flow(new)
        r_out = (f2 - f).abs().amax(1) * alpha / self.tol_output
        dot = sum((a * b).flatten(1).sum(1) for a, b in zip(vel.tuple(), vel2.tuple()))
        n1, n2 = vel.norm(), vel2.norm()
        cos = torch.where((n1 > 0) & (n2 > 0), dot / (n1 * n2).clamp_min(1e-300), torch.ones_like(n1))
        r_dir = (1 - cos).clamp_min(0) / self.tol_angle
        return Trial(new, vel2, f2, m2, r_out.double(), r_dir.double())
