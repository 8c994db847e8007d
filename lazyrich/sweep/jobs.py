"""The job kinds a sweep runs: for each, its parameters with defaults, a check, and a run.

A run returns a :class:`JobResult`: scalars (numbers, strings, booleans, None: the columns of
``lazyrich results``) and numpy arrays (saved beside the store). A kind may also batch runs
(``run_batch``): simulate runs that differ only in alpha and seed train as one ensemble, and the
methods of one learning-curve cell share its training set and ensemble.

Kinds (``lazyrich sweep --kinds`` prints each with its defaults):

- ``simulate``: one network (one alpha, one seed) of numerics.simulate;
- ``learning-curve``: one (method, p, seed) cell of numerics.kernels.learning_cells;
- ``attractor-count``: the stable equilibria reached by the h neurons of a network (g = y);
  the saved ``label`` array gives A for its first h' < h neurons too (numerics.fixed_points.attractor_count);
- ``fixed-points``: every equilibrium of the neuron flow of one sign class, numerics.fixed_points.equilibria;
- ``kernel``: the infinite-width NTK or NNGP of a data set and its kernel PCA (how much of the
  label the top eigenvectors carry), numerics.ntk and numerics.kernel_pca.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import cache

from dataclasses import asdict, dataclass, field, fields
import json
from typing import Callable

import numpy as np

from .errors import SpecError
from ..theory.errors import LazyrichError


@dataclass
class JobResult:
    scalars: dict  # numbers (numpy ones too; NaN is stored as None), strings, booleans, None
    arrays: dict = field(default_factory=dict)

    def checked(self) -> "JobResult":
        """Scalars as JSON values and arrays as numpy arrays, or a ValueError naming the bad one."""
        scalars = {}
        for name, v in self.scalars.items():
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and v != v:
                v = None  # NaN: "not measured" (a test error without a test set ...)
            elif isinstance(v, float) and abs(v) == float("inf"):
                raise LazyrichError(f"scalar result {name} is infinite")
            if not (v is None or isinstance(v, (bool, int, float, str))):
                raise LazyrichError(f"scalar result {name} is not a number, string or boolean: {v!r}")
            scalars[str(name)] = v
        arrays = {str(k): np.asarray(a) for k, a in self.arrays.items()}
        bad = [k for k, a in arrays.items() if a.dtype == object]
        if bad:
            raise LazyrichError(f"array result(s) {', '.join(bad)} hold Python objects")
        return JobResult(scalars, arrays)


@dataclass(frozen=True)
class KindSpec:
    name: str
    doc: str
    defaults: dict
    run: Callable  # (params, device) -> JobResult
    validate: Callable = lambda params: None  # raises ValueError naming the problem
    batch_key: Callable | None = None  # params -> a hashable key: equal keys batch together
    run_batch: Callable | None = None  # (list of params, device) -> list of JobResult
    # parameters that may be None, with a value of their type (a spec's None or number both pass)
    optional: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------- simulate
def _simulation_defaults() -> dict:
    from ..numerics.simulator import SimulationConfig

    base = {f.name: f.default for f in fields(SimulationConfig) if f.name not in ("alphas", "seeds", "device")}
    return {**base, "alpha": 1e-3, "seed": 0}


def _simulation_config(params: dict, device: str = "cpu", alphas=None, seeds=None):
    from ..numerics.simulator import SimulationConfig

    rest = {k: v for k, v in params.items() if k not in ("alpha", "seed")}
    return SimulationConfig(**rest, alphas=tuple(alphas or (params["alpha"],)), seeds=tuple(seeds or (params["seed"],)),
                            device=device)


def _network_result(res, e: int) -> JobResult:
    net = res.networks()[e]
    scalars = {k: v for k, v in net.items() if k not in ("seed", "alpha")}
    arrays = {k: (a if k == "t_checkpoints" else a[e]) for k, a in res.arrays.items()}
    return JobResult(scalars, arrays)


def _simulate(params: dict, device: str) -> JobResult:
    from ..numerics.simulator import simulate

    res = simulate(_simulation_config(params, device), progress=False)
    return _network_result(res, 0)


def _batch_key_without(*names):
    """A batch key: every parameter except ``names`` (the ones a batch may vary)."""
    return lambda params: json.dumps({k: v for k, v in params.items() if k not in names}, sort_keys=True)


def _simulate_batch(batch: list[dict], device: str) -> list[JobResult]:
    """One ensemble for runs that differ only in (alpha, seed): the product of their alphas and
    seeds when they fill it, else one ensemble per alpha (each network keeps its own step size)."""
    from ..numerics.simulator import simulate

    alphas = sorted({p["alpha"] for p in batch})
    seeds = sorted({p["seed"] for p in batch})
    groups = [(alphas, seeds)] if len(alphas) * len(seeds) == len(batch) else \
        [([a], sorted(p["seed"] for p in batch if p["alpha"] == a)) for a in alphas]
    out = {}
    for a_list, s_list in groups:
        res = simulate(_simulation_config(batch[0], device, a_list, s_list), progress=False)
        for e, (seed, alpha) in enumerate(res.config.networks()):
            out[(alpha, seed)] = _network_result(res, e)
    return [out[(p["alpha"], p["seed"])] for p in batch]


def _check_simulate(params: dict):
    from ..numerics.simulator.config import check_files

    cfg = _simulation_config(params)
    check_files(cfg)
    params["loss"] = cfg.loss  # the canonical loss name, so that "Hinge" and "hinge" are one run


# ---------------------------------------------------------------------------- learning-curve
def _learning_curve_defaults() -> dict:
    from ..numerics.kernels.learning_cells import LearningCurveConfig

    skip = ("ps", "seeds", "methods", "bootstrap", "device")
    base = {k: v for k, v in asdict(LearningCurveConfig()).items() if k not in skip}
    return {**base, "method": "lazy", "p": 64, "seed": 0}


def _learning_curve_config(params: dict, device: str = "cpu"):
    from ..numerics.kernels.learning_cells import LearningCurveConfig

    rest = {k: v for k, v in params.items() if k not in ("method", "p", "seed")}
    return LearningCurveConfig(**rest, ps=(params["p"],), seeds=(params["seed"],), methods=(params["method"],),
                               device=device)


def _learning_curve(params: dict, device: str) -> JobResult:
    return _learning_curve_batch([params], device)[0]


def _learning_curve_batch(batch: list[dict], device: str) -> list[JobResult]:
    """The methods of one (p, seed) cell at once: one training set, one kernel, and the lazy and
    feature networks as one ensemble (run_cell)."""
    from ..numerics.kernels.learning_cells import run_cell

    p = batch[0]
    rows = run_cell(_learning_curve_config(p, device), p["p"], p["seed"], [q["method"] for q in batch])
    by = {row["method"]: row for row in rows}
    skip = ("method", "p", "seed", "seconds")  # parameters already, and the store times each run
    return [JobResult({k: v for k, v in by[q["method"]].items() if k not in skip}) for q in batch]


# --------------------------------------------------------------------------- attractor-count
def _attractor_count(params: dict, device: str) -> JobResult:
    from ..numerics.fixed_points.attractor_count import attractor_counts, reached
    from ..numerics.data import make

    ds = make(params["model"], params["p"], params["d"], params["seed"], d_par=params["d_par"])
    res = reached(ds.X, ds.y, params["h"], params["seed"], device=device)
    label = res["label"]
    scalars = {"A": attractor_counts(label, [len(label)])[0], "stable": res["stable"], "equilibria": res["equilibria"],
               "fraction_at_stable": float((label >= 0).mean()), "complete": res["complete"],
               **{f"status_{k}": int(v) for k, v in sorted(res["status"].items())}}
    return JobResult(scalars, {"label": label})


def _check_data(kind: str, params: dict, sizes=("p", "d")):
    """The data-set parameters shared by attractor-count, fixed-points and kernel (_DATA)."""
    if params["model"] not in ("stripe", "sphere", "cylinder"):
        raise LazyrichError(f"{kind}: model must be stripe, sphere or cylinder, got {params['model']!r}")
    for name in sizes:
        if params[name] < 1:
            raise LazyrichError(f"{kind}: {name} must be a positive integer, got {params[name]}")


def _check_attractor_count(params: dict):
    _check_data("attractor-count", params, ("p", "d", "h"))


# ------------------------------------------------------------------------------ fixed-points
def _fixed_points(params: dict, device: str) -> JobResult:
    from ..numerics.data import make
    from ..numerics.fixed_points.equilibria import find_equilibria
    from ..numerics.fixed_points.neuron_field import NeuronField

    ds = make(params["model"], params["p"], params["d"], params["seed"], d_par=params["d_par"])
    fp = find_equilibria(NeuronField(ds.X, ds.y, params["sign_b"], params["sign_beta"]), polish=params["polish"])
    eq = fp.equilibria
    scalars = {"equilibria": len(eq), "stable": len(fp.stable), "regular": sum(e.kind == "regular" for e in eq),
               "sliding": sum(e.kind == "sliding" for e in eq),
               "stable_sliding": sum(e.kind == "sliding" and e.stable for e in eq),
               "complete": bool(fp.complete)}
    arrays = {"z": np.array([e.z for e in eq], dtype=np.float64).reshape(-1, ds.d),
              "stable": np.array([e.stable for e in eq], dtype=bool),
              "sliding": np.array([e.kind == "sliding" for e in eq], dtype=bool)}
    return JobResult(scalars, arrays)


def _check_signs(params: dict):
    _check_data("fixed-points", params)
    for name in ("sign_b", "sign_beta"):
        if params[name] not in (1, -1):
            raise LazyrichError(f"fixed-points: {name} must be 1 or -1, got {params[name]}")


# ------------------------------------------------------------------------------------ kernel
@contextmanager
def _one_thread():
    """torch and the BLAS/LAPACK under numpy on one thread: their reductions' order, and so a result's
    last bits, depend on the thread count, which follows the sweep's --workers. One thread makes a run
    key's result the same whatever the worker count (the kernel job's cost is one eigen-decomposition)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _blas_controller().limit(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


@cache
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries, made once per process: threadpool_limits
    rescans them on every call (0.41 ms, against 0.017 ms for a kept controller, on jobs of about 1 ms)."""
    import numpy  # noqa: F401 - its BLAS must be loaded before the scan
    import torch  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _kernel(params: dict, device: str) -> JobResult:
    from ..numerics.data import make
    from ..numerics.kernels.kernel_pca import kernel_pca
    from ..numerics.kernels.ntk import analytic_kernel

    ds = make(params["model"], params["p"], params["d"], params["seed"], d_par=params["d_par"])
    with _one_thread():
        K = analytic_kernel(ds.X, kind=params["kernel"], device=device).cpu().numpy()
        res = kernel_pca(K, ds.y, center=params["center"], mi_components=0)
    top = min(params["top"], res.eigenvalues.size)
    scalars = {"rank_half_label": res.rank_reaching(0.5), "rank_90pc_label": res.rank_reaching(0.9),
               "label_in_top": float(res.cumulative[top - 1]), "top_eigenvalue": float(res.eigenvalues[0]),
               "trace": float(res.eigenvalues.sum())}
    return JobResult(scalars, {"eigenvalues": res.eigenvalues, "label_weight": res.label_weight})


def _check_kernel(params: dict):
    from ..numerics.kernels.ntk import KINDS

    _check_data("kernel", params)
    if params["kernel"] not in KINDS:
        raise LazyrichError(f"kernel: kernel must be one of {', '.join(KINDS)}, got {params['kernel']!r}")
    if params["top"] < 1:
        raise LazyrichError(f"kernel: top must be a positive integer, got {params['top']}")


_DATA = {"model": "sphere", "d": 2, "p": 64, "seed": 0, "d_par": None}
# type prototypes of the parameters that may be None
_OPTIONAL = {"d_par": 0, "max_wall": 0.0, "test_file": "", "init_scale": 0.0, "imbalance": 0.0}


def _registry() -> dict[str, KindSpec]:
    return {k.name: k for k in (
        KindSpec("simulate", "one network trained by gradient flow (numerics.simulate)", _simulation_defaults(),
                 _simulate, _check_simulate, _batch_key_without("alpha", "seed"), _simulate_batch, _OPTIONAL),
        KindSpec("learning-curve", "test error of one method on one (p, seed) training set",
                 _learning_curve_defaults(), _learning_curve,
                 lambda params: _learning_curve_config(params).validate(), _batch_key_without("method"),
                 _learning_curve_batch, _OPTIONAL),
        KindSpec("attractor-count", "stable equilibria reached by the h neurons of a network (g = y)",
                 {**_DATA, "h": 64}, _attractor_count, _check_attractor_count, optional=_OPTIONAL),
        KindSpec("fixed-points", "every equilibrium of the neuron flow dz/dt = F(z) of one sign class",
                 {**_DATA, "sign_b": 1, "sign_beta": 1, "polish": False}, _fixed_points, _check_signs,
                 optional=_OPTIONAL),
        KindSpec("kernel", "infinite-width kernel of a data set and its kernel PCA",
                 {**_DATA, "kernel": "ntk", "center": False, "top": 10}, _kernel, _check_kernel,
                 optional=_OPTIONAL),
    )}


_KINDS: dict[str, KindSpec] | None = None


def kinds() -> dict[str, KindSpec]:
    global _KINDS
    if _KINDS is None:
        _KINDS = _registry()
    return _KINDS


def kind_spec(name: str) -> KindSpec:
    if name not in kinds():
        raise SpecError(f"unknown job kind {name!r}; choose one of {', '.join(kinds())}")
    return kinds()[name]
