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
from .files import existing_file, read_array, read_npz


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
    existing_file(path, f"the {key} file")  # before the suffix: a missing file or a folder is named as such
    if path.suffix in (".npy", ".csv", ".txt"):
        arr = read_array(path, f"the {key} file", finite=False)  # check_arrays names NaN in X or y
        return arr[:, None] if key == "X" and arr.ndim == 1 and path.suffix != ".npy" else arr
    raise DataError(f"cannot read {path.name!r} for {key}: use .npz, .npy, .csv or .txt")


def from_files(inputs, labels=None, p: int | None = None, d: int | None = None) -> Dataset:
    """The user's own arrays: an .npz with X and y, or X and y in two .npy/.csv/.txt files."""
    inputs = Path(inputs)
    if inputs.suffix == ".npz":
        f = read_npz(inputs, "--input", keys=("X", "y") if labels is None else ("X",))
        X = f["X"]
        y = f["y"] if labels is None else None
    else:
        X = _read_array(inputs, "X")
        y = None
    if labels is not None:
        y = _read_array(Path(labels), "y")
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
    f = read_npz(path, "data", keys=("X", "y"))
    try:
        meta = json.loads(str(f["meta"])) if "meta" in f else {}
    except ValueError:
        raise DataError(f"{path}: its meta entry is not JSON") from None
    return Dataset(f["X"], f["y"], meta)

