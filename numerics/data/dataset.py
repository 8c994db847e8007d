"""A dataset X (p, d) float64, y (p,) in {-1, +1} with its metadata, and its files.

Stored as .npz with keys ``X``, ``y`` and ``meta`` (a JSON string: model, p, d, seed and the
model's parameters). ``from_files`` reads the user's own arrays (.npz, .npy, .csv, .txt).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checks import DataError, check_arrays


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.X, self.y = check_arrays(self.X, self.y)

    @property
    def p(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    def save(self, path) -> Path:
        path = Path(path)
        if path.suffix != ".npz":
            raise DataError(f"output file must end in .npz, got {path.name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, X=self.X, y=self.y, meta=json.dumps(self.meta))
        return path

    def summary(self) -> dict:
        return {"p": self.p, "d": self.d, "fraction_positive": float((self.y > 0).mean()), **self.meta}


def _read_array(path: Path, key: str):
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix in (".csv", ".txt"):
        return np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2)
    raise DataError(f"cannot read {path.name!r} for {key}: use .npz, .npy, .csv or .txt")


def from_files(inputs, labels=None, p: int | None = None, d: int | None = None) -> Dataset:
    """The user's own arrays: an .npz with X and y, or X and y in two .npy/.csv/.txt files."""
    inputs = Path(inputs)
    if not inputs.is_file():
        raise DataError(f"no such file: {inputs}")
    if inputs.suffix == ".npz":
        with np.load(inputs, allow_pickle=False) as f:
            missing = {"X", "y"} - set(f.files) if labels is None else {"X"} - set(f.files)
            if missing:
                raise DataError(f"{inputs.name} lacks the array(s) {sorted(missing)}; it has {f.files}")
            X = f["X"]
            y = f["y"] if labels is None else None
    else:
        X = _read_array(inputs, "X")
        y = None
    if labels is not None:
        labels = Path(labels)
        if not labels.is_file():
            raise DataError(f"no such file: {labels}")
        y = _read_array(labels, "y")
    if y is None:
        raise DataError(f"{inputs.name} holds no labels: pass the labels file too")
    X, y = check_arrays(X, y)
    if d is not None and X.shape[1] != d:
        raise DataError(f"--d {d} but the file's points have dimension {X.shape[1]}")
    if p is not None:
        if p > X.shape[0]:
            raise DataError(f"--p {p} but the file holds only {X.shape[0]} points")
        X, y = X[:p], y[:p]
    return Dataset(X, y, {"model": "file", "p": int(X.shape[0]), "d": int(X.shape[1]), "source": str(inputs)})


def load(path) -> Dataset:
    """Read a dataset written by :meth:`Dataset.save` (or any .npz with X and y)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            if not {"X", "y"} <= set(f.files):
                raise DataError(f"{path.name} must hold arrays X and y; it has {f.files}")
            meta = json.loads(str(f["meta"])) if "meta" in f.files else {}
            return Dataset(f["X"], f["y"], meta)
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read {path}: {exc}") from exc

