"""Train ensembles of networks by gradient flow with an error-controlled Euler step.

One run trains E = len(seeds) x len(alphas) independent networks on the same dataset, all
at once (batched matrix products, CPU or CUDA). Each network has its own step size: a step
is accepted only while the outputs move by less than ``tol_output / alpha`` (so F = alpha
(f - f_0) moves by less than ``tol_output``) and the velocity turns by less than
``tol_angle`` (1 - cosine); a rejected step is rolled back and halved, an accepted one grows.
At the ReLU and hinge kinks the flow may slide along the kink, where the velocity flips at
every step: below ``dt_min`` steps are accepted anyway (the Euler discretisation of the
sliding flow) and counted as ``forced_steps``.

Observables are recorded at log-spaced times, and at each network's stop. The run saves its
configuration (config.json), its observables (results.npz) and its state (state.pt) in the
output folder; an interrupted run resumes from its last saved state with ``resume=True``.
"""
from __future__ import annotations

import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import ensemble as En
from .data import Dataset, load as load_dataset, make as make_dataset
from .observables import Observables, informative_dims
from ..theory.losses import canonical_loss

STOP_REASONS = ("margins", "loss", "time", "steps", "wall", "diverged")


class SimulationError(ValueError):
    """A bad simulation setting (sizes, loss, device, tolerances, output folder)."""


@dataclass
class SimulationConfig:
    data: str = "stripe"  # stripe, sphere, cylinder, or a path to an .npz with X and y
    d: int = 5
    p: int = 1024
    ptest: int = 8192
    d_par: int | None = None  # cylinder only
    data_seed: int = 0
    h: int = 1024
    alphas: tuple = (1e-3,)
    loss: str = "hinge"
    seeds: tuple = tuple(range(8))
    device: str = "auto"
    dtype: str = "float64"
    t_max: float = 1e6
    t_first: float = 1e-2  # first checkpoint time
    checkpoints: int = 30
    max_steps: int = 1_000_000
    max_wall: float | None = None  # seconds
    loss_threshold: float = 1e-5  # on the mean of l(m), for losses without an exact zero
    tol_output: float = 0.02
    tol_angle: float = 0.05
    dt_min: float = 1e-6
    grow: float = 2.0  # largest growth of the step after an accepted one
    track_neurons: int = 64  # neurons whose z and activation patterns are saved at checkpoints
    ntk: bool = False  # record the empirical NTK on the training set at checkpoints
    # keep every omega_n on its initial line, train only its (signed) norm, b and beta: the talk's
    # fixed-orientation networks, feature learning without the neurons' alignment (ensemble.velocity)
    fix_orientation: bool = False
    test_file: str | None = None  # an .npz test set when data is a file

    def __post_init__(self):
        self.alphas = tuple(float(a) for a in np.atleast_1d(self.alphas))
        self.seeds = tuple(int(s) for s in np.atleast_1d(self.seeds))
        self.validate()

    def validate(self):
        def positive_int(name):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise SimulationError(f"{name} must be a positive integer, got {v!r}")

        for name in ("d", "p", "h", "checkpoints", "max_steps"):
            positive_int(name)
        if self.ptest < 0:
            raise SimulationError(f"ptest must be >= 0, got {self.ptest}")
        if not self.seeds:
            raise SimulationError("seeds is empty: give at least one network seed")
        if not self.alphas or any(not math.isfinite(a) or a <= 0 for a in self.alphas):
            raise SimulationError(f"alpha must be finite and positive, got {self.alphas}")
        try:
            self.loss = canonical_loss(self.loss)
        except ValueError as exc:
            raise SimulationError(str(exc)) from None
        if self.dtype not in ("float64", "float32"):
            raise SimulationError(f"dtype must be float64 or float32, got {self.dtype!r}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise SimulationError(f"device must be auto, cpu or cuda, got {self.device!r}")
        for name in ("t_max", "t_first", "tol_output", "tol_angle", "dt_min"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise SimulationError(f"{name} must be finite and positive, got {v}")
        if self.t_first >= self.t_max:
            raise SimulationError(f"t_first ({self.t_first}) must be below t_max ({self.t_max})")
        if self.grow <= 1:
            raise SimulationError(f"grow must exceed 1, got {self.grow}")
        if not isinstance(self.fix_orientation, (bool, np.bool_)):
            raise SimulationError(f"fix_orientation must be True or False, got {self.fix_orientation!r}")

    def networks(self) -> list[tuple[int, float]]:
        """(seed, alpha) of every network, alpha-major."""
        return [(s, a) for a in self.alphas for s in self.seeds]

    def identity(self) -> dict:
        """What must match for a run to be resumed: not the device, the wall-clock or the step limit."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "max_wall", "max_steps")}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SimulationError("device cuda requested but no CUDA device is available (use --device cpu or auto)")
    return torch.device(name)


def build_datasets(cfg: SimulationConfig) -> tuple[Dataset, Dataset | None]:
    if cfg.data in ("stripe", "sphere", "cylinder"):
        train = make_dataset(cfg.data, cfg.p, cfg.d, cfg.data_seed, d_par=cfg.d_par)
        # the test set is an independent sample: a seed the training sets of nearby data seeds never use
        test = make_dataset(cfg.data, cfg.ptest, cfg.d, cfg.data_seed + 1_000_003, d_par=cfg.d_par) \
            if cfg.ptest > 0 else None
        return train, test
    train = load_dataset(cfg.data)
    if train.d != cfg.d or train.p < cfg.p:
        raise SimulationError(f"{cfg.data} holds {train.p} points in d = {train.d}; asked for p = {cfg.p}, d = {cfg.d}")
    train = Dataset(train.X[: cfg.p], train.y[: cfg.p], train.meta)
    test = load_dataset(cfg.test_file) if cfg.test_file else None
    if test is not None and test.d != cfg.d:
        raise SimulationError(f"test set has d = {test.d}, training set d = {cfg.d}")
    return train, test


@dataclass
class SimulationResult:
    config: SimulationConfig
    arrays: dict  # numpy arrays: checkpoint observables (E, K, ...), final ones (E, ...)
    stop_reason: list
    wall_s: float
    out: str | None = None
    device: str = "cpu"

    def networks(self) -> list[dict]:
        a = self.arrays
        rows = []
        for e, (seed, alpha) in enumerate(self.config.networks()):
            rows.append({
                "seed": seed, "alpha": alpha, "stop_reason": self.stop_reason[e],
                "steps": int(a["final_steps"][e]), "rejected_steps": int(a["final_rejected"][e]),
                "forced_steps": int(a["final_forced"][e]), "t": float(a["final_t"][e]),
                "train_loss": float(a["final_train_loss"][e]), "train_error": float(a["final_train_error"][e]),
                "test_loss": _maybe(a["final_test_loss"][e]), "test_error": _maybe(a["final_test_error"][e]),
                "rel_change_omega": float(a["final_rel_change_omega"][e]),
                "attractors": int(a["final_attractors"][e]),
                "rms_parallel": _maybe(a["final_rms_parallel"][e]), "rms_perp": _maybe(a["final_rms_perp"][e]),
            })
        return rows

    def params(self, e: int = 0, final: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(omega (h, d), b (h,), beta (h,)) of network e at its stop, or at initialisation."""
        if not 0 <= e < len(self.stop_reason):
            raise SimulationError(f"network index {e} out of range: the run has {len(self.stop_reason)} networks")
        if final:
            return tuple(self.arrays[f"final_all_{name}"][e] for name in ("omega", "b", "beta"))
        seed, _ = self.config.networks()[e]
        theta0 = En.init_ensemble([seed], self.config.h, self.config.d)
        return tuple(t[0].numpy() for t in (theta0.omega, theta0.b, theta0.beta))

    def to_json(self) -> dict:
        return {"name": "simulate", "config": asdict(self.config), "device": self.device, "out": self.out,
                "wall_s": self.wall_s, "checkpoint_times": self.arrays["t_checkpoints"].tolist(),
                "networks": self.networks()}

    @classmethod
    def load(cls, out) -> "SimulationResult":
        out = Path(out)
        meta = json.loads((out / "result.json").read_text())
        cfg = SimulationConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["config"].items()})
        with np.load(out / "results.npz", allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        return cls(cfg, arrays, [n["stop_reason"] for n in meta["networks"]], meta["wall_s"], str(out), meta["device"])


def _maybe(v):
    v = float(v)
    return None if math.isnan(v) else v


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
        self.theta0 = En.init_ensemble([s for s, _ in nets], cfg.h, cfg.d, dtype=dtype, device=device)
        self.theta = self.theta0.map(torch.clone)
        with torch.no_grad():
            self.f0 = En.outputs(self.theta0, self.X)
            self.f0t = En.outputs(self.theta0, self.Xt) if self.Xt is not None else None
        self.t = torch.zeros(self.E, dtype=torch.float64, device=device)
        self.dt = torch.full((self.E,), cfg.tol_output, dtype=torch.float64, device=device)
        self.steps = torch.zeros(self.E, dtype=torch.long, device=device)
        self.rejected = torch.zeros_like(self.steps)
        self.forced = torch.zeros_like(self.steps)
        self.next_k = torch.zeros(self.E, dtype=torch.long, device=device)
        self.stop = [""] * self.E
        self.wall_before = 0.0  # wall-clock seconds spent in earlier (interrupted) sessions
        self.t_ckpt = torch.as_tensor(np.geomspace(cfg.t_first, cfg.t_max, cfg.checkpoints), dtype=torch.float64,
                                      device=device)
        self.obs = Observables(cfg, train, self.E, informative_dims(train.meta, cfg.d))

    # -- state for resume ------------------------------------------------------------------------
    def state_dict(self, wall: float) -> dict:
        return {"identity": self.cfg.identity(), "theta": [x.cpu() for x in self.theta.tensors()],
                "t": self.t.cpu(), "dt": self.dt.cpu(), "steps": self.steps.cpu(), "rejected": self.rejected.cpu(),
                "forced": self.forced.cpu(), "next_k": self.next_k.cpu(), "stop": list(self.stop),
                "wall": wall, "obs": self.obs.arrays}

    def load_state(self, state: dict):
        if state["identity"] != self.cfg.identity():
            changed = sorted(k for k in self.cfg.identity() if state["identity"].get(k) != self.cfg.identity()[k])
            raise SimulationError(f"cannot resume: the saved run has different settings ({', '.join(changed)})")
        dev = lambda x: x.to(self.device)  # noqa: E731
        self.theta = En.Ensemble(*(dev(x).to(self.dtype) for x in state["theta"]))
        for name in ("t", "dt", "steps", "rejected", "forced", "next_k"):
            setattr(self, name, dev(state[name]))
        # a network stopped by the wall-clock limit, or by a step limit now raised, goes on
        steps = state["steps"].tolist()
        self.stop = ["" if r == "wall" or (r == "steps" and steps[e] < self.cfg.max_steps) else r
                     for e, r in enumerate(state["stop"])]
        self.wall_before = float(state["wall"])
        self.obs.arrays = state["obs"]


def simulate(cfg: SimulationConfig, out=None, resume: bool = False, progress: bool | None = None,
             datasets: tuple[Dataset, Dataset | None] | None = None) -> SimulationResult:
    """Train the ensemble described by ``cfg``; save to ``out`` if given; see the module docstring."""
    device = resolve_device(cfg.device)
    dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
    train, test = datasets if datasets is not None else build_datasets(cfg)
    run = _Run(cfg, train, test, device, dtype)
    out = Path(out) if out is not None else None
    if out is not None:
        state_file = out / "state.pt"
        if state_file.exists() and not resume:
            raise SimulationError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
        if resume and state_file.exists():
            run.load_state(torch.load(state_file, weights_only=False))
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
    # working copies for the live networks only; finished networks drop out of the batch
    theta, alpha, f0 = run.theta.select(live), run.alpha[live], run.f0[live]
    try:
        with torch.no_grad():
            _loop(run, live, theta, alpha, f0, bar, t_start, save)
    finally:
        bar.close()


def _loop(run, live, theta, alpha, f0, bar, t_start, save):
    cfg, K = run.cfg, run.cfg.checkpoints
    last_save = time.perf_counter()

    def write_back():
        for full, part in zip(run.theta.tensors(), theta.tensors()):
            full[live] = part

    try:
        vel, f, m, _ = En.velocity(theta, run.X, run.y, f0, alpha, cfg.loss, cfg.fix_orientation)
        while live.numel():
            t, dt = run.t[live], run.dt[live]
            t_next = run.t_ckpt[run.next_k[live].clamp_max(K - 1)]
            at_end = run.next_k[live] >= K
            t_target = torch.where(at_end, torch.full_like(t, cfg.t_max), t_next)
            step = torch.minimum(dt, t_target - t)
            new = theta.axpy(step.to(theta.omega.dtype), vel)
            vel2, f2, m2, _ = En.velocity(new, run.X, run.y, f0, alpha, cfg.loss, cfg.fix_orientation)
            r_out = (f2 - f).abs().amax(1) * alpha / cfg.tol_output
            dot = sum((a * b).flatten(1).sum(1) for a, b in zip(vel.tensors(), vel2.tensors()))
            n1, n2 = vel.norm(), vel2.norm()
            cos = torch.where((n1 > 0) & (n2 > 0), dot / (n1 * n2).clamp_min(1e-300), torch.ones_like(n1))
            r_dir = (1 - cos).clamp_min(0) / cfg.tol_angle
            accept, forced, dt_next = step_control(step, dt, r_out.double(), r_dir.double(), cfg)
            # accepted networks move on; rejected ones keep their state and retry with a smaller step
            theta = new.where(accept, theta)
            vel = vel2.where(accept, vel)
            f, m = (torch.where(accept[:, None], a2, a) for a2, a in ((f2, f), (m2, m)))
            t_new = torch.where(accept, t + step, t)
            hit = accept & (step >= t_target - t)
            t_new = torch.where(hit, t_target, t_new)  # land exactly on the checkpoint
            run.t[live] = t_new
            run.dt[live] = dt_next
            run.steps[live] += accept.long()
            run.rejected[live] += (~accept).long()
            run.forced[live] += forced.long()
            # stop conditions
            reason = _stop_reasons(run, live, vel, f, m, alpha, t_new, t_start)
            hit_ckpt = hit & ~at_end
            if bool(hit_ckpt.any()):
                idx = hit_ckpt.nonzero().flatten()
                _record(run, live, idx, theta, m, alpha, checkpoint=True)
                run.next_k[live[idx]] += 1
                bar.update(int(idx.numel()))
            if reason is not None:
                done = torch.tensor([r != "" for r in reason], device=run.device)
                idx = done.nonzero().flatten()
                _record(run, live, idx, theta, m, alpha, checkpoint=False)
                for i in idx.tolist():
                    e = int(live[i])
                    run.stop[e] = reason[i]
                    bar.update(K - int(run.next_k[e]))
                write_back()  # then drop the finished networks from the batch
                keep = (~done).nonzero().flatten()
                live = live[keep]
                theta, vel, alpha, f0 = theta.select(keep), vel.select(keep), alpha[keep], f0[keep]
                f, m = f[keep], m[keep]
            if time.perf_counter() - last_save > 30.0 or (bool(hit_ckpt.any()) and time.perf_counter() - last_save > 5):
                write_back()
                save()
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        write_back()  # so that the saved state matches the clocks: resume loses nothing
        raise


KINK_FRACTION = 0.25


def step_control(step, dt, r_out, r_dir, cfg):
    """Accept or reject each network's step, and choose its next step size.

    r_out, r_dir: the change of the outputs and of the velocity direction over the step, in
    units of their tolerances (<= 1 passes). Euler's output change scales like the step and
    1 - cos like its square, so the next step is step * 0.9 * min(1/r_out, 1/sqrt(r_dir)),
    within [1/5, grow] of the step.

    The velocity is discontinuous at the kinks of ReLU and hinge, and the flow often slides
    along a kink, its velocity flipping at every step: no step is small enough there. So the
    direction test only binds for steps within a factor KINK_FRACTION of the step the output
    test allows; a smaller step that still turns too much is a jump, and is accepted and
    counted as ``forced`` (as is any step at ``dt_min``), and the next step is the largest that still counts as a jump.
    Returns (accept, forced, next dt).
    """
    ok = (r_out <= 1) & (r_dir <= 1)
    output_step = 0.9 * step / r_out.clamp_min(1e-12)
    jump = ~ok & (r_out <= 1) & (step <= KINK_FRACTION * output_step)
    forced = ~ok & (jump | (step <= cfg.dt_min))
    accept = ok | forced
    factor = 0.9 * torch.minimum(1 / r_out.clamp_min(1e-12), 1 / r_dir.clamp_min(1e-12).sqrt())
    base = torch.where(step < dt, dt, step)  # a step cut short by a checkpoint keeps its size
    grown = base * factor.clamp(0.2, cfg.grow)
    shrunk = step * factor.clamp(0.2, 0.5)
    # after a forced step take the largest step that still counts as a jump: larger ones would
    # be rejected at the next kink, smaller ones only cost evaluations
    sliding = torch.maximum(step, 0.9 * KINK_FRACTION * output_step)
    nxt = torch.where(forced, sliding, torch.where(accept, grown, shrunk))
    return accept, forced, nxt.clamp_min(cfg.dt_min)


def _stop_reasons(run, live, vel, f, m, alpha, t, t_start):
    """Per live network: '' to go on, or why it stops. None when none stops (the common case)."""
    cfg = run.cfg
    finite = torch.isfinite(vel.norm()) & torch.isfinite(f).all(1) & (f.abs().amax(1) < 1e12)
    if cfg.loss in ("hinge", "quadratic-hinge"):
        # points that reached their margin slide along m = 1, which the Euler steps resolve only
        # to the output tolerance: a margin within tol_output of 1 counts as satisfied
        converged = (m >= 1 - cfg.tol_output).all(1)
        kind = "margins"
    else:
        converged = En.mean_loss(m, torch.ones_like(alpha), cfg.loss) <= cfg.loss_threshold
        kind = "loss"
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


def _record(run, live, idx, theta, m, alpha, checkpoint: bool):
    """Observables of the live networks at positions idx (checkpoint k, or the final state)."""
    nets = live[idx]
    th = theta.select(idx)
    test_margins = None
    if run.Xt is not None:
        test_margins = run.yt * alpha[idx, None] * (En.outputs(th, run.Xt) - run.f0t[nets])
    run.obs.record(nets.tolist(), run.next_k[nets].tolist() if checkpoint else None, th, run.theta0.select(nets),
                   m[idx], test_margins, alpha[idx], run.X, run.t[nets], run.steps[nets], run.rejected[nets],
                   run.forced[nets])
