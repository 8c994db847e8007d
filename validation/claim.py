"""What a claim is, how it is run, and what it returns.

A claim is a function ``run(ctx) -> Outcome`` registered with :func:`claim`, together with its
statement in words and its kind:

- ``identity``: must hold if lazyrich is right (a derived velocity against measured velocities,
  an analytic kernel against an empirical one). Confirmed or refuted by a tolerance.
- ``empirical``: a claim of the talk, which may turn out true or false (learning-curve
  exponents, crossovers). Confirmed, refuted, or inconclusive when the statistics cannot decide.

runner.run_claims runs the selected claims, catches a claim that crashes (it then "could not be
evaluated": verdict inconclusive, ``passed`` false, the error recorded) and returns one
:class:`ClaimResult` per claim. ``passed`` is true when an identity is confirmed or an
empirical claim was evaluated, whatever its verdict. The verdict helpers at the bottom
(verdict_within, verdict_interval, combine, seed_verdict) are the one way claims decide.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
import math
from pathlib import Path
from typing import Callable

from ..numerics.stats import finite_values
from ..theory.errors import LazyrichError

VERDICTS = ("confirmed", "refuted", "inconclusive")
KINDS = ("identity", "empirical")


@dataclass
class Context:
    quick: bool = True
    device: str = "cpu"
    report_dir: Path = Path("validation-report")
    seed: int = 0
    workers: int = 1  # processes for the claims that run sweeps (learning curves, attractor counts)
    # relative perturbation of a claim's prediction, by claim name: the tests use it to prove that
    # each identity can fail (a check that passes a wrong prediction checks nothing)
    perturb: dict = field(default_factory=dict)

    def perturbed(self, name: str, value):
        return value * (1 + self.perturb.get(name, 0.0))

    def figure(self, name: str) -> Path:
        """Path of the PNG for figure ``name`` in the report folder."""
        self.report_dir.mkdir(parents=True, exist_ok=True)
        return self.report_dir / f"{name}.png"

    def store(self, name: str) -> Path:
        """The results store of a claim's sweep (lazyrich.sweep): kept in the report folder, so that
        an interrupted validation resumes and ``lazyrich results`` can query every run."""
        return self.report_dir / name / ("quick" if self.quick else "full")

    def size(self, quick, full):
        """The quick value (CPU, minutes) or the full one (sizes fit for a GPU)."""
        return quick if self.quick else full

    def training(self) -> dict:
        """The integrator of the networks a claim trains (SimulationConfig settings): at quick sizes the Euler
        controller, whose tol_output those sizes were tuned for (seconds on a CPU; margins to 1 - tol_output);
        at full sizes the default, filippov (every hinge margin to 1 - 1e-9, exact through the kinks)."""
        return {"integrator": "euler"} if self.quick else {}


@dataclass
class Trained:
    """The networks a claim trained to read its numbers at the end of training, and how many got there: every
    training margin >= 1 - 1e-9 for the margin losses, the loss stop for the others (SimulationResult.converged).
    An Euler run stopped at its own margin tolerance, or a run stopped by t_max or the wall clock, did not."""

    networks: int
    converged: int
    not_converged: list = field(default_factory=list)  # one line per network that did not: which, why, when

    @property
    def fraction(self) -> float:
        return self.converged / self.networks if self.networks else float("nan")

    @classmethod
    def of(cls, rows, label: str = "") -> "Trained":
        """From network rows (SimulationResult.networks(), or records with seed, alpha, stop_reason, t,
        converged and optionally min_margin; a record without converged, stored before it was recorded, counts as
        not converged)."""
        rows = list(rows)
        missed = [r for r in rows if r.get("converged") is not True]
        return cls(len(rows), len(rows) - len(missed), [
            f"{label}alpha = {r.get('alpha', float('nan')):g}, seed {r.get('seed')}: {r.get('stop_reason')} at t = "
            f"{r.get('t', float('nan')):.3g}" + ("" if r.get("min_margin") is None else
                                                  f", min margin {r['min_margin']:.3g}") for r in missed])

    @classmethod
    def total(cls, parts) -> "Trained | None":
        """The parts (Trained or None) summed; None when there is none."""
        parts = [t for t in parts if t is not None]
        if not parts:
            return None
        return cls(sum(t.networks for t in parts), sum(t.converged for t in parts),
                   [line for t in parts for line in t.not_converged])

    def to_json(self) -> dict:
        return json_safe({**asdict(self), "fraction": self.fraction})


def trained_total(results) -> Trained | None:
    """The trained networks of every claim result that has some, summed (None when none has)."""
    return Trained.total(r.trained for r in results)


@dataclass
class Outcome:
    """What a claim's function returns: the verdict and the numbers behind it."""

    verdict: str
    measured: object
    predicted: object
    tolerance: object
    figure: str | None = None
    summary: str = ""  # one or two sentences with the numbers, for the report
    details: dict = field(default_factory=dict)
    trained: Trained | None = None  # the claims read off trained networks: how many reached the end of training

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise LazyrichError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass
class ClaimResult:
    name: str
    kind: str
    statement: str
    verdict: str
    measured: object
    predicted: object
    tolerance: object
    figure: str | None
    summary: str
    details: dict
    seconds: float
    error: str | None = None
    trained: Trained | None = None

    @property
    def passed(self) -> bool:
        if self.error is not None:
            return False
        return self.verdict == "confirmed" if self.kind == "identity" else True

    def to_json(self) -> dict:
        out = {**asdict(self), "passed": self.passed}
        out["trained"] = None if self.trained is None else self.trained.to_json()
        return json_safe(out)


def json_safe(obj):
    """Strict JSON: NaN and infinities become None, numpy scalars and arrays numbers and lists, paths
    strings (Python's json writes NaN, which JSON does not have). Every --json output goes through it."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist"):
        return json_safe(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


@dataclass(frozen=True)
class Claim:
    name: str
    kind: str
    statement: str
    run: Callable[[Context], Outcome]


REGISTRY: dict[str, Claim] = {}


def claim(name: str, kind: str, statement: str):
    """Register ``run(ctx) -> Outcome`` as the claim ``name``."""
    if kind not in KINDS:
        raise LazyrichError(f"kind must be one of {KINDS}, got {kind!r}")

    def register(fn):
        REGISTRY[name] = Claim(name, kind, " ".join(statement.split()), fn)
        return fn

    return register


def verdict_within(measured: float, predicted: float, tolerance: float) -> str:
    """An identity's verdict: |measured - predicted| <= tolerance."""
    if measured is None or not math.isfinite(measured):
        return "refuted"
    return "confirmed" if abs(measured - predicted) <= tolerance else "refuted"


def verdict_interval(low: float | None, high: float | None, threshold: float, above: bool = True) -> str:
    """An empirical verdict from a confidence interval against a threshold.

    Confirmed when the whole interval lies on the claimed side (above, or below), refuted when
    it lies entirely on the other side, inconclusive when it straddles the threshold.
    """
    if low is None or high is None:
        return "inconclusive"
    if above:
        return "confirmed" if low > threshold else "refuted" if high < threshold else "inconclusive"
    return "confirmed" if high < threshold else "refuted" if low > threshold else "inconclusive"


def combine(verdicts) -> str:
    """A claim made of parts: refuted when one part is, confirmed when all are, else inconclusive."""
    verdicts = list(verdicts)
    if "refuted" in verdicts:
        return "refuted"
    return "confirmed" if verdicts and all(v == "confirmed" for v in verdicts) else "inconclusive"


def seed_verdict(values, threshold: float, above: bool) -> str:
    """Verdict over seeds: confirmed when every seed is on the claimed side, refuted when none is
    (missing values, None or NaN, are left out)."""
    v = finite_values(values)
    if v.size == 0:
        return "inconclusive"
    return verdict_interval(float(v.min()), float(v.max()), threshold, above)
