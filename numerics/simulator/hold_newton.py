"""Newton on the multipliers that hold sliding margins (and pairs) on their surfaces over a Filippov step: when to
iterate again, and Broyden's update of the inverse Jacobian (filippov.FilippovState.trial)."""
from __future__ import annotations

import torch


def newton_again(res, scale, it: int, ok, e: int) -> bool:
    """Whether the hold of network e needs another Newton iteration (of 10): its residual is not yet at
    rounding (a looser test would let the surfaces drift by its tolerance at every step). After the last
    one, ok[e] says whether it came within 1e-12 of the scale."""
    if bool((res.abs() <= 4e-16 * scale).all()):
        return False
    if it == 9:
        ok[e] = bool((res.abs() <= 1e-12 * scale).all())
        return False
    return True


class Secant:
    """Newton on one network's hold multipliers with Broyden's ("good") update of the inverse Jacobian B
    (dw = -B res) from what each iteration measured. B starts as the hold matrix's linearisation at the
    start of the step, exact in the lazy regime; in the feature regime the neurons grow within the step, and
    with B kept fixed a trial took 4-5 evaluations of the step (p = h = 16, alpha = 1e-3)."""

    def __init__(self, B: torch.Tensor):
        self.B, self.s, self.r = B, None, None

    def __call__(self, res: torch.Tensor, floor: torch.Tensor) -> torch.Tensor:
        """The next change of the multipliers, from residual res; floor: its rounding. Residuals within 1e4
        roundings of it are noise, and a secant through them would spoil B: it is then kept."""
        if self.s is not None and bool((res.abs() > 1e4 * floor).any()):
            By = self.B @ (res - self.r)
            denom = self.s @ By
            upd = torch.outer(self.s - By, self.s @ self.B) / denom
            if bool(denom.abs() > 0) and bool(torch.isfinite(upd).all()):
                self.B = self.B + upd
        self.s, self.r = -(self.B @ res), res
        return self.s
