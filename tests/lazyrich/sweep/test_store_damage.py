"""Damage to a store is detected when it is opened, listed by ``results --check`` (exit 3) and made
pending by ``--repair``, after which a sweep reruns exactly the damaged runs."""
import json
import os
import sqlite3
import stat

import pytest

from lazyrich.cli import main
from lazyrich.sweep import Store, StoreError, check_store, results, sweep

SPEC = {"name": "k", "job": [{"kind": "kernel", "fixed": {"model": "stripe", "d": 3}, "grid": {"p": [20, 24, 28]}}]}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    where = tmp_path_factory.mktemp("pristine") / "store"
    report = sweep(SPEC, where, workers=1, progress=False)
    assert report.done == 3
    return where


def _copy(pristine, tmp_path):
    import shutil

    where = tmp_path / "store"
    shutil.copytree(pristine, where)
    return where


def _array_files(store):
    return sorted((store / "arrays").rglob("*.npz"))


def _truncate(store):
    f = _array_files(store)[0]
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _delete(store):
    _array_files(store)[1].unlink()


def _bitflip(store):
    import struct
    import zipfile

    f = _array_files(store)[2]
    data = bytearray(f.read_bytes())
    info = zipfile.ZipFile(f).infolist()[0]
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0x10  # one bit inside the first member's compressed data
    f.write_bytes(bytes(data))


def _wal_garbage(store):
    (store / "runs.sqlite-wal").write_bytes(os.urandom(4096))


def _db_garbage(store):
    (store / "runs.sqlite").write_bytes(b"this is not a database" * 100)


RUN_DAMAGE = {"truncated": _truncate, "deleted": _delete, "bit-flipped": _bitflip}


@pytest.mark.parametrize("name", [*RUN_DAMAGE, "wal-garbage", "db-garbage"])
def test_damage_is_refused_in_one_line_and_listed_by_check(pristine, tmp_path, capsys, name):
    store = _copy(pristine, tmp_path)
    {**RUN_DAMAGE, "wal-garbage": _wal_garbage, "db-garbage": _db_garbage}[name](store)
    assert main(["results", str(store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged" in err[0] and "results" in err[0] and "--check" in err[0], err
    assert main(["results", str(store), "--check", "--json"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["sound"] is False and out["problems"]
    # a resumed sweep refuses it too, before any run
    assert main(["sweep", "--store", str(store), str(_spec_file(tmp_path))]) == 2
    assert "--check" in capsys.readouterr().err


def _spec_file(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text('name = "k"\n[[job]]\nkind = "kernel"\nfixed = {model = "stripe", d = 3}\n'
                    'grid = {p = [20, 24, 28]}\n')
    return path


def test_sound_store_checks_clean(pristine, capsys):
    assert main(["results", str(pristine), "--check"]) == 0
    assert "sound" in capsys.readouterr().out
    assert check_store(pristine) == []


@pytest.mark.parametrize("name", list(RUN_DAMAGE))
def test_repair_makes_the_damaged_run_pending_and_the_sweep_reruns_it(pristine, tmp_path, capsys, name):
    store = _copy(pristine, tmp_path)
    before = {r["key"]: r["result"] for r in Store(store).rows()}
    RUN_DAMAGE[name](store)
    assert main(["results", str(store), "--repair", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["pending"]) == 1 and out["sound"]
    assert len(results(store)) == 2
    again = sweep(SPEC, store, workers=1, progress=False)
    assert (again.already_done, again.ran, again.done) == (2, 1, 1)
    after = {r["key"]: r["result"] for r in Store(store).rows()}
    assert after == before  # the rerun gives the same results, under the same key
    assert check_store(store) == []


def test_repair_moves_a_garbage_log_aside(pristine, tmp_path, capsys):
    store = _copy(pristine, tmp_path)
    _wal_garbage(store)
    assert main(["results", str(store), "--repair"]) == 0
    assert (store / "runs.sqlite-wal.damaged").exists()
    assert check_store(store) == [] and len(results(store)) == 3


def test_a_garbage_database_cannot_be_repaired_and_says_so(pristine, tmp_path, capsys):
    store = _copy(pristine, tmp_path)
    _db_garbage(store)
    assert main(["results", str(store), "--repair"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged" in err[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_read_only_store_is_read_and_not_written(pristine, tmp_path, capsys):
    store = _copy(pristine, tmp_path)
    modes = []
    for p in [store, *store.rglob("*")]:
        modes.append((p, p.stat().st_mode))
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        assert len(results(store)) == 3
        assert main(["results", str(store), "--check"]) == 0
        capsys.readouterr()
        assert main(["sweep", "--store", str(store), str(_spec_file(tmp_path))]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not writable" in err[0]
        with pytest.raises(StoreError, match="read-only"):
            Store(store, verify=False).repair()
    finally:
        for p, mode in reversed(modes):
            p.chmod(mode)


def test_the_database_file_untouched_by_reading(pristine):
    mtime = (pristine / "runs.sqlite").stat().st_mtime_ns
    results(pristine)
    check_store(pristine)
    assert (pristine / "runs.sqlite").stat().st_mtime_ns == mtime
    with sqlite3.connect(pristine / "runs.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 3


def test_a_store_opened_read_only_refuses_to_take_a_sweep(pristine):
    with Store(pristine, readonly=True) as st:
        assert len(st.rows()) == 3
        with pytest.raises(StoreError, match="not writable"), st.writing():
            pass


def test_kernel_results_do_not_depend_on_the_worker_count(tmp_path):
    spec = {"name": "k", "job": [{"kind": "kernel", "fixed": {"model": "stripe", "d": 5}, "grid": {"p": [150, 200]}}]}
    sweep(spec, tmp_path / "one", workers=1, progress=False)
    sweep(spec, tmp_path / "two", workers=2, progress=False)
    a, b = (results(tmp_path / w).drop(columns=["seconds", "finished", "worker"]).sort_values("key").reset_index(drop=True)
            for w in ("one", "two"))
    assert a.equals(b)
