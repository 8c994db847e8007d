"""MNIST IDX files: reading (plain and gzip), clear errors on malformed files, two-digit datasets."""
import gzip
import struct

import numpy as np
import pytest
from lazyrich.numerics import data as D

CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B, np.dtype("i4"): 0x0C,
         np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}


def idx_bytes(array) -> bytes:
    """The IDX encoding, written independently of the reader: header, big-endian dims and values."""
    array = np.asarray(array)
    header = bytes([0, 0, CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, array, compress=False):
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


@pytest.fixture
def tiny(tmp_path):
    """Twelve 4x3 'images' of digits 0..5 (twice each); pixel values tell the images apart."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 4, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 3, 4, 5] * 2, dtype=np.uint8)
    return images, labels, write(tmp_path / "img.idx", images), write(tmp_path / "lab.idx", labels)


@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_reads_what_was_written(tiny, tmp_path, compress):
    images, labels, _, _ = tiny
    img = write(tmp_path / "i.gz", images, compress)
    lab = write(tmp_path / "l.gz", labels, compress)
    got_images, got_labels = D.load_idx(img, lab)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.dtype == np.uint8 and got_labels.dtype == np.int64


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_read_idx_every_type(tmp_path, dtype):
    values = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype) if dtype != "u1" else np.arange(24, dtype="u1")
    got = D.read_idx(write(tmp_path / "a.idx", values))
    np.testing.assert_array_equal(got, values)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative


@pytest.mark.parametrize("raw, message", [
    (b"", "not an IDX file"),
    (b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00", "not an IDX file"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x00", "at least one dimension"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated header"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00" * 3, "truncated or trailing"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"\x00" * 3, "truncated or trailing"),
    (b"\x1f\x8b" + b"not gzip at all", "corrupt gzip"),
])
def test_malformed_files_give_clear_errors(tmp_path, raw, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(raw)
    with pytest.raises(D.DataError, match=message):
        D.read_idx(path)


def test_load_idx_checks_images_against_labels(tiny, tmp_path):
    images, labels, img, lab = tiny
    with pytest.raises(D.DataError, match="12 images but 5 labels"):
        D.load_idx(img, write(tmp_path / "short.idx", labels[:5]))
    with pytest.raises(D.DataError, match="labels must be a 1-d integer"):
        D.load_idx(img, write(tmp_path / "two.idx", labels.reshape(6, 2)))
    with pytest.raises(D.DataError, match="labels must be a 1-d integer"):
        D.load_idx(img, write(tmp_path / "float.idx", labels.astype("f4")))
    with pytest.raises(D.DataError, match=r"images must have shape \(n, ...\)"):
        D.load_idx(lab, lab)
    with pytest.raises(D.DataError, match="no such file"):
        D.load_idx(tmp_path / "missing.idx", lab)


def test_mnist_two_digits(tiny):
    images, labels, img, lab = tiny
    data = D.mnist(img, lab, digits=(3, 1), standardize=False)
    rows = np.flatnonzero((labels == 3) | (labels == 1))
    expected = images[rows].reshape(len(rows), -1) / 255.0
    np.testing.assert_allclose(data.X, expected - expected.mean(0))
    np.testing.assert_array_equal(data.y, np.where(labels[rows] == 1, 1.0, -1.0))
    assert data.meta["digits"] == [3, 1] and data.meta["pca"] is None and data.d == 12
    assert D.mnist(img, lab, digits=(3, 1), p=3).p == 3


def test_mnist_pca_standardized_and_a_shared_projection(tiny):
    images, labels, img, lab = tiny
    train, proj = D.mnist(img, lab, digits=(0, 2), pca=2, return_projection=True)
    assert train.d == 2 and train.meta["pca"] == 2 and train.meta["standardize"]
    np.testing.assert_allclose(train.X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(train.X.std(0), 1)
    # the principal directions are orthonormal
    np.testing.assert_allclose(proj.components @ proj.components.T, np.eye(2), atol=1e-12)
    other = D.mnist(img, lab, digits=(4, 5), projection=proj)  # e.g. a test set in the training coordinates
    rows = np.flatnonzero(labels >= 4)
    np.testing.assert_allclose(other.X, proj(images[rows].reshape(len(rows), -1) / 255.0))


@pytest.mark.parametrize("kwargs, message", [
    (dict(digits=(3, 3)), "two different integers"),
    (dict(digits=(1, 12)), "two different integers"),
    (dict(digits=(6, 7)), "no images of digits 6 or 7"),
    (dict(digits=(0, 1), p=10), "hold only 4 images"),
    (dict(digits=(0, 1), p=0), "p must be a positive integer"),
    (dict(digits=(0, 1), pca=5), r"pca must be an integer in \[1, 4\]"),
])
def test_mnist_bad_arguments(tiny, kwargs, message):
    _, _, img, lab = tiny
    with pytest.raises(D.DataError, match=message):
        D.mnist(img, lab, **kwargs)


def test_projection_refuses_other_dimensions():
    proj = D.Projection.fit(np.random.default_rng(0).standard_normal((10, 4)), components=2)
    with pytest.raises(D.DataError, match="dimension 4, got 3"):
        proj(np.zeros((2, 3)))
