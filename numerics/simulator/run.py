"""Train ensembles of networks by gradient flow: the run, its state, saving and resuming.

One run trains E = len(seeds) x len(alphas) independent networks on the same dataset, all
at once (batched matrix products, CPU or CUDA). Each network has its own step size. The steps
are taken by a stepper (steppers.py), one per ``cfg.integrator``: ``filippov``, the event-driven
integrator that slides exactly along the kinks of ReLU and hinge (filippov.py); ``euler``, explicit
Euler steps accepted while F = alpha (f - f_0) moves by less than ``tol_output`` and the velocity
turns by less than ``tol_angle``, steps below ``dt_min`` being accepted anyway at the kinks and
counted as ``forced_steps``; ``euler-rollback``, feature_lazy's rule. Refused steps are counted as
``rejected_steps``, steps that end on an event of the Filippov flow as ``events``.

Observables are recorded at log-spaced times, and at each network's stop. The run saves its
configuration (config.json), its observables (results.npz) and its state (state.pt) in the
output folder; an interrupted run resumes from its last saved state with ``resume=True``.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from .. import network as N
from ..data import Dataset
from .config import SimulationConfig, SimulationError, build_datasets
from .observables import Observables, informative_dims
from .result import SimulationResult
from .steppers import MARGIN_LOSSES, first_dt, make_stepper

class _Run:
    """The mutable state of one simulation: parameters, clocks and recorded observables."""

    def __init__(self, cfg: SimulationConfig, train: Dataset, test: Dataset | None, device, dtype):
        self.cfg, self.device, self.dtype = cfg, device, dtype
        nets = cfg.networks()
        self.E = len(nets)
        t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        self.X, self.y = t(train.X), t(train.y)
        self.Xt, self.yt = (t(test.X), t(test.y)) if test is not None else (None, None)
        self.alpha = t([a for _, a in nets])
        self.theta0 = N.init_ensemble([s for s, _ in nets], cfg.h, cfg.d, dtype=dtype, device=device,
                                      **cfg.init_options())
        self.theta = self.theta0.map(torch.clone)
        with torch.no_grad():
            self.f0 = N.output(*self.theta0.tuple(), self.X)
            self.f0t = N.output(*self.theta0.tuple(), self.Xt) if self.Xt is not None else None
        self.t = torch.zeros(self.E, dtype=torch.float64, device=device)
        self.dt = torch.full((self.E,), first_dt(cfg), dtype=torch.float64, device=device)
        self.steps = torch.zeros(self.E, dtype=torch.long, device=device)
        self.rejected = torch.zeros_like(self.steps)
        self.forced = torch.zeros_like(self.steps)
        self.events = torch.zeros_like(self.steps)
        self.next_k = torch.zeros(self.E, dtype=torch.long, device=device)
        self.stop = [""] * self.E
        self.wall_before = 0.0  # wall-clock seconds spent in earlier (interrupted) sessions
        self.t_ckpt = torch.as_tensor(np.geomspace(cfg.t_first, cfg.t_max, cfg.checkpoints), dtype=torch.float64,
                                      device=device)
        self.obs = Observables(cfg, train, self.E, informative_dims(train.meta, cfg.d))
        self.stepper, self.live, self.saved_stepper = None, None, None  # set by the integration

    # -- state for resume ------------------------------------------------------------------------
    def state_dict(self, wall: float) -> dict:
        return {"identity": self.cfg.identity(), "theta": [x.cpu() for x in self.theta.tuple()],
                "t": self.t.cpu(), "dt": self.dt.cpu(), "steps": self.steps.cpu(), "rejected": self.rejected.cpu(),
                "forced": self.forced.cpu(), "events": self.events.cpu(), "next_k": self.next_k.cpu(),
                "stop": list(self.stop), "wall": wall, "obs": self.obs.arrays, "stepper": self.stepper_state()}

    def stepper_state(self) -> dict | None:
        if self.stepper is None:
            return None
        return {"networks": self.live.tolist(), "state": self.stepper.state_dict()}

    def load_state(self, state: dict):
        if state["identity"] != self.cfg.identity():
            changed = sorted(k for k in self.cfg.identity() if state["identity"].get(k) != self.cfg.identity()[k])
            raise SimulationError(f"cannot resume: the saved run has different settings ({', '.join(changed)})")
        dev = lambda x: x.to(self.device)  # noqa: E731
        self.theta = N.Params(*(dev(x).to(self.dtype) for x in state["theta"]))
        for name in ("t", "dt", "steps", "rejected", "forced", "next_k"):
            setattr(self, name, dev(state[name]))
        if "events" in state:  # states saved before the Filippov integrator have none
            self.events = dev(state["events"])
        # a network stopped by the wall-clock limit, or by a step limit now raised, goes on
        steps = state["steps"].tolist()
        self.stop = ["" if r == "wall" or (r == "steps" and steps[e] < self.cfg.max_steps) else r
                     for e, r in enumerate(state["stop"])]
        self.wall_before = float(state["wall"])
        self.obs.arrays = state["obs"]
        self.saved_stepper = state.get("stepper")


def simulate(cfg: SimulationConfig, out=None, resume: bool = False, progress: bool | None = None,
             datasets: tuple[Dataset, Dataset | None] | None = None) -> SimulationResult:
    """Train the ensemble described by ``cfg``; save to ``out`` if given; see the module docstring."""
    device = N.resolve_device(cfg.device)
    dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
    train, test = datasets if datasets is not None else build_datasets(cfg)
    run = _Run(cfg, train, test, device, dtype)
    out = Path(out) if out is not None else None
    if out is not None:
        state_file = out / "state.pt"
        if state_file.exists() and not resume:
            raise SimulationError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
        if resume and state_file.exists():  # read before anything is written: a damaged state changes nothing
            from ..data.files import read_torch

            run.load_state(read_torch(state_file, "--resume"))
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
    t_start = time.perf_counter()
    elapsed = lambda: run.wall_before + time.perf_counter() - t_start  # noqa: E731
    save = (lambda: _save_state(run, out, elapsed())) if out is not None else (lambda: None)
    try:
        with _cpu_threads(run):
            _integrate(run, progress, t_start, save)
    except KeyboardInterrupt:
        save()  # the networks' states as of the last step: resume loses nothing
        raise
    wall = elapsed()
    arrays = run.obs.finish(run.t_ckpt.cpu().numpy())
    result = SimulationResult(cfg, arrays, run.stop, wall, str(out) if out else None, str(device))
    if out is not None:
        save()
        np.savez_compressed(out / "results.npz", **arrays)
        (out / "result.json").write_text(json.dumps(result.to_json(), indent=1))
    return result


# Below this many (network, point, neuron) triples a CPU step is a few small kernels: one thread
# is as fast, and several threads waiting at OpenMP barriers slow down 3-1000x as soon as another
# process shares the cores (measured: a 24 x 32 einsum took 32 ms with 2 busy threads, 14 us with 1).
SMALL_PROBLEM = 2 ** 17


@contextmanager
def _cpu_threads(run: "_Run"):
    small = run.device.type == "cpu" and run.E * run.X.shape[0] * run.cfg.h < SMALL_PROBLEM
    before = torch.get_num_threads()
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _save_state(run: _Run, out: Path, wall: float):
    tmp = out / "state.pt.tmp"
    torch.save(run.state_dict(wall), tmp)
    os.replace(tmp, out / "state.pt")  # atomic: an interruption never leaves half a state


def _integrate(run: _Run, progress, t_start, save):
    from tqdm.auto import tqdm

    cfg = run.cfg
    K = cfg.checkpoints
    live = torch.tensor([s == "" for s in run.stop], device=run.device).nonzero().flatten()
    bar = tqdm(total=K * run.E, disable=(not progress) if progress is not None else None, unit="ckpt",
               desc="simulate", leave=False)
    bar.update(int(run.next_k.sum()) + sum(K - int(run.next_k[e]) for e in range(run.E) if run.stop[e]))
    # the stepper holds the live networks only; finished networks drop out of the batch
    stepper = make_stepper(cfg, run.X, run.y, run.alpha[live], run.f0[live], run.theta.select(live))
    saved = run.saved_stepper
    if saved and saved["state"]:  # the sets of the networks that were live when the run was saved
        pos = {e: i for i, e in enumerate(live.tolist())}
        rows = [i for i, e in enumerate(saved["networks"]) if e in pos]
        if rows:
            state = {k: v[rows] for k, v in saved["state"].items()}
            stepper.load_state(state, [pos[saved["networks"][i]] for i in rows])
    run.stepper, run.live = stepper, live
    try:
        with torch.no_grad():
            _loop(run, live, stepper, bar, t_start, save)
    finally:
        bar.close()


@contextmanager
def _interrupts_between_steps():
    """SIGINT takes effect between two steps, never inside one: a step updates the parameters, the
    clock and the step counters one after the other, and an interrupt landing between them would save
    a state whose counters are one off. Yields the check to call between steps. Only the main thread
    can take signals, and a handler someone else installed (a sweep worker's) is left alone."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield lambda: None
        return
    pending = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))

    def check():
        if pending:
            pending.clear()
            raise KeyboardInterrupt

    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)


def _loop(run, live, stepper, bar, t_start, save):
    with _interrupts_between_steps() as between_steps:
        _steps(run, live, stepper, bar, t_start, save, between_steps)


def _steps(run, live, stepper, bar, t_start, save, between_steps):
    cfg, K = run.cfg, run.cfg.checkpoints
    last_save = time.perf_counter()

    def write_back():
        for full, part in zip(run.theta.tuple(), stepper.params().tuple()):
            full[live] = part

    try:
        while live.numel():
            between_steps()  # a deferred SIGINT lands here, where state, clocks and counters agree
            t, dt = run.t[live], run.dt[live]
            t_next = run.t_ckpt[run.next_k[live].clamp_max(K - 1)]
            at_end = run.next_k[live] >= K
            t_target = torch.where(at_end, torch.full_like(t, cfg.t_max), t_next)
            out = stepper.step(dt, t_target - t)
            accept = out.accept
            t_new = torch.where(accept, t + out.tau, t)
            hit = accept & (out.tau >= t_target - t)
            t_new = torch.where(hit, t_target, t_new)  # land exactly on the checkpoint
            run.t[live] = t_new
            run.dt[live] = out.next_dt
            run.steps[live] += accept.long()
            run.rejected[live] += (~accept).long()
            run.forced[live] += out.forced.long()
            run.events[live] += out.event.long()
            reason = _stop_reasons(run, live, stepper, t_new, t_start)
            hit_ckpt = hit & ~at_end
            if bool(hit_ckpt.any()):
                idx = hit_ckpt.nonzero().flatten()
                _record(run, live, idx, stepper, checkpoint=True)
                run.next_k[live[idx]] += 1
                bar.update(int(idx.numel()))
            if reason is not None:
                done = torch.tensor([r != "" for r in reason], device=run.device)
                idx = done.nonzero().flatten()
                _record(run, live, idx, stepper, checkpoint=False)
                for i in idx.tolist():
                    e = int(live[i])
                    run.stop[e] = reason[i]
                    bar.update(K - int(run.next_k[e]))
                write_back()  # then drop the finished networks from the batch
                keep = (~done).nonzero().flatten()
                live = live[keep]
                stepper.select(keep)
                run.live = live
            if time.perf_counter() - last_save > 30.0 or (bool(hit_ckpt.any()) and time.perf_counter() - last_save > 5):
                write_back()
                save()
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        write_back()  # so that the saved state matches the clocks: resume loses nothing
        raise


def _stop_reasons(run, live, stepper, t, t_start):
    """Per live network: '' to go on, or why it stops. None when none stops (the common case)."""
    cfg = run.cfg
    finite = stepper.finite()
    converged = stepper.converged()
    kind = "margins" if cfg.loss in MARGIN_LOSSES else "loss"
    out_of_time = t >= cfg.t_max
    out_of_steps = run.steps[live] >= cfg.max_steps
    wall = cfg.max_wall is not None and (run.wall_before + time.perf_counter() - t_start) >= cfg.max_wall
    any_stop = (~finite) | converged | out_of_time | out_of_steps
    if not wall and not bool(any_stop.any()):
        return None
    reasons = []
    for fin, conv, tt, st in zip(finite.tolist(), converged.tolist(), out_of_time.tolist(), out_of_steps.tolist()):
        reasons.append("diverged" if not fin else kind if conv else "time" if tt else "steps" if st
                       else "wall" if wall else "")
    return reasons


def _record(run, live, idx, stepper, checkpoint: bool):
    """Observables of the live networks at positions idx (checkpoint k, or the final state)."""
    nets = live[idx]
    th = stepper.params().select(idx)
    m, alpha = stepper.m, stepper.alpha
    test_margins = None
    if run.Xt is not None:
        test_margins = run.yt * alpha[idx, None] * (N.output(*th.tuple(), run.Xt) - run.f0t[nets])
    run.obs.record(nets.tolist(), run.next_k[nets].tolist() if checkpoint else None, th, run.theta0.select(nets),
                   m[idx], test_margins, alpha[idx], run.X, run.t[nets], run.steps[nets], run.rejected[nets],
                   run.forced[nets], run.events[nets])
