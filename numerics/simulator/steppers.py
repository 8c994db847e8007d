"""The run's steppers: one object per integrator, each stepping the live networks of a stack.

A stepper holds the live networks' state, takes one step of every one of them (at most its own dt,
at most the room left to its next checkpoint) and says which steps it accepted. The run (run.py)
keeps the clocks, the checkpoints, the stops and the files, whatever the stepper.

- ``euler``: the explicit Euler step under the kink controller (step_control.KinkController): a
  margin within tol_output of 1 counts as reached.
- ``euler-rollback``: feature_lazy's rule (step_control.RollbackController), the field's baseline.
- ``filippov``: the event-driven integrator of filippov.py, exact through the kinks.

The last two stop a hinge run when every margin is at least CONVERGED_MARGIN = 1 - 1e-9.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import network as N
from .filippov import CONVERGED_MARGIN, Filippov, FilippovState
from .integrators import Euler
from .step_control import KinkController, RollbackController

MARGIN_LOSSES = ("hinge", "quadratic-hinge")  # the losses whose runs stop on the margins


@dataclass
class Outcome:
    """One step of every live network, (E,) each."""
    accept: torch.Tensor
    tau: torch.Tensor  # the step taken (or tried, where refused)
    next_dt: torch.Tensor
    forced: torch.Tensor  # accepted though the controller's tests failed (euler only)
    event: torch.Tensor  # ended on an event (filippov only)


class _Stepper:
    """What the run needs of every stepper, on top of step(): margins, parameters, converged, select."""
    margin_tolerance: float = 1 - CONVERGED_MARGIN

    def __init__(self, cfg, X, y, alpha, f0):
        self.cfg, self.X, self.y, self.alpha, self.f0 = cfg, X, y, alpha, f0
        self.m = None

    def converged(self) -> torch.Tensor:
        if self.cfg.loss in MARGIN_LOSSES:
            return (self.m >= 1 - self.margin_tolerance).all(1)
        return N.mean_loss(self.m, torch.ones_like(self.alpha), self.cfg.loss) <= self.cfg.loss_threshold

    def finite(self) -> torch.Tensor:
        """Per network: the outputs f finite and below 1e12 in size, the parameters finite."""
        f = self.f0 + self.y * self.m / self.alpha[:, None]  # y = +-1
        th = torch.cat([x.flatten(1) for x in self.params().tuple()], 1)
        return torch.isfinite(f).all(1) & (f.abs().amax(1) < 1e12) & torch.isfinite(th).all(1)

    def select(self, keep):
        self.alpha, self.f0, self.m = self.alpha[keep], self.f0[keep], self.m[keep]

    def state_dict(self) -> dict:
        """What the parameters do not determine (saved with the run, so that a resumed run is the same run)."""
        return {}

    def load_state(self, state: dict, rows):
        """Restore the rows (positions in this stepper) of a saved state_dict's networks."""


class EulerStepper(_Stepper):
    """Explicit Euler steps under a step-size controller (KinkController or RollbackController)."""

    def __init__(self, cfg, X, y, alpha, f0, theta: N.Params, rollback: bool):
        super().__init__(cfg, X, y, alpha, f0)
        if rollback:  # accept while every F moves by less than 0.1; no direction test
            self.integrator, self.controller = Euler(0.1, float("inf")), RollbackController()
        else:
            self.integrator, self.controller = Euler(cfg.tol_output, cfg.tol_angle), KinkController(cfg.dt_min,
                                                                                                    cfg.grow)
            self.margin_tolerance = cfg.tol_output  # Euler resolves the sliding margins to its output tolerance
        self.theta = theta
        self.vel, self.f, self.m, _ = self._flow(theta)

    def _flow(self, params):
        c = self.cfg
        return N.velocity(params, self.X, self.y, self.f0, self.alpha, c.loss, c.fix_orientation, c.lr)

    def step(self, dt, room) -> Outcome:
        step = torch.minimum(dt, room)
        trial = self.integrator.step(self._flow, self.theta, self.vel, self.f, self.alpha, step)
        accept, forced, dt_next = self.controller(step, dt, trial.r_out, trial.r_dir)
        # accepted networks move on; rejected ones keep their state and retry with a smaller step
        self.theta = trial.theta.where(accept, self.theta)
        self.vel = trial.vel.where(accept, self.vel)
        self.f = torch.where(accept[:, None], trial.f, self.f)
        self.m = torch.where(accept[:, None], trial.m, self.m)
        return Outcome(accept, step, dt_next, forced, torch.zeros_like(accept))

    def params(self) -> N.Params:
        return self.theta

    def finite(self) -> torch.Tensor:
        return torch.isfinite(self.vel.norm()) & torch.isfinite(self.f).all(1) & (self.f.abs().amax(1) < 1e12)

    def select(self, keep):
        super().select(keep)
        self.theta, self.vel, self.f = self.theta.select(keep), self.vel.select(keep), self.f[keep]


class FilippovStepper(_Stepper):
    """The event-driven Filippov integrator (filippov.FilippovState) behind the stepper interface."""

    def __init__(self, cfg, X, y, alpha, f0, theta: N.Params, opts: Filippov | None = None):
        super().__init__(cfg, X, y, alpha, f0)
        V = torch.cat([theta.omega, theta.b[..., None]], -1).contiguous()
        self.state = FilippovState(opts or Filippov(), X, y, f0, alpha, cfg.loss, cfg.lr, cfg.fix_orientation, V,
                                   theta.beta.clone())
        self.m = self.state.margins(self.state.V, self.state.beta)

    def step(self, dt, room) -> Outcome:
        accept, tau, nxt, event, tr = self.state.step(dt, room)
        self.m = torch.where(accept[:, None], tr["m"], self.m)
        return Outcome(accept, tau, nxt, torch.zeros_like(accept), event)

    def params(self) -> N.Params:
        return self.state.params()

    def select(self, keep):
        super().select(keep)
        self.state.select(keep)

    def state_dict(self) -> dict:
        return self.state.state_dict()

    def load_state(self, state: dict, rows):
        self.state.load_state(state, rows)


def make_stepper(cfg, X, y, alpha, f0, theta: N.Params) -> _Stepper:
    if cfg.integrator == "filippov":
        return FilippovStepper(cfg, X, y, alpha, f0, theta, Filippov(tol_local=cfg.tol_local))
    return EulerStepper(cfg, X, y, alpha, f0, theta, rollback=cfg.integrator == "euler-rollback")


def first_dt(cfg) -> float:
    """The first step of every network: tol_output for euler (its steps move F by about that), 1 else
    (feature_lazy's first step; filippov's error control sets its own from there)."""
    return cfg.tol_output if cfg.integrator == "euler" else 1.0
