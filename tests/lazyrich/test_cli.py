"""The command line: JSON keys, one-line errors with exit code 2, files written."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lazyrich.theory.notes import render_derivations

from lazyrich.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", ["parameter-flow", "z-velocity", "activation", "switching-surface", "conserved",
                                  "fixed-point", "jacobian", "ntk-finite"])
def test_derive_json_has_the_public_keys(capsys, name):
    code, out, _ = run(capsys, "derive", name, "--format", "json")
    assert code == 0
    js = json.loads(out)
    assert {"name", "latex", "sympy", "assumptions"} <= set(js)
    assert js["name"] == name and isinstance(js["assumptions"], list)


def test_derive_latex_is_a_formula(capsys):
    code, out, _ = run(capsys, "derive", "z-velocity", "--format", "latex")
    assert code == 0
    assert out.startswith(r"\dot{\mathbf{z}}_{n} = \sum_{\mu=1}^{p}")
    assert r"\Theta" in out and "Heaviside" not in out and out.count("{") == out.count("}")


def test_derive_components_and_loss(capsys):
    code, out, _ = run(capsys, "derive", "z-velocity", "--d", "2", "--loss", "soft-hinge", "--json")
    js = json.loads(out)
    assert code == 0 and js["d"] == 2 and js["loss"] == "soft-hinge"
    assert "z_{1}" in js["latex"] and [e["label"] for e in js["equations"]] == ["zdot", "loss", "g"]


@pytest.mark.parametrize("argv, message", [
    (["derive", "nonsense"], "invalid choice"),
    (["derive", "z-velocity", "--loss", "huber"], "unknown loss"),
    (["derive", "z-velocity", "--d", "0"], "--d must be a positive integer"),
    (["data", "stripe", "--p", "10", "--out", "x.npz"], "needs --p and --d"),
    (["data", "stripe", "--p", "0", "--d", "2", "--out", "x.npz"], "--p: must be an integer >= 1"),
    (["data", "file", "--input", "/nonexistent.npz", "--out", "x.npz"], "no such file"),
    (["bench", "nonsense"], "unknown benchmark"),
])
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_data_commands_write_npz(capsys, tmp_path):
    for model, extra in [("stripe", []), ("sphere", []), ("cylinder", ["--d-par", "2"])]:
        out_file = tmp_path / f"{model}.npz"
        code, out, _ = run(capsys, "data", model, "--p", "50", "--d", "3", "--seed", "1", "--out", str(out_file),
                           "--json", *extra)
        assert code == 0
        js = json.loads(out)
        assert js["p"] == 50 and js["d"] == 3 and js["model"] == model
        with np.load(out_file) as f:
            assert f["X"].shape == (50, 3) and f["X"].dtype == np.float64
            assert set(np.unique(f["y"])) <= {-1.0, 1.0}


def test_data_file_checks_user_arrays(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, X=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
    code, _, err = run(capsys, "data", "file", "--input", str(bad), "--out", str(tmp_path / "o.npz"))
    assert code == 2 and "labels must be -1 or +1" in err
    nan = tmp_path / "nan.npz"
    np.savez(nan, X=np.array([[np.nan, 1.0]]), y=np.array([1]))
    code, _, err = run(capsys, "data", "file", "--input", str(nan), "--out", str(tmp_path / "o.npz"))
    assert code == 2 and "NaN" in err
    good = tmp_path / "good.npz"
    np.savez(good, X=np.ones((4, 2)), y=np.array([1, -1, 1, -1]))
    code, out, _ = run(capsys, "data", "file", "--input", str(good), "--out", str(tmp_path / "o.npz"), "--json")
    assert code == 0 and json.loads(out)["p"] == 4


def test_demo_passes(capsys):
    code, out, _ = run(capsys, "demo", "--p", "20", "--h", "6", "--d", "3", "--json")
    js = json.loads(out)
    assert code == 0 and js["passed"] and len(js["checks"]) == 5
    assert all(c["zdot_max_rel_error"] < 1e-8 for c in js["checks"])


def test_bench_json_shape(capsys):
    code, out, _ = run(capsys, "bench", "z-velocity", "--quick", "--device", "cpu", "--json")
    js = json.loads(out)
    assert code == 0 and {"name", "cases", "ratio"} <= set(js) and js["name"] == "z-velocity"
    assert all(c["max_rel_difference"] < 1e-8 for c in js["cases"]) and js["ratio"] > 0


def test_bench_integrator_smooth_rows_measure_accuracy_against_the_tightest_run():
    """bench integrator's smooth section (at a small size): one row per integrator and tolerance, the first, the
    tightest filippov run, the reference; a tighter tolerance lands nearer it, for either integrator."""
    from lazyrich.bench.integrator import SMOOTH, smooth_losses

    rows = smooth_losses({**SMOOTH, "d": 3, "p": 16, "h": 8, "t_max": 2.0}, device="cpu")
    assert [r["integrator"] for r in rows] == ["filippov"] * 3 + ["euler"] * 2 and rows[0]["loss_error"] == 0
    assert all(r["t"] == 2.0 and np.isfinite(r["train_loss"]) and r["steps"] > 0 for r in rows)
    assert rows[1]["loss_error"] < rows[2]["loss_error"] and rows[4]["loss_error"] < rows[3]["loss_error"]


def test_notes_derivations_md_is_fresh():
    path = ROOT / "notes" / "derivations.md"
    assert path.read_text(encoding="utf-8") == render_derivations(), \
        "notes/derivations.md is stale: run `lazyrich docs` and commit it"


def test_docs_check_detects_staleness(capsys, tmp_path):
    stale = tmp_path / "d.md"
    stale.write_text("old")
    code, out, _ = run(capsys, "docs", "--check", "--out", str(stale))
    assert code == 1 and "STALE" in out
    code, _, _ = run(capsys, "docs", "--out", str(stale))
    assert code == 0
    assert run(capsys, "docs", "--check", "--out", str(stale))[0] == 0


def test_console_entry_point_runs_as_a_process():
    res = subprocess.run([sys.executable, "-m", "lazyrich", "derive", "nonsense"], capture_output=True, text=True,
                         cwd=ROOT)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def test_simulate_command(capsys, tmp_path):
    argv = ["simulate", "--data", "sphere", "--d", "2", "--p", "16", "--ptest", "50", "--h", "8", "--alpha", "0.5,2",
            "--seeds", "0:2", "--t-max", "0.5", "--checkpoints", "4", "--device", "cpu", "--out", str(tmp_path / "r"),
            "--json"]
    code, out, _ = run(capsys, *argv)
    js = json.loads(out)
    assert code == 0 and len(js["networks"]) == 4
    assert {n["alpha"] for n in js["networks"]} == {0.5, 2.0} and all(n["stop_reason"] == "time" for n in js["networks"])
    assert (tmp_path / "r" / "results.npz").exists() and (tmp_path / "r" / "config.json").exists()
    code, _, err = run(capsys, *argv)  # the folder holds a run: refuse to overwrite it
    assert code == 2 and "--resume" in err
    code, _, err = run(capsys, "simulate", "--seeds", "a:b", "--out", str(tmp_path / "x"))
    assert code == 2 and "--seeds" in err
    code, _, err = run(capsys, "simulate", "--loss", "huber", "--p", "4", "--h", "2")
    assert code == 2 and "unknown loss" in err
