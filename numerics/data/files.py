"""Reading the user's files and checking the user's output paths, in one place.

Every command reads arrays through ``read_npz``, ``read_array`` and ``read_torch`` and checks where it
will write with ``check_output`` before any work starts. A file that is missing, a directory, empty,
truncated, of the wrong kind (an .npz where an .npy belongs, text named .npz, pickled objects) or an
output path that cannot be written (a file where a folder belongs, a folder where a file belongs, a path
under a file, no permission) raises FileInputError naming the flag and the file: the command line
prints it in one line and exits 2.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .checks import DataError


class FileInputError(DataError):
    """A file the user named that cannot be read, or an output path that cannot be written."""


def existing_file(path, what: str) -> Path:
    """The path of a readable, non-empty file, or FileInputError naming ``what`` and the problem."""
    path = Path(path)
    if not path.exists():
        raise FileInputError(f"{what}: no such file: {path}")
    if path.is_dir():
        raise FileInputError(f"{what}: {path} is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise FileInputError(f"{what}: cannot read {path}: permission denied")
    if path.stat().st_size == 0:
        raise FileInputError(f"{what}: {path} is empty")
    return path


def read_npz(path, what: str = "input", keys=None) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, loaded now (a truncated member fails here, not later);
    ``keys``: the arrays it must hold."""
    path = existing_file(path, what)
    try:
        with np.load(path, allow_pickle=False) as f:
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise FileInputError(f"{what}: {path} is a single .npy array, not an .npz archive")
            out = {k: f[k] for k in f.files}
    except FileInputError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise FileInputError(f"{what}: {path} is not a readable .npz archive ({_why(exc)})") from None
    missing = [k for k in (keys or ()) if k not in out]
    if missing:
        raise FileInputError(f"{what}: {path.name} lacks the array(s) {missing}; it has {sorted(out)}")
    return out


def read_array(path, what: str = "input", shape: tuple | None = None, finite: bool = True,
               mmap: bool = False) -> np.ndarray:
    """One numeric array from .npy (or .csv/.txt), with its shape (None entries: any size) checked."""
    path = existing_file(path, what)
    try:
        if path.suffix in (".csv", ".txt"):
            arr = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=1)
        else:
            arr = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise FileInputError(f"{what}: {path} is not a readable array file ({_why(exc)})") from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        names = arr.files
        arr.close()
        raise FileInputError(f"{what}: {path} is an .npz archive (arrays {names}); give one .npy array")
    if arr.dtype.kind not in "biuf":
        raise FileInputError(f"{what}: {path} holds {arr.dtype} values, not numbers")
    if shape is not None and (arr.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, arr.shape))):
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise FileInputError(f"{what}: expected an array of shape {want}, got {arr.shape}")
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise FileInputError(f"{what}: {path} contains NaN or infinite values")
    return arr


def read_torch(path, what: str = "state"):
    """A torch.save file (a simulation's state.pt)."""
    import pickle

    import torch

    path = existing_file(path, what)
    try:
        return torch.load(path, weights_only=False)
    except (EOFError, RuntimeError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise FileInputError(f"{what}: {path} is not a readable torch state ({_why(exc)}); "
                             "rerun without --resume, or from an intact copy") from None


def check_output(path, kind: str, what: str) -> Path:
    """Refuse, before any work, an output path that cannot be written: ``kind`` "file" or "dir"."""
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise FileInputError(f"{what}: {path} is a directory; give a file name")
    if kind == "dir" and path.exists() and not path.is_dir():
        raise FileInputError(f"{what}: {path} is a file; give a directory")
    target = path if path.exists() else None
    ancestor = path.parent if kind == "file" or not path.exists() else path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise FileInputError(f"{what}: {path} lies under {ancestor}, which is a file")
    if target is not None and not os.access(target, os.W_OK):
        raise FileInputError(f"{what}: cannot write {path}: permission denied")
    if target is None and not os.access(ancestor, os.W_OK | os.X_OK):
        raise FileInputError(f"{what}: cannot create {path}: permission denied in {ancestor}")
    return path


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "pickled" in text:  # numpy's guess for bytes it does not recognise
        text = "not a numpy file"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
