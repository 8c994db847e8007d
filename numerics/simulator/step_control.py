"""Step-size controllers: accept or reject each network's trial step, and choose its next step."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class KinkController:
    """Error control for the Euler step of a flow with kinks (ReLU and hinge).

    r_out, r_dir: the change of the outputs and of the velocity direction over the step, in
    units of their tolerances (<= 1 passes). Euler's output change scales like the step and
    1 - cos like its square, so the next step is step * 0.9 * min(1/r_out, 1/sqrt(r_dir)),
    within [1/5, grow] of the step.

    The velocity is discontinuous at the kinks of ReLU and hinge, and the flow often slides
    along a kink, its velocity flipping at every step: no step is small enough there. So the
    direction test only binds for steps within a factor ``kink_fraction`` of the step the output
    test allows; a smaller step that still turns too much is a jump, and is accepted and counted
    as ``forced`` (as is any step at ``dt_min``), and the next step is the largest that still
    counts as a jump.
    """
    dt_min: float
    grow: float
    kink_fraction: float = 0.25

    def __call__(self, step, dt, r_out, r_dir):
        """Returns (accept, forced, next dt), each (E,)."""
        ok = (r_out <= 1) & (r_dir <= 1)
        output_step = 0.9 * step / r_out.clamp_min(1e-12)
        jump = ~ok & (r_out <= 1) & (step <= self.kink_fraction * output_step)
        forced = ~ok & (jump | (step <= self.dt_min))
        accept = ok | forced
        factor = 0.9 * torch.minimum(1 / r_out.clamp_min(1e-12), 1 / r_dir.clamp_min(1e-12).sqrt())
        base = torch.where(step < dt, dt, step)  # a step cut short by a checkpoint keeps its size
        grown = base * factor.clamp(0.2, self.grow)
        shrunk = step * factor.clamp(0.2, 0.5)
        # after a forced step take the largest step that still counts as a jump: larger ones would
        # be rejected at the next kink, smaller ones only cost evaluations
        sliding = torch.maximum(step, 0.9 * self.kink_fraction * output_step)
        nxt = torch.where(forced, sliding, torch.where(accept, grown, shrunk))
        return accept, forced, nxt.clamp_min(self.dt_min)


@dataclass(frozen=True)
class RollbackController:
    """feature_lazy's step rule, written from its description: the baseline a user of the field runs.

    A step is accepted when every output F = alpha (f - f0) moves by less than the integrator's
    tolerance (0.1); after a step whose change was below half of it the step grows by ``grow``; a
    refused step is rolled back and divided by ``shrink``. feature_lazy's optional test on the change
    of the gradient is off (its default of 1e-4 stalls with the hinge, and its users switch it off).
    """
    grow: float = 1.1
    shrink: float = 10.0

    def __call__(self, step, dt, r_out, r_dir):
        """Returns (accept, forced (never), next dt), each (E,)."""
        accept = r_out < 1
        base = torch.where(step < dt, dt, step)  # a step cut short by a checkpoint keeps its size
        grown = torch.where(r_out < 0.5, base * self.grow, base)
        nxt = torch.where(accept, grown, step / self.shrink)
        return accept, torch.zeros_like(accept), nxt
