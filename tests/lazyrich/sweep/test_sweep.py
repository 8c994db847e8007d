"""Sweeps: specifications and run keys, the store, resuming after SIGKILL, local against Dask."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazyrich.cli import main
from lazyrich.sweep import SpecError, Store, expand, load_arrays, make_run, results, run_sweep, sweep

ROOT = Path(__file__).resolve().parents[3]
TINY_NET = {"data": "stripe", "d": 3, "p": 24, "ptest": 50, "h": 8, "t_max": 20.0, "max_steps": 150,
            "checkpoints": 4, "track_neurons": 4}


def small_spec(seeds=2, alphas=(0.1, 100.0)):
    return {"name": "small", "job": [
        {"kind": "simulate", "seeds": seeds, "fixed": TINY_NET, "grid": {"alpha": list(alphas)}},
        {"kind": "fixed-points", "fixed": {"p": 12, "d": 2}, "grid": {"sign_b": [1, -1]}},
        {"kind": "kernel", "fixed": {"model": "stripe", "p": 40, "d": 3}},
        {"kind": "learning-curve", "fixed": {"d": 3, "ptest": 100}, "grid": {"method": ["knn", "svc-ntk"]}},
    ]}


# ----------------------------------------------------------------------------- specifications
def test_grid_zip_and_seeds_expand_to_every_combination():
    spec = {"job": {"kind": "simulate", "seeds": 3, "fixed": {"d": 3},
                    "grid": {"p": [16, 32], "alpha": [0.1, 1.0]}, "zip": {"h": [8, 16], "t_max": [5.0, 10.0]}}}
    runs = expand(spec)
    assert len(runs) == 3 * 2 * 2 * 2 and len({r.key for r in runs}) == len(runs)
    assert {(r.params["h"], r.params["t_max"]) for r in runs} == {(8, 5.0), (16, 10.0)}
    assert all(r.params["d"] == 3 and r.params["loss"] == "hinge" for r in runs)  # defaults filled in
    twice = {"job": [spec["job"], spec["job"]]}
    assert [r.key for r in expand(twice)] == [r.key for r in runs]  # a run listed twice is one run


@settings(max_examples=30, deadline=None)
@given(alpha=st.integers(1, 10 ** 6), p=st.integers(2, 10 ** 4), seed=st.integers(0, 10 ** 6))
def test_run_keys_hash_the_full_configuration(alpha, p, seed):
    a = make_run("simulate", {"alpha": alpha, "p": p, "seed": seed})
    b = make_run("simulate", {"seed": seed, "p": float(p), "alpha": float(alpha), "loss": "Hinge"})
    assert a.key == b.key and a.params == b.params  # types coerced, loss canonical, order irrelevant
    assert make_run("simulate", {"alpha": alpha, "p": p, "seed": seed + 1}).key != a.key
    assert make_run("simulate", {"alpha": alpha, "p": p, "seed": seed, "h": 7}).key != a.key
    # a parameter that may be None takes None or a value of its type
    assert make_run("simulate", {"max_wall": None}).key != make_run("simulate", {"max_wall": p}).key
    assert make_run("simulate", {"max_wall": p}).params["max_wall"] == float(p)


def test_the_example_specification_is_valid():
    from lazyrich.sweep import load_spec

    name, _, runs = load_spec(ROOT / "examples" / "sweep.toml")
    assert name == "example" and len(runs) == 3 * 2 * 4 + 3 * 3 + 2 * 2 * 2
    assert {r.kind for r in runs} == {"simulate", "attractor-count", "kernel"}


@pytest.mark.parametrize("spec, message", [
    ({"job": {"kind": "nope"}}, "unknown job kind"),
    ({"job": {"kind": "simulate", "fixed": {"widht": 3}}}, "unknown parameter"),
    ({"job": {"kind": "simulate", "grid": {"p": 5}}}, "non-empty list"),
    ({"job": {"kind": "simulate", "zip": {"p": [4, 8], "h": [1]}}}, "equal lengths"),
    ({"job": {"kind": "simulate", "fixed": {"p": 4}, "grid": {"p": [8]}}}, "more than one"),
    ({"job": {"kind": "simulate", "fixed": {"p": "many"}}}, "must be an integer"),
    ({"job": {"kind": "simulate", "fixed": {"alpha": -1.0}}}, "alpha must be finite and positive"),
    ({"job": {"kind": "simulate", "seeds": 0}}, "positive count"),
    ({"job": {"kind": "simulate", "fixed": {"t_max": None}}}, "must be a number"),
    ({"job": {"kind": "kernel", "fixed": {"d_par": "two"}}}, "d_par must be an integer"),
    ({"job": {"kind": "kernel", "fixed": {"model": "torus"}}}, "kernel: model must be"),
    ({"job": {"kind": "fixed-points", "fixed": {"p": 0}}}, "fixed-points: p must be a positive"),
    ({"jobs": []}, "unknown top-level"),
    ({}, "no \\[\\[job\\]\\]"),
])
def test_bad_specifications_are_named(spec, message):
    # the specification's own errors are SpecErrors; a job's check of its settings raises its ValueError
    job_level = ("alpha must be", "kernel: model", "fixed-points: p")
    with pytest.raises(ValueError if message.startswith(job_level) else SpecError, match=message):
        expand(spec)


# ----------------------------------------------------------------------------------- the store
def test_store_keeps_a_finished_run_and_never_overwrites_it(tmp_path):
    run = make_run("kernel", {"p": 10})
    with Store(tmp_path / "s") as st:
        st.record_failed(run.key, run.kind, run.params, "Traceback\nValueError: boom", 0.1, "w", "0")
        assert st.rows(status="failed")[0]["error"].endswith("boom")
        assert st.record_done(run.key, run.kind, run.params, {"x": 1.5}, {"a": np.arange(3)}, 0.2, "w", "0")
        assert not st.record_done(run.key, run.kind, run.params, {"x": 9.0}, {}, 0.2, "w", "0")
        st.record_failed(run.key, run.kind, run.params, "late", 0.1, "w", "0")
        (row,) = st.rows()
        assert row["status"] == "done" and row["result"] == {"x": 1.5} and row["attempts"] == 2
        assert np.array_equal(st.arrays(run.key)["a"], np.arange(3)) and st.check() == []


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.floats(-1e6, 1e6)), max_size=25))
def test_store_model_first_done_result_wins(tmp_path_factory, ops):
    """Any sequence of done/failed records: a done run keeps its first result and arrays,
    attempts count every try before it, and a failed run shows its last error."""
    runs = [make_run("kernel", {"p": 10 + i}) for i in range(4)]
    model = {}
    with Store(tmp_path_factory.mktemp("store")) as store:
        for i, ok, x in ops:
            run, m = runs[i], model.setdefault(runs[i].key, {"status": None, "attempts": 0})
            if ok:
                store.record_done(run.key, run.kind, run.params, {"x": x}, {"a": np.full(2, x)}, 0.0, "w", "0")
            else:
                store.record_failed(run.key, run.kind, run.params, f"error {x}", 0.0, "w", "0")
            if m["status"] != "done":
                m.update(status="done" if ok else "failed", attempts=m["attempts"] + 1,
                         value=x if ok else None, error=None if ok else f"error {x}")
        rows = {r["key"]: r for r in store.rows()}
        assert rows.keys() == model.keys()
        for key, m in model.items():
            assert (rows[key]["status"], rows[key]["attempts"]) == (m["status"], m["attempts"])
            if m["status"] == "done":
                assert rows[key]["result"] == {"x": m["value"]} and rows[key]["error"] is None
                assert np.array_equal(store.arrays(key)["a"], np.full(2, m["value"]))
            else:
                assert rows[key]["error"] == m["error"]
        assert store.check() == []


def test_job_results_are_checked_before_they_reach_the_store():
    from lazyrich.sweep import JobResult

    ok = JobResult({"a": np.float32(0.5), "n": np.int64(3), "nan": float("nan"), "s": "x"}, {"z": [1, 2]}).checked()
    assert ok.scalars == {"a": 0.5, "n": 3, "nan": None, "s": "x"} and ok.arrays["z"].dtype.kind == "i"
    assert type(ok.scalars["n"]) is int
    with pytest.raises(ValueError, match="infinite"):
        JobResult({"a": float("inf")}).checked()
    with pytest.raises(ValueError, match="not a number"):
        JobResult({"a": [1, 2]}).checked()
    with pytest.raises(ValueError, match="Python objects"):
        JobResult({}, {"b": np.array([{}, 1], dtype=object)}).checked()


def test_sweep_runs_records_and_skips_what_is_done(tmp_path):
    store = tmp_path / "store"
    first = sweep(small_spec(), store, workers=1, progress=False)
    assert (first.total, first.ran, first.done, first.failed) == (9, 9, 9, 0)
    again = sweep(small_spec(), store, workers=1, progress=False)
    assert (again.already_done, again.ran) == (9, 0)
    df = results(store)
    assert len(df) == 9 and set(df.kind) == {"simulate", "fixed-points", "kernel", "learning-curve"}
    sims = results(store, where="kind == 'simulate' and alpha > 1")
    assert len(sims) == 2 and (sims.alpha == 100.0).all() and sims.steps.dtype.kind == "i"
    arrays = load_arrays(store, sims.key[0])
    assert arrays["final_all_omega"].shape == (8, 3) and arrays["t_checkpoints"].shape == (4,)
    fp = results(store, kind="fixed-points")
    assert (fp.equilibria >= fp.stable).all() and (fp.regular + fp.sliding == fp.equilibria).all()
    # a grown sweep runs only its new runs
    grown = sweep(small_spec(seeds=3), store, workers=1, progress=False)
    assert (grown.already_done, grown.ran) == (9, 2)


def test_a_store_takes_one_sweep_at_a_time(tmp_path):
    from lazyrich.sweep import StoreError

    runs = expand({"job": {"kind": "kernel", "fixed": {"p": 10}}})
    with Store(tmp_path) as first, first.writing():
        with Store(tmp_path) as second, pytest.raises(StoreError, match="being written by another sweep"):
            run_sweep(runs, second, workers=1, progress=False)
    with Store(tmp_path) as st:  # released: the next sweep runs
        assert run_sweep(runs, st, workers=1, progress=False).done == 1


def test_failures_are_recorded_and_retried_on_request(tmp_path):
    # a file that exists (checked before any run) but is too small for the run's p: it fails as a run
    small = tmp_path / "small.npz"
    np.savez(small, X=np.random.default_rng(0).standard_normal((5, 3)), y=np.array([1.0, -1, 1, -1, 1]))
    spec = {"job": {"kind": "simulate", "fixed": {**TINY_NET, "data": str(small)}}}
    store = tmp_path / "store"
    report = sweep(spec, store, workers=1, progress=False)
    assert report.failed == 1 and "holds 5 points" in report.failures[0][2]
    (row,) = Store(store).rows(status="failed")
    assert "Traceback" in row["error"] and row["attempts"] == 1
    assert sweep(spec, store, workers=1, progress=False).ran == 0  # skipped unless asked
    assert sweep(spec, store, workers=1, retry_failed=True, progress=False).failed == 1
    assert Store(store).rows()[0]["attempts"] == 2
    assert results(store).empty and len(results(store, status="failed")) == 1


def _assert_same_run(ra: dict, rb: dict, arrays_a: dict, arrays_b: dict, rtol: float):
    """Two stores' records of one run agree: exactly but for the floats, to rtol (0: bitwise)."""
    assert ra.keys() == rb.keys()
    for name, v in ra.items():
        w = rb[name]
        assert w == v or (isinstance(v, float) and abs(w - v) <= rtol * max(1, abs(v))), (name, v, w)
    assert sorted(arrays_a) == sorted(arrays_b)
    for name, arr in arrays_a.items():
        np.testing.assert_allclose(arrays_b[name], arr, rtol=rtol, atol=rtol * 1e-3)


# Euler runs agree to 1e-9 batched and bitwise under Dask. The Filippov integrator (the default) locates its events
# to ftol, and a network stepped in an ensemble or in another process rounds its products differently: measured 2e-9
# apart after 150 steps (alpha = 0.1), < 1e-12 after 20; it is held to 1e-6, as in the simulator's own ensemble
# test. A run of the wrong seed, alpha or kind differs at order 1.
BATCHED_RTOL = {"euler": 1e-9, "filippov": 1e-6}
BACKEND_RTOL = {"euler": 0.0, "filippov": 1e-6}


@pytest.mark.parametrize("integrator", ["euler", "filippov"])
def test_batched_runs_equal_one_run_at_a_time(tmp_path, integrator):
    """simulate: one ensemble for the (alpha, seed) grid; learning-curve: one cell for its methods."""
    net = {**TINY_NET, "integrator": integrator}
    runs = expand({"job": {"kind": "simulate", "seeds": 2, "fixed": net, "grid": {"alpha": [0.1, 100.0]}}}) + \
        expand({"job": {"kind": "simulate", "seeds": [5], "fixed": net, "grid": {"alpha": [3.0]}}}) + \
        expand({"job": {"kind": "learning-curve", "fixed": {"d": 3, "p": 24, "ptest": 50, "h": 8, "t_max": 20.0,
                                                            "extra": {"max_steps": 100}, "integrator": integrator},
                        "grid": {"method": ["knn", "lazy", "feature"]}}})
    with Store(tmp_path / "one") as a, Store(tmp_path / "batch") as b:
        run_sweep(runs, a, workers=1, device="cpu", progress=False)
        report = run_sweep(runs, b, device="cpu", batch=True, progress=False)
        assert report.done == 8
        ra, rb = ({r["key"]: r for r in s.rows()} for s in (a, b))
        for key in ra:
            _assert_same_run(ra[key]["result"], rb[key]["result"], a.arrays(key), b.arrays(key),
                             BATCHED_RTOL[integrator])


# ------------------------------------------------------------------------------ kill and resume
def _done(db) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(con.execute("SELECT key, finished FROM runs WHERE status = 'done'"))
    except sqlite3.OperationalError:  # the table is not created yet
        return {}
    finally:
        con.close()


def test_sigkill_part_way_loses_no_finished_run_and_duplicates_none(tmp_path):
    spec = tmp_path / "kill.toml"
    spec.write_text("""
[[job]]
kind = "simulate"
seeds = 10
[job.fixed]
data = "stripe"
d = 3
p = 32
ptest = 50
h = 16
t_max = 50.0
max_steps = 400
checkpoints = 4
[job.grid]
alpha = [0.1, 100.0]
""")
    store = tmp_path / "store"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "lazyrich", "sweep", str(spec), "--store", str(store),
                             "--workers", "2", "--json"], env=env, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = store / "runs.sqlite"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not (db.exists() and len(_done(db)) >= 4):
        time.sleep(0.02)
    assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)  # the coordinator and its workers, at once
    proc.wait()
    before = _done(db)
    assert 4 <= len(before) < 20, len(before)
    with Store(store) as st:
        assert st.check() == []  # SQLite intact, every finished run's arrays readable
        report = run_sweep(expand({"job": {"kind": "simulate", "seeds": 10, "fixed": {
            "data": "stripe", "d": 3, "p": 32, "ptest": 50, "h": 16, "t_max": 50.0, "max_steps": 400,
            "checkpoints": 4}, "grid": {"alpha": [0.1, 100.0]}}}), st, workers=1, progress=False)
        assert report.already_done >= len(before) and report.done + report.already_done == 20
        rows = st.rows()
        assert len(rows) == 20 and all(r["status"] == "done" for r in rows)
        assert all(r["attempts"] == 1 for r in rows)  # none ran twice
        assert all(_done(db)[k] == t for k, t in before.items())  # the finished ones untouched
        assert st.check() == []


# ---------------------------------------------------------------------------------------- Dask
@pytest.mark.parametrize("integrator", ["euler", "filippov"])
def test_dask_local_cluster_equals_the_local_backend(tmp_path, integrator):
    pytest.importorskip("distributed")
    spec = small_spec()
    spec["job"][0]["fixed"] = {**TINY_NET, "integrator": integrator}
    local = sweep(spec, tmp_path / "local", workers=1, device="cpu", progress=False)
    # device auto: each worker resolves it (to the CPU here)
    dask = sweep(spec, tmp_path / "dask", backend="dask", workers=2, device="auto", progress=False)
    assert local.done == dask.done == 9 and dask.failed == 0
    with Store(tmp_path / "local") as a, Store(tmp_path / "dask") as b:
        ra, rb = ({r["key"]: r for r in s.rows()} for s in (a, b))
        assert ra.keys() == rb.keys()
        assert {r["worker"].split(":")[1] for r in rb.values()} != {str(os.getpid())}  # ran elsewhere
        assert {r["worker"].split(":")[2] for r in rb.values()} == {"cpu"}
        for key in ra:
            _assert_same_run(ra[key]["result"], rb[key]["result"], a.arrays(key), b.arrays(key),
                             BACKEND_RTOL[integrator])


# ----------------------------------------------------------------------------------------- CLI
def test_cli_sweep_and_results(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "cli"\n[[job]]\nkind = "kernel"\nfixed = {model = "stripe", d = 3}\n'
                    '[job.grid]\np = [20, 40]\nkernel = ["ntk", "nngp"]\n')
    store = tmp_path / "st"
    assert main(["sweep", str(spec), "--store", str(store), "--workers", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sweep"] == "cli" and out["done"] == 4 and out["by_kind"] == {"kernel": {"runs": 4, "done": 4, "failed": 0, "pending": 0}}
    assert main(["results", str(store), "--format", "json", "--where", "kernel == 'ntk'"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["count"] == 2 and {r["p"] for r in got["runs"]} == {20, 40}
    assert all(0 < r["label_in_top"] <= 1 + 1e-12 for r in got["runs"])
    assert main(["results", str(store), "--format", "csv", "--columns", "p,kernel,rank_half_label"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "p,kernel,rank_half_label" and len(lines) == 5
    assert main(["results", str(store)]) == 0
    table = capsys.readouterr().out
    assert "same in every row" in table and "4 runs" in table
    assert main(["results", str(store), "--group-by", "kernel", "--columns", "label_in_top", "--format", "json"]) == 0
    groups = {g["kernel"]: g for g in json.loads(capsys.readouterr().out)["groups"]}
    ntk = [r["label_in_top"] for r in got["runs"]]
    assert groups["ntk"]["n"] == 2 and abs(groups["ntk"]["label_in_top_mean"] - np.mean(ntk)) < 1e-12
    assert abs(groups["ntk"]["label_in_top_sem"] - np.std(ntk, ddof=1) / np.sqrt(2)) < 1e-12
    assert main(["results", str(store), "--group-by", "p"]) == 0
    assert "2 groups" in capsys.readouterr().out
    assert main(["results", str(store), "--where", "nope > 1"]) == 2
    assert "cannot be evaluated" in capsys.readouterr().err
    assert main(["results", str(tmp_path / "none")]) == 2
    assert main(["sweep", "--kinds", "--json"]) == 0
    kinds = json.loads(capsys.readouterr().out)["kinds"]
    assert {"simulate", "learning-curve", "attractor-count", "fixed-points", "kernel"} <= set(kinds)
    assert main(["sweep", str(spec)]) == 2  # no store


def test_imbalance_knob_in_the_simulate_kind_keeps_old_run_keys():
    """The knob's parameters are part of the simulate and learning-curve kinds; at their defaults a run's
    key is the key it had before they existed, so existing stores resume."""
    import hashlib

    from lazyrich.numerics.simulator.config import KNOB_DEFAULTS
    from lazyrich.sweep.spec import canonical, make_run

    for kind in ("simulate", "learning-curve"):
        # runs stored before the integrator could be chosen were Euler runs: an Euler run keeps their key, and a
        # run on the default integrator (filippov) is another run
        run = make_run(kind, {"integrator": "euler"})
        assert {"lr_first", "lr_second", "init_scale", "imbalance"} <= set(run.params)
        old = {k: v for k, v in run.params.items() if k not in KNOB_DEFAULTS}
        assert run.key == hashlib.sha256(f"{kind}\n{canonical(old)}".encode()).hexdigest()[:20]
        assert make_run(kind, {}).params["integrator"] == "filippov" and make_run(kind, {}).key != run.key
        knob = make_run(kind, {"imbalance": 1.0, "init_scale": 0.5, "lr_first": 2, "integrator": "euler"})
        assert knob.key != run.key and knob.params["lr_first"] == 2.0
    with pytest.raises(Exception, match="lr_first"):
        make_run("simulate", {"lr_first": -1.0})
