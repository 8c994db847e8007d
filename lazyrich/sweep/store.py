"""The results store: SQLite for configurations and scalar results, arrays in .npz files beside it.

    STORE/runs.sqlite        runs (key, kind, params, status, result, error, ...), sweeps, sweep_runs
    STORE/arrays/ab/KEY.npz  the arrays of run KEY

Only the process that runs a sweep writes, one transaction per finished run. A run's arrays
are written to a temporary file and renamed into place *before* its row is committed as done,
so a kill at any moment (SIGKILL included) leaves every committed run whole: at worst an
array file without a row (rewritten when the run is redone) and the runs in flight lost.
SQLite in WAL mode keeps the database consistent through a kill, and readers
(``lazyrich results``) can query while a sweep writes.
"""
from __future__ import annotations

from contextlib import contextmanager
import io
import json
import os
from pathlib import Path
import socket
import sqlite3
import time

import numpy as np

from .errors import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,       -- JSON: every parameter of the run
    status TEXT NOT NULL,       -- done or failed
    result TEXT,                -- JSON: the scalar results (done)
    arrays TEXT,                -- JSON list of the array names in arrays/KEY.npz
    error TEXT,                 -- the traceback (failed)
    attempts INTEGER NOT NULL,  -- times the run was tried (failed tries included)
    seconds REAL,               -- wall-clock time of the last try, on its worker
    finished REAL,              -- unix time the row was written
    worker TEXT,                -- host:pid (and device) of the last try
    version TEXT                -- lazyrich version of the last try
);
CREATE TABLE IF NOT EXISTS sweeps (name TEXT PRIMARY KEY, spec TEXT, created REAL, updated REAL);
CREATE TABLE IF NOT EXISTS sweep_runs (sweep TEXT, key TEXT, PRIMARY KEY (sweep, key));
"""


class Store:
    def __init__(self, path, create: bool = True):
        self.path = Path(path)
        db = self.path / "runs.sqlite"
        if not db.exists():
            if not create:
                raise StoreError(f"no results store at {self.path} (expected {db})")
            if self.path.exists() and not self.path.is_dir():
                raise StoreError(f"{self.path} is a file, not a store directory")
            self.path.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(db, timeout=60, isolation_level=None)  # autocommit; explicit transactions
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: durable across a process kill
        self.db.executescript(SCHEMA)

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def writing(self):
        """Hold the store's write lock (STORE/.lock, flock) while a sweep runs: a second sweep on
        the same store stops with a clear error instead of computing the same runs twice. The
        kernel drops the lock when its process ends, even by SIGKILL, so a killed sweep never
        leaves a stale lock behind."""
        import fcntl

        with open(self.path / ".lock", "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                raise StoreError(f"{self.path} is being written by another sweep ({f.read().strip() or 'unknown'}); "
                                 "wait for it, or use another store") from None
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} on {socket.gethostname()}")
            f.flush()
            try:
                yield self
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # -- writing --------------------------------------------------------------------------------
    def register_sweep(self, name: str, spec: dict, keys) -> None:
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("INSERT INTO sweeps VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET spec = "
                            "excluded.spec, updated = excluded.updated", (name, json.dumps(spec), now, now))
            self.db.executemany("INSERT OR IGNORE INTO sweep_runs VALUES (?, ?)", [(name, k) for k in keys])

    def record_done(self, key: str, kind: str, params: dict, scalars: dict, arrays: dict, seconds: float,
                    worker: str, version: str) -> bool:
        """Save a finished run; False (and nothing written) if the store already holds it as done."""
        if self._status(key) == "done":
            return False
        if arrays:
            self._write_arrays(key, arrays)  # first the file, then the row that points to it
        self._upsert(key, kind, params, "done", json.dumps(scalars, allow_nan=False), json.dumps(sorted(arrays)),
                     None, seconds, worker, version)
        return True

    def record_failed(self, key: str, kind: str, params: dict, error: str, seconds: float, worker: str,
                      version: str) -> None:
        if self._status(key) != "done":
            self._upsert(key, kind, params, "failed", None, None, error, seconds, worker, version)

    def _upsert(self, key, kind, params, status, result, arrays, error, seconds, worker, version):
        self.db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "status = excluded.status, result = excluded.result, arrays = excluded.arrays, error = excluded.error, "
            "attempts = runs.attempts + 1, seconds = excluded.seconds, finished = excluded.finished, "
            "worker = excluded.worker, version = excluded.version WHERE runs.status != 'done'",
            (key, kind, json.dumps(params, sort_keys=True), status, result, arrays, error, seconds, time.time(),
             worker, version))

    def _array_path(self, key: str) -> Path:
        return self.path / "arrays" / key[:2] / f"{key}.npz"

    def _write_arrays(self, key: str, arrays: dict):
        path = self._array_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)  # atomic: the file is either the old one, absent, or whole

    # -- reading --------------------------------------------------------------------------------
    def _status(self, key: str) -> str | None:
        row = self.db.execute("SELECT status FROM runs WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def statuses(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, status FROM runs"))

    def rows(self, kind: str | None = None, status: str | None = None, sweep: str | None = None) -> list[dict]:
        """Every run as a dict: key, kind, status, params (dict), result (dict or None), error,
        attempts, seconds, finished, worker, version, arrays (names)."""
        query, args = "SELECT r.* FROM runs r", []
        where = []
        if sweep is not None:
            query += " JOIN sweep_runs s ON s.key = r.key"
            where.append("s.sweep = ?")
            args.append(sweep)
        if kind is not None:
            where.append("r.kind = ?")
            args.append(kind)
        if status is not None:
            where.append("r.status = ?")
            args.append(status)
        if where:
            query += " WHERE " + " AND ".join(where)
        cur = self.db.execute(query + " ORDER BY r.finished", args)
        names = [c[0] for c in cur.description]
        out = []
        for values in cur:
            row = dict(zip(names, values))
            for name in ("params", "result", "arrays"):
                row[name] = json.loads(row[name]) if row[name] is not None else None
            out.append(row)
        return out

    def sweeps(self) -> list[dict]:
        cur = self.db.execute("SELECT s.name, s.created, s.updated, COUNT(r.key) FROM sweeps s "
                              "LEFT JOIN sweep_runs r ON r.sweep = s.name GROUP BY s.name ORDER BY s.created")
        return [{"name": n, "created": c, "updated": u, "runs": k} for n, c, u, k in cur]

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The arrays of a finished run."""
        row = self.db.execute("SELECT status, arrays FROM runs WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] != "done":
            raise StoreError(f"{self.path} holds no finished run {key}")
        if not json.loads(row[1] or "[]"):
            return {}
        with np.load(self._array_path(key), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}

    def check(self) -> list[str]:
        """Problems found: SQLite's integrity check, and finished runs whose arrays do not load."""
        problems = [r[0] for r in self.db.execute("PRAGMA integrity_check") if r[0] != "ok"]
        for key, names in self.db.execute("SELECT key, arrays FROM runs WHERE status = 'done'").fetchall():
            want = json.loads(names or "[]")
            if not want:
                continue
            try:
                got = sorted(self.arrays(key))
            except Exception as exc:  # noqa: BLE001 - any failure to read is a problem to report
                problems.append(f"run {key}: arrays unreadable ({exc})")
                continue
            if got != want:
                problems.append(f"run {key}: arrays {got}, expected {want}")
        return problems
