"""What a simulation is asked to do: sizes, data, the networks (alphas x seeds), tolerances, limits."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..data import Dataset, load as load_dataset, make as make_dataset
from ..data.models import BUILT_IN
from ...theory.losses import canonical_loss
from ...theory.errors import LazyrichError

STOP_REASONS = ("margins", "loss", "time", "steps", "wall", "diverged")


# settings added after runs were stored: at these values they are left out of a run's identity
# (runs saved before the integrator could be chosen were all euler runs)
KNOB_DEFAULTS = {"lr_first": 1.0, "lr_second": 1.0, "init_scale": None, "imbalance": None, "integrator": "euler",
                 "tol_local": 1e-7}
INTEGRATORS = ("filippov", "euler", "euler-rollback")


ALPHA_RANGE = (1e-8, 1e12)  # where the alpha-trick's flow is resolvable in float64 (see the message below)


class SimulationError(LazyrichError):
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
    # fixed-orientation networks, feature learning without the neurons' alignment (network.velocity)
    fix_orientation: bool = False
    test_file: str | None = None  # an .npz test set when data is a file
    # the imbalance knob (Kunin et al.): learning rates of the first layer (omega, b) and of beta, and an
    # initialisation with |beta_n| |(omega_n, b_n)| = init_scale^2 and eta_1 beta_n^2 - eta_2 |(omega_n, b_n)|^2
    # = imbalance for every neuron (network.init_ensemble); None and None keep the standard normal draws
    lr_first: float = 1.0
    lr_second: float = 1.0
    init_scale: float | None = None
    imbalance: float | None = None
    # filippov (the default): event-driven, exact through the kinks, every hinge margin to 1 - 1e-9 (filippov.py);
    # euler: the kink controller with tol_output, tol_angle, dt_min and grow, which stops at margins >= 1 - tol_output;
    # euler-rollback: feature_lazy's rule
    integrator: str = "filippov"
    # filippov, smooth losses (soft and quadratic hinge, MSE, logistic): the local error of a step in every margin
    # F = alpha (f - f0), estimated to third order (smooth_step.py); the hinge's steps are exact and ignore it
    tol_local: float = 1e-7

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
        lo, hi = ALPHA_RANGE
        if any(not lo <= a <= hi for a in self.alphas):
            raise SimulationError(f"alpha must lie in [{lo:g}, {hi:g}], got {self.alphas}: below, the weights must grow "
                                  "like 1/alpha and the flow diverges in float64 (measured at 1e-10); above, the change "
                                  "f - f0 ~ 1/alpha sinks below float64's resolution of f0")
        try:
            self.loss = canonical_loss(self.loss)
        except ValueError as exc:
            raise SimulationError(str(exc)) from None
        if self.dtype not in ("float64", "float32"):
            raise SimulationError(f"dtype must be float64 or float32, got {self.dtype!r}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise SimulationError(f"device must be auto, cpu or cuda, got {self.device!r}")
        for name in ("t_max", "t_first", "tol_output", "tol_angle", "dt_min", "tol_local"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise SimulationError(f"{name} must be finite and positive, got {v}")
        if self.t_first >= self.t_max:
            raise SimulationError(f"t_first ({self.t_first}) must be below t_max ({self.t_max})")
        if self.grow <= 1:
            raise SimulationError(f"grow must exceed 1, got {self.grow}")
        if self.max_wall is not None and not (math.isfinite(self.max_wall) and self.max_wall > 0):
            raise SimulationError(f"max_wall must be finite and positive (seconds), got {self.max_wall}")
        if not isinstance(self.track_neurons, (int, np.integer)) or self.track_neurons < 0:
            raise SimulationError(f"track_neurons must be an integer >= 0, got {self.track_neurons!r}")
        if self.test_file is not None and self.data in BUILT_IN:
            raise SimulationError(f"test_file only applies to data from a file; the {self.data} model draws its own "
                                  "test set (ptest)")
        if self.d_par is not None and self.data != "cylinder":
            raise SimulationError(f"d_par only applies to the cylinder model, not to {self.data!r}")
        for name in ("lr_first", "lr_second"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v) and v > 0):
                raise SimulationError(f"{name} must be finite and positive, got {v!r}")
        if self.init_scale is not None and not (math.isfinite(self.init_scale) and self.init_scale > 0):
            raise SimulationError(f"init_scale must be finite and positive, got {self.init_scale}")
        if self.imbalance is not None and not math.isfinite(self.imbalance):
            raise SimulationError(f"imbalance must be finite, got {self.imbalance}")
        if self.integrator not in INTEGRATORS:
            raise SimulationError(f"integrator must be one of {', '.join(INTEGRATORS)}, got {self.integrator!r}")
        if self.integrator == "filippov" and self.dtype != "float64":
            raise SimulationError("the filippov integrator needs float64: it holds margins to 1e-9 and switching "
                                  "surfaces to 1e-12 of their scale, below float32's resolution (--integrator euler "
                                  "runs float32)")
        if not isinstance(self.fix_orientation, (bool, np.bool_)):
            raise SimulationError(f"fix_orientation must be True or False, got {self.fix_orientation!r}")

    def networks(self) -> list[tuple[int, float]]:
        """(seed, alpha) of every network, alpha-major."""
        return [(s, a) for a in self.alphas for s in self.seeds]

    def init_options(self) -> dict:
        """The keyword arguments of network.init_ensemble that the imbalance knob sets."""
        return {"init_scale": self.init_scale, "imbalance": self.imbalance, "lr": self.lr}

    @property
    def lr(self) -> tuple[float, float]:
        return (float(self.lr_first), float(self.lr_second))

    def identity(self) -> dict:
        """What must match for a run to be resumed: not the device, the wall-clock or the step limit.
        The imbalance knob's settings enter only when set, so runs saved before it existed resume."""
        out = {k: v for k, v in asdict(self).items() if k not in ("device", "max_wall", "max_steps")}
        for name, default in KNOB_DEFAULTS.items():
            if out[name] == default:
                del out[name]
        return out


def check_files(cfg: SimulationConfig) -> None:
    """The configuration's data files exist (a sweep checks this before any run; a saved result is
    loaded without its data, so SimulationConfig itself does not)."""
    from pathlib import Path

    for flag, name in (("data", cfg.data), ("test_file", cfg.test_file)):
        if name is not None and name not in BUILT_IN and not Path(name).is_file():
            raise SimulationError(f"{flag}: no such file: {name} (or use a built-in model: stripe, sphere, cylinder)")


def build_datasets(cfg: SimulationConfig) -> tuple[Dataset, Dataset | None]:
    if cfg.data in BUILT_IN:
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

