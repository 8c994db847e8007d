"""What every command shares: the parser that fails in one line, the JSON/text output, argument parsers."""
from __future__ import annotations

import argparse
import json
import os


class UsageError(Exception):
    """A bad argument: reported in one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line instead of argparse's usage block
        raise UsageError(f"{self.prog}: {message}")


def emit(args, payload: dict, text: str):
    if getattr(args, "json", False):
        from ..validation.claim import json_safe

        print(json.dumps(json_safe(payload), allow_nan=False, default=float))
    else:
        print(text)


# where each command writes: (attribute, kind); "out" is a folder for simulate and learning-curve
OUTPUTS = {"out": "file", "png": "file", "report": "dir", "notes": "dir", "store": "dir"}
FOLDER_OUT = ("simulate", "learning-curve")
READS_STORE = ("results",)  # the store argument that is read, not written


def check_outputs(args) -> None:
    """Before any work: every output path of the command can be written (numerics.data.files, imported
    only when the command writes: it brings numpy and scipy, which a plain ``results`` does not need)."""
    for attr, kind in OUTPUTS.items():
        value = getattr(args, attr, None)
        if value is None or (attr == "store" and args.command in READS_STORE):
            continue
        from ..numerics.data.files import check_output

        if attr == "out" and args.command in FOLDER_OUT:
            kind = "dir"
        check_output(value, kind, f"--{attr}")


def count(minimum: int):
    """An argparse type: an integer >= minimum (argparse names the flag in its one-line error)."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {v}")
        return v

    return parse


def positive_float(text):
    """An argparse type: a finite number > 0 (a NaN or infinite limit makes a run meaningless)."""
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be finite and positive, got {text}")
    return v


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0:8' (a range), '0,3,5' (a list) or '7' (one seed)."""
    try:
        if ":" in text:
            lo, hi = (int(v) for v in text.split(":"))
            seeds = tuple(range(lo, hi))
        else:
            seeds = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--seeds must look like 0:8 or 0,3,5, got {text!r}") from None
    if not seeds:
        raise UsageError(f"--seeds {text} selects no seed")
    if min(seeds) < 0:
        raise UsageError(f"--seeds must be non-negative, got {text!r}")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text} repeats a seed")
    return seeds


def parse_floats(text: str, flag: str) -> tuple[float, ...]:
    import math

    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{flag} must be a number or a comma-separated list, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{flag} must be finite numbers, got {text!r}")
    return values


def parse_sign(value):
    v = int(value)
    if v not in (1, -1):
        raise argparse.ArgumentTypeError(f"must be +1 or -1, got {value}")
    return v


def worker_count(value) -> int:
    """--workers: a positive count, by default one per core."""
    if value is None:
        return os.cpu_count() or 1
    if value < 1:
        raise UsageError(f"--workers must be a positive integer, got {value}")
    return value



def add_imbalance_arguments(p):
    """The imbalance knob of the ReLU networks (SimulationConfig lr_first, lr_second, init_scale, imbalance)."""
    p.add_argument("--lr-first", type=float, default=1.0, help="learning rate eta_1 of the first layer (omega, b)")
    p.add_argument("--lr-second", type=float, default=1.0, help="learning rate eta_2 of the second layer beta")
    p.add_argument("--init-scale", type=float,
                   help="tau: every neuron starts with |beta_n| |(omega_n, b_n)| = tau^2 (directions as drawn)")
    p.add_argument("--imbalance", type=float,
                   help="delta: every neuron starts with eta_1 beta_n^2 - eta_2 |(omega_n, b_n)|^2 = delta (any real)")


def imbalance_settings(args) -> dict:
    return {"lr_first": args.lr_first, "lr_second": args.lr_second, "init_scale": args.init_scale,
            "imbalance": args.imbalance}


def add_integrator_argument(p):
    """The integrator of the training flow (SimulationConfig.integrator, which checks the name: the command
    line starts without importing the simulator)."""
    p.add_argument("--integrator", default="filippov",
                   help="filippov (default): event-driven, exact through the kinks, every margin to 1 - 1e-9; "
                        "euler: the kink controller (tol-output, tol-angle), stops at margins >= 1 - tol-output; "
                        "euler-rollback: feature_lazy's rule")
