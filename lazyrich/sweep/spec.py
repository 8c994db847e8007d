"""Sweep specifications: a TOML file of jobs, each a grid over the parameters of one job kind.

    name = "alpha-scan"            # optional: the sweep's name in the store

    [[job]]
    kind = "simulate"              # simulate, learning-curve, attractor-count, fixed-points, kernel
    seeds = 4                      # seed = 0, 1, 2, 3 (or a list: seeds = [0, 5, 7])
    [job.fixed]                    # the same in every run
    data = "stripe"
    d = 5
    [job.grid]                     # every combination of these lists
    p = [64, 128, 256]
    alpha = [0.01, 1000.0]
    [job.zip]                      # optional: lists varied together (equal lengths), crossed with the grid
    h = [64, 256]
    t_max = [100.0, 400.0]

A run is one job kind with every parameter set: those given, the rest at the kind's defaults
(``lazyrich sweep --kinds`` lists them). Its key is a hash of the kind and the full parameter set
(values coerced to the defaults' types, so ``1000`` and ``1e3`` are the same run); the device is
not part of it (``jobs.KindSpec``): a run computed on a GPU and on a CPU is the same run.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
import hashlib
import itertools
import json
from pathlib import Path
import tomllib

from .errors import SpecError
from .jobs import kind_spec


@dataclass(frozen=True)
class Run:
    kind: str
    params: dict  # every parameter of the kind, defaults filled in

    @cached_property
    def key(self) -> str:
        return run_key(self.kind, self.params)


def canonical(params: dict) -> str:
    """The JSON text a key hashes: sorted keys, no whitespace, floats as Python prints them."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)


def run_key(kind: str, params: dict) -> str:
    """The hash of the kind and its parameters. Parameters added to a kind after stores were made
    (the imbalance knob) are left out at their defaults, so that those stores keep their keys."""
    from ..numerics.simulator.config import KNOB_DEFAULTS

    kept = {k: v for k, v in params.items() if not (k in KNOB_DEFAULTS and v == KNOB_DEFAULTS[k])}
    return hashlib.sha256(f"{kind}\n{canonical(kept)}".encode()).hexdigest()[:20]


def make_run(kind: str, given: dict) -> Run:
    """A run of ``kind`` with ``given`` parameters (checked and coerced) and the rest at their defaults."""
    spec = kind_spec(kind)
    unknown = sorted(set(given) - set(spec.defaults))
    if unknown:
        raise SpecError(f"{kind}: unknown parameter(s) {', '.join(unknown)}; "
                        f"{kind} takes {', '.join(sorted(spec.defaults))}")
    params = dict(spec.defaults)
    for name, value in given.items():
        optional = name in spec.optional  # may be None; otherwise of the type of spec.optional[name]
        if value is None and optional:
            params[name] = None
        else:
            params[name] = _coerce(kind, name, value, spec.optional[name] if optional else spec.defaults[name])
    spec.validate(params)  # may also canonicalise a value (a loss name)
    return Run(kind, params)


def _coerce(kind, name, value, default):
    """``value`` in the type of the default (ints to floats; tuples as lists), or a SpecError."""
    where = f"{kind}: parameter {name}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SpecError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise SpecError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SpecError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise SpecError(f"{where} must be a list, got {value!r}")
        return list(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise SpecError(f"{where} must be a table, got {value!r}")
        return dict(value)
    raise SpecError(f"{where} cannot be {value!r}")


def _lists(job: dict, section: str, where: str) -> dict:
    table = job.get(section, {})
    if not isinstance(table, dict):
        raise SpecError(f"{where}: [{section}] must be a table of lists")
    for name, values in table.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"{where}: {section}.{name} must be a non-empty list, got {values!r}")
    return table


def expand_job(job: dict, index: int = 0) -> list[Run]:
    """The runs of one [[job]] table: fixed x grid x zip x seeds."""
    where = f"job {index + 1}"
    if not isinstance(job, dict) or "kind" not in job:
        raise SpecError(f"{where}: every [[job]] needs a kind")
    allowed = {"kind", "fixed", "grid", "zip", "seeds"}
    extra = sorted(set(job) - allowed)
    if extra:
        raise SpecError(f"{where}: unknown key(s) {', '.join(extra)}; a job has {', '.join(sorted(allowed))} "
                        "(parameters go in [job.fixed], [job.grid] or [job.zip])")
    kind, fixed = job["kind"], job.get("fixed", {})
    if not isinstance(fixed, dict):
        raise SpecError(f"{where}: [job.fixed] must be a table")
    grid, zipped = _lists(job, "grid", where), _lists(job, "zip", where)
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise SpecError(f"{where}: the [job.zip] lists must have equal lengths, got "
                        + ", ".join(f"{k}: {len(v)}" for k, v in zipped.items()))
    seeds = job.get("seeds")
    if seeds is not None:
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise SpecError(f"{where}: seeds = {seeds}: give a positive count or a list")
            seeds = list(range(seeds))
        if not isinstance(seeds, list) or not seeds:
            raise SpecError(f"{where}: seeds must be a count or a non-empty list, got {seeds!r}")
        grid = {**grid, "seed": seeds}
    twice = sorted((set(fixed) & set(grid)) | (set(fixed) & set(zipped)) | (set(grid) & set(zipped)))
    if twice:
        raise SpecError(f"{where}: parameter(s) {', '.join(twice)} set in more than one of fixed, grid, zip, seeds")
    names = list(grid)
    zip_rows = [dict(zip(zipped, row)) for row in zip(*zipped.values())] if zipped else [{}]
    runs = []
    for combo in itertools.product(*(grid[n] for n in names)):
        for z in zip_rows:
            runs.append(make_run(kind, {**fixed, **dict(zip(names, combo)), **z}))
    return runs


def expand(spec: dict) -> list[Run]:
    """All runs of a parsed specification, in order, each once (a run listed twice is kept once)."""
    if not isinstance(spec, dict):
        raise SpecError("a sweep specification is a TOML table")
    extra = sorted(set(spec) - {"name", "job"})
    if extra:
        raise SpecError(f"unknown top-level key(s) {', '.join(extra)}; a specification has name and [[job]] tables")
    jobs = spec.get("job")
    if isinstance(jobs, dict):
        jobs = [jobs]
    if not jobs:
        raise SpecError("the specification has no [[job]] table")
    runs, seen = [], set()
    for i, job in enumerate(jobs):
        for run in expand_job(job, i):
            if run.key not in seen:
                seen.add(run.key)
                runs.append(run)
    return runs


def load_spec(path) -> tuple[str, dict, list[Run]]:
    """(name, parsed TOML, runs) of a specification file; the name defaults to the file's stem."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"no sweep specification at {path}")
    if path.is_dir():
        raise SpecError(f"{path} is a directory: give the sweep's TOML file (a store goes to --store)")
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not a text file (not UTF-8): a sweep specification is TOML") from None
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror or exc}") from None
    name = spec.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise SpecError(f"name must be a non-empty string, got {name!r}")
    return name, spec, expand(spec)
