"""Settings that would make a result meaningless are refused up front, in one line with exit 2 (part of the
bad-input work: --max-wall, counts, non-integer sizes, d_par on the wrong model, strict JSON)."""
import json
import math

import pytest

from lazyrich.cli import main
from lazyrich.validation.claim import json_safe


@pytest.mark.parametrize("argv, flag", [
    (["simulate", "--max-wall", "0"], "--max-wall"),
    (["simulate", "--max-wall", "-1"], "--max-wall"),
    (["simulate", "--max-wall", "nan"], "--max-wall"),
    (["simulate", "--track-neurons", "-5"], "--track-neurons"),
    (["simulate", "--data", "stripe", "--d-par", "1", "--p", "8", "--h", "4", "--ptest", "0"], "d_par"),
    (["learning-curve", "--max-wall", "-1"], "--max-wall"),
    (["learning-curve", "--p", "16.7,32"], "--p must be integers"),
    (["data", "file", "--p", "-3", "--input", "x.npz", "--out", "y.npz"], "--p"),
    (["data", "stripe", "--p", "8", "--d", "2", "--seed", "-1", "--out", "y.npz"], "--seed"),
    (["kpca", "x.npz", "--top", "0"], "--top"),
    (["kpca", "x.npz", "--top", "-3"], "--top"),
    (["kpca", "x.npz", "--mi", "-1"], "--mi"),
    (["demo", "--h", "0"], "--h"),
    (["validate", "--seed", "-1"], "--seed"),
    (["validate", "z-velocity", "--device", "tpu", "--report", "r"], "unknown device 'tpu'"),
    (["bench", "z-velocity", "--device", "tpu"], "unknown device 'tpu'"),
    (["simulate", "--data", "stripe", "--test", "t.npz", "--p", "8", "--h", "4"], "test_file only applies"),
    (["fixed-points", "x.npz", "--sign-b", "1", "--sign-beta", "1", "--digits", "-5"], "--digits"),
])
def test_meaningless_settings_are_refused(capsys, tmp_path, monkeypatch, argv, flag):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "y.npz").exists()


def test_json_output_is_strict():
    out = json_safe({"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf")}, "e": 2})
    assert out == {"a": None, "b": [1.0, None], "c": {"d": None}, "e": 2}
    json.dumps(out, allow_nan=False)
    import numpy as np

    assert json_safe({"x": np.float64(math.nan), "y": np.arange(2)}) == {"x": None, "y": [0, 1]}


def test_results_takes_json(tmp_path, capsys):
    from lazyrich.sweep import Store

    Store(tmp_path / "s")  # an empty store
    assert main(["results", str(tmp_path / "s"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0
