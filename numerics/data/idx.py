"""Real data: MNIST-style IDX files, and two-digit Datasets made from them."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .checks import DataError
from .dataset import Dataset
from .projection import Projection

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
