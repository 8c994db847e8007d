"""One cell of a learning curve: the test error of every method on one (p, seed) training set.

Each seed is a new training set (data seed = seed) and a new network initialisation; the test
set is the simulator's (an independent sample of size ptest). Methods:

- ``lazy``, ``feature``: the network trained by the simulator at alpha_lazy / alpha_feature
  (both alphas share one ensemble run per (p, seed));
- ``svc-ntk``: SVC with the infinite-width NTK at initialisation (the talk's kernel baseline);
- ``kernel-ntk``: the kernel gradient flow with the same loss as the networks, infinite-width NTK
  (what the lazy network tends to at large alpha and width);
- ``knn``: 5-nearest neighbours on the inputs;
- ``svc-final``: SVC with the empirical NTK of the feature network at the end of its training
  (the talk: the end-of-training kernel performs as well as the network itself);
- ``feature-fixed``: the network at alpha_feature with the direction of every omega_n fixed at
  its initial value (``SimulationConfig.fix_orientation``: only the norms, b and beta train),
  same seed and training set as ``feature``.

This module computes one (p, seed) cell (:func:`run_cell`); each (method, p, seed) is one run of
the sweep machinery (lazyrich.sweep, job kind ``learning-curve``), and the curves with their
power-law fits are lazyrich.studies.learning_curves.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
import time

from ..simulator import SimulationConfig, build_datasets, simulate
from .kernel_machines import classification_error, kernel_gradient_flow, knn_predict, svc_decision
from .ntk import analytic_kernel, empirical_ntk
from ...theory.errors import LazyrichError

METHODS = ("knn", "svc-ntk", "kernel-ntk", "lazy", "feature", "svc-final", "feature-fixed")


class LearningCurveError(LazyrichError):
    """Bad settings for a learning curve."""


@dataclass
class LearningCurveConfig:
    data: str = "stripe"
    d: int = 5
    ps: tuple = (32, 64, 128, 256)
    ptest: int = 2048
    seeds: tuple = (0, 1, 2, 3)
    methods: tuple = ("knn", "svc-ntk", "lazy", "feature")
    h: int = 256
    alpha_lazy: float = 1e3
    alpha_feature: float = 1e-2
    loss: str = "hinge"
    t_max: float = 1e3  # flow time for networks and the kernel flow
    max_wall: float | None = 60.0  # seconds per network ensemble
    C: float = 1e4  # SVC
    k: int = 5  # kNN
    device: str = "auto"
    bootstrap: int = 1000
    # the imbalance knob of the networks (SimulationConfig: learning rates per layer, init scale, imbalance)
    lr_first: float = 1.0
    lr_second: float = 1.0
    init_scale: float | None = None
    imbalance: float | None = None
    integrator: str = "filippov"  # of the networks (SimulationConfig.integrator)
    extra: dict = field(default_factory=dict)  # further SimulationConfig settings for the networks

    def validate(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise LearningCurveError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
        if not self.methods:
            raise LearningCurveError("no methods given")
        if not self.ps or any(int(p) < 2 for p in self.ps):
            raise LearningCurveError(f"ps must be training-set sizes >= 2, got {list(self.ps)}")
        if not self.seeds:
            raise LearningCurveError("seeds is empty")
        if self.ptest < 1:
            raise LearningCurveError(f"ptest must be positive, got {self.ptest}")
        if self.data not in ("stripe", "sphere", "cylinder"):
            raise LearningCurveError(f"data must be stripe, sphere or cylinder, got {self.data!r}")
        try:  # the networks' settings, checked before the first cell runs
            _sim_config(self, int(self.ps[0]), int(self.seeds[0]), [self.alpha_lazy, self.alpha_feature])
        except ValueError as exc:
            raise LearningCurveError(str(exc)) from None
        return self


def _sim_config(cfg: LearningCurveConfig, p: int, seed: int, alphas):
    return SimulationConfig(data=cfg.data, d=cfg.d, p=p, ptest=cfg.ptest, data_seed=seed, h=cfg.h,
                            alphas=tuple(alphas), loss=cfg.loss, seeds=(seed,), device=cfg.device,
                            t_max=cfg.t_max, max_wall=cfg.max_wall, checkpoints=4, track_neurons=1,
                            lr_first=cfg.lr_first, lr_second=cfg.lr_second, init_scale=cfg.init_scale,
                            imbalance=cfg.imbalance, integrator=cfg.integrator, **cfg.extra)


def run_cell(cfg: LearningCurveConfig, p: int, seed: int, methods) -> list[dict]:
    """Test errors of ``methods`` on the training set of (p, seed)."""
    sim_cfg = _sim_config(cfg, p, seed, [cfg.alpha_lazy])
    train, test = build_datasets(sim_cfg)
    rows = []

    def row(method, test_error, train_error, t0, **extra):
        rows.append({"method": method, "p": p, "seed": seed, "test_error": float(test_error),
                     "train_error": None if train_error is None else float(train_error),
                     "seconds": time.perf_counter() - t0, **extra})

    if "knn" in methods:
        t0 = time.perf_counter()
        row("knn", classification_error(knn_predict(train.X, train.y, test.X, cfg.k), test.y), None, t0)
    if "svc-ntk" in methods or "kernel-ntk" in methods:
        t0 = time.perf_counter()
        K, Kt = analytic_kernel(train.X).numpy(), analytic_kernel(test.X, train.X).numpy()
        if "svc-ntk" in methods:
            row("svc-ntk", classification_error(svc_decision(K, train.y, Kt, cfg.C), test.y),
                classification_error(svc_decision(K, train.y, K, cfg.C), train.y), t0)
        if "kernel-ntk" in methods:
            t0 = time.perf_counter()
            flow = kernel_gradient_flow(K, train.y, [cfg.t_max], cfg.loss, K_test=Kt)
            row("kernel-ntk", classification_error(flow["F_test"][-1], test.y),
                classification_error(flow["F_train"][-1], train.y), t0, steps=flow["steps"])
    # the feature network is trained when it or its end-of-training kernel is asked for
    wanted = set(methods) | ({"feature"} if "svc-final" in methods else set())
    regimes = [(m, a) for m, a in (("lazy", cfg.alpha_lazy), ("feature", cfg.alpha_feature)) if m in wanted]
    if regimes:
        t0 = time.perf_counter()
        res = simulate(_sim_config(cfg, p, seed, [a for _, a in regimes]), progress=False, datasets=(train, test))
        for e, (method, alpha) in enumerate(regimes):
            net = res.networks()[e]
            if method in methods:
                row(method, net["test_error"], net["train_error"], t0, alpha=alpha, stop_reason=net["stop_reason"],
                    t=net["t"], rel_change_omega=net["rel_change_omega"], converged=net["converged"],
                    min_margin=net["min_margin"])
            if method == "feature" and "svc-final" in methods:
                t1 = time.perf_counter()
                params = res.params(e, final=True)
                K, Kt = empirical_ntk(*params, train.X).numpy(), empirical_ntk(*params, test.X, train.X).numpy()
                row("svc-final", classification_error(svc_decision(K, train.y, Kt, cfg.C), test.y),
                    classification_error(svc_decision(K, train.y, K, cfg.C), train.y), t1, alpha=alpha)
    if "feature-fixed" in methods:
        # fix_orientation is a setting of a whole run, so this network gets a run of its own
        t0 = time.perf_counter()
        fixed = replace(_sim_config(cfg, p, seed, [cfg.alpha_feature]), fix_orientation=True)
        net = simulate(fixed, progress=False, datasets=(train, test)).networks()[0]
        row("feature-fixed", net["test_error"], net["train_error"], t0, alpha=cfg.alpha_feature,
            stop_reason=net["stop_reason"], t=net["t"], rel_change_omega=net["rel_change_omega"],
            converged=net["converged"], min_margin=net["min_margin"])
    return rows
