"""Data models: the stripe, sphere and cylinder models of the talk, and the user's own arrays.

Every dataset is a pair X (p, d) float64, y (p,) in {-1, +1}, stored as .npz with keys
``X``, ``y`` and ``meta`` (a JSON string: model, p, d, seed and the model's parameters).
Sampling is reproducible: the same (model, p, d, seed, parameters) gives the same arrays.
Real data: ``load_idx`` reads the standard MNIST IDX files, ``mnist`` makes a two-digit Dataset
from them (optionally projected on principal components, see ``Projection``).
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import gammaincinv  # chi2's median without importing scipy.stats (0.5 s)

# stripe: y = -1 on the band -0.3 < x_1 < 1.18549, whose Gaussian mass is 1/2 (balanced classes)
STRIPE_BAND = (-0.3, 1.18549)
MODELS = ("stripe", "sphere", "cylinder", "file")


class DataError(ValueError):
    """A dataset that cannot be used: bad shapes, NaN or infinite values, labels other than +-1."""


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


def check_inputs(X, error=DataError) -> np.ndarray:
    """Validate and convert inputs to X (p, d) float64: numeric, 2-d, non-empty, finite.

    ``error`` is the exception class to raise (each caller names its own domain)."""
    X = np.asarray(X)
    if X.dtype.kind not in "fiu":
        raise error(f"X must be a numeric array, got dtype {X.dtype}")
    if X.ndim != 2:
        raise error(f"X must have shape (p, d), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise error(f"empty dataset: X has shape {X.shape}, so p = {X.shape[0]}, d = {X.shape[1]}")
    X = X.astype(np.float64)
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise error(f"X contains NaN or infinite values (first at row {bad[0]}, column {bad[1]})")
    return X


def check_arrays(X, y) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to X (p, d) float64, y (p,) float64 in {-1, +1}."""
    X = check_inputs(X)
    y = np.asarray(y)
    if y.dtype.kind not in "fiu":
        raise DataError(f"y must be a numeric array, got dtype {y.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"y must have shape (p,), got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise DataError(f"X has {X.shape[0]} points but y has {y.shape[0]} labels")
    y = y.astype(np.float64)
    bad = ~np.isin(y, (-1.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"labels must be -1 or +1; y[{i}] = {y[i]!r}")
    return X, y


def _check_size(p: int, d: int):
    if int(p) != p or p < 1:
        raise DataError(f"p must be a positive integer, got {p}")
    if int(d) != d or d < 1:
        raise DataError(f"d must be a positive integer, got {d}")


def gaussian_inputs(p: int, d: int, seed: int) -> np.ndarray:
    _check_size(p, d)
    return np.random.default_rng(seed).standard_normal((p, d))


def balanced_radius(k: int) -> float:
    """Radius r with P(|x| > r) = 1/2 for x ~ N(0, I_k): the square root of chi2_k's median."""
    return float(np.sqrt(2.0 * gammaincinv(k / 2.0, 0.5)))  # chi2_k median = 2 P^-1(k/2, 1/2)


def stripe_labels(X: np.ndarray) -> np.ndarray:
    lo, hi = STRIPE_BAND
    return np.where((X[:, 0] > lo) & (X[:, 0] < hi), -1.0, 1.0)


def radial_labels(X: np.ndarray, k: int) -> np.ndarray:
    """+1 outside the balanced sphere of the first k coordinates, -1 inside."""
    return np.where(np.linalg.norm(X[:, :k], axis=1) > balanced_radius(k), 1.0, -1.0)


def stripe(p: int, d: int, seed: int = 0) -> Dataset:
    """x ~ N(0, I_d), y = -1 if -0.3 < x_1 < 1.18549 else +1: only x_1 matters."""
    X = gaussian_inputs(p, d, seed)
    return Dataset(X, stripe_labels(X), {"model": "stripe", "p": p, "d": d, "seed": seed,
                                         "band": list(STRIPE_BAND)})


def sphere(p: int, d: int, seed: int = 0) -> Dataset:
    """x ~ N(0, I_d), y = +1 outside the sphere of radius sqrt(median chi2_d), -1 inside."""
    X = gaussian_inputs(p, d, seed)
    return Dataset(X, radial_labels(X, d), {"model": "sphere", "p": p, "d": d, "seed": seed,
                                            "radius": balanced_radius(d)})


def cylinder(p: int, d: int, seed: int = 0, d_par: int = 2) -> Dataset:
    """x ~ N(0, I_d), the label is the sphere model's in the first d_par coordinates only."""
    if int(d_par) != d_par or not 1 <= d_par <= d:
        raise DataError(f"d_par must be an integer in [1, d={d}], got {d_par}")
    X = gaussian_inputs(p, d, seed)
    return Dataset(X, radial_labels(X, d_par), {"model": "cylinder", "p": p, "d": d, "seed": seed,
                                                "d_par": d_par, "radius": balanced_radius(d_par)})


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


def make(model: str, p: int, d: int, seed: int = 0, d_par: int | None = None) -> Dataset:
    """Sample one of the built-in models by name."""
    if model == "stripe":
        return stripe(p, d, seed)
    if model == "sphere":
        return sphere(p, d, seed)
    if model == "cylinder":
        return cylinder(p, d, seed, d_par=min(2, d) if d_par is None else d_par)
    raise DataError(f"unknown data model {model!r}; choose one of stripe, sphere, cylinder (or file)")


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


# ------------------------------------------------------------------------------ MNIST (IDX files)
# IDX: two zero bytes, a type code, the number of dimensions, then each dimension as a big-endian
# uint32, then the values, big-endian, C order (http://yann.lecun.com/exdb/mnist/)
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """One IDX file (gzip-compressed or not) as an array of its stored type and shape."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # the gzip magic number: MNIST is distributed as .gz
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path.name}: corrupt gzip data ({exc})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise DataError(f"{path.name} is not an IDX file: it must start with two zero bytes, a type code and "
                        f"the number of dimensions, got {raw[:4].hex() or 'an empty file'}")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        raise DataError(f"{path.name}: unknown IDX type code 0x{code:02X}; known: "
                        f"{', '.join(f'0x{c:02X}' for c in IDX_TYPES)}")
    if ndim == 0:
        raise DataError(f"{path.name}: an IDX file needs at least one dimension, the header says 0")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path.name}: truncated header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path.name}: the header promises shape {shape} ({expected} bytes of data) but the file "
                        f"holds {len(raw) - header}: truncated or trailing bytes")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx(images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-style IDX files: (images (n, rows, cols) as stored, usually uint8; labels (n,) int64)."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim < 2:
        raise DataError(f"{Path(images_path).name}: images must have shape (n, ...), got shape {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{Path(labels_path).name}: labels must be a 1-d integer IDX array, got shape "
                        f"{labels.shape} of {labels.dtype}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels.astype(np.int64)


@dataclass
class Projection:
    """Centring, optional projection on principal components, optional scaling to unit variance.

    Fitted on a training set and applied unchanged to a test set, so that both live in the same
    coordinates.
    """

    mean: np.ndarray  # (D,)
    components: np.ndarray | None  # (k, D) orthonormal rows, or None: no projection
    scale: np.ndarray | None  # std of each output coordinate on the fitting set, or None

    @classmethod
    def fit(cls, X, components: int | None = None, standardize: bool = True) -> "Projection":
        X = check_inputs(X)
        mean = X.mean(0)
        basis = None
        if components is not None:
            if int(components) != components or not 1 <= components <= min(X.shape):
                raise DataError(f"pca must be an integer in [1, {min(X.shape)}] (points and input dimension "
                                f"{X.shape}), got {components}")
            _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
            basis = vt[: int(components)]
            # the sign of a singular vector is arbitrary: fix it so that refits give the same coordinates
            basis = basis * np.sign(basis[np.arange(len(basis)), np.abs(basis).argmax(1)])[:, None]
        out = (X - mean) @ basis.T if basis is not None else X - mean
        scale = None
        if standardize:
            scale = out.std(0)
            scale[scale == 0] = 1.0  # a constant coordinate (blank MNIST corner pixels) stays 0, not NaN
        return cls(mean, basis, scale)

    def __call__(self, X) -> np.ndarray:
        X = check_inputs(X)
        if X.shape[1] != self.mean.size:
            raise DataError(f"the projection was fitted on inputs of dimension {self.mean.size}, got {X.shape[1]}")
        out = X - self.mean
        if self.components is not None:
            out = out @ self.components.T
        return out / self.scale if self.scale is not None else out


def mnist(images_path, labels_path, digits=(0, 1), p: int | None = None, pca: int | None = None,
          standardize: bool = True, projection: Projection | None = None, return_projection: bool = False):
    """A two-class Dataset from MNIST IDX files: y = -1 for digits[0], +1 for digits[1].

    Pixels are scaled to [0, 1], then centred, projected on ``pca`` principal components (if
    given) and scaled to unit variance (if ``standardize``), all fitted on the selected points,
    unless ``projection`` (e.g. the training set's, from ``return_projection=True``) is given.
    ``p`` keeps the first p selected points, in file order.
    """
    a, b = _two_digits(digits)
    images, labels = load_idx(images_path, labels_path)
    keep = np.flatnonzero((labels == a) | (labels == b))
    if p is not None:
        if int(p) != p or p < 1:
            raise DataError(f"p must be a positive integer, got {p}")
        if p > keep.size:
            raise DataError(f"p = {p} but the files hold only {keep.size} images of digits {a} and {b}")
        keep = keep[: int(p)]
    if keep.size == 0:
        raise DataError(f"the files hold no images of digits {a} or {b}")
    pixels = images[keep].reshape(keep.size, -1).astype(np.float64) / 255.0
    if projection is None:
        projection = Projection.fit(pixels, pca, standardize)
    X = projection(pixels)
    y = np.where(labels[keep] == b, 1.0, -1.0)
    meta = {"model": "mnist", "p": int(keep.size), "d": int(X.shape[1]), "digits": [a, b],
            "pca": None if projection.components is None else int(len(projection.components)),
            "standardize": projection.scale is not None, "source": str(images_path)}
    data = Dataset(X, y, meta)
    return (data, projection) if return_projection else data


def _two_digits(digits) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in digits)
        ok = all(int(v) == v for v in digits)
    except (TypeError, ValueError):
        ok = False
    if not ok or a == b or not (0 <= a <= 9 and 0 <= b <= 9):
        raise DataError(f"digits must be two different integers in 0..9, got {digits!r}")
    return a, b
