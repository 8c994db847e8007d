"""The results store: SQLite for configurations and scalar results, arrays in .npz files beside it.

    STORE/runs.sqlite        runs (key, kind, params, status, result, error, ...), sweeps, sweep_runs
    STORE/arrays/ab/KEY.npz  the arrays of run KEY

Only the process that runs a sweep writes, one transaction per finished run. A run's arrays
are written to a temporary file and renamed into place *before* its row is committed as done,
so a kill at any moment (SIGKILL included) leaves every committed run whole: at worst an
array file without a row (rewritten when the run is redone) and the runs in flight lost.
SQLite in WAL mode keeps the database consistent through a kill, and readers
(``lazyrich results``) can query while a sweep writes.

Damage from outside (a truncated, deleted or bit-flipped array file, garbage in the database or in
its write-ahead log) is detected when a store is opened: every command that opens a damaged store
stops with one line naming ``lazyrich results STORE --check``, which lists the damage (``check``),
and ``--repair`` (``repair``), which makes the damaged runs pending, so that the next sweep reruns them.
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

from .errors import StoreDamaged, StoreError

WAL_MAGIC = (0x377F0682, 0x377F0683)  # little- and big-endian checksums (sqlite.org/fileformat2.html)

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


def wal_header_problem(path: Path) -> str | None:
    """What is wrong with a write-ahead log's 32-byte header, or None. SQLite silently ignores a WAL
    whose header does not verify, and with it every run committed since the last checkpoint."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    head = path.read_bytes()[:32]
    if len(head) < 32:
        return f"{path.name} is truncated ({len(head)} bytes)"
    words = np.frombuffer(head, dtype=">u4")
    if int(words[0]) not in WAL_MAGIC:
        return f"{path.name} is not an SQLite write-ahead log"
    # the header checksum: SQLite's running sum over 32-bit words, in the byte order the magic names
    native = "<u4" if int(words[0]) == WAL_MAGIC[0] else ">u4"
    w = np.frombuffer(head[:24], dtype=native).astype(np.uint64)
    s0 = s1 = 0
    for i in range(0, 6, 2):
        s0 = (s0 + int(w[i]) + s1) & 0xFFFFFFFF
        s1 = (s1 + int(w[i + 1]) + s0) & 0xFFFFFFFF
    if (s0, s1) != (int(words[6]), int(words[7])):
        return f"{path.name} has a bad header checksum"
    return None


class Store:
    def __init__(self, path, create: bool = True, readonly: bool = False, verify: bool = True):
        """Open (or create) a store. ``readonly``: never write (a store on a read-only disk can be read);
        ``verify``: refuse a damaged store (StoreDamaged); ``results --check`` opens with verify=False."""
        self.path = Path(path)
        db = self.path / "runs.sqlite"
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} is a file, not a store directory")
        if not db.exists():
            if not create or readonly:
                raise StoreError(f"no results store at {self.path} (expected {db})")
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store {self.path}: {exc.strerror or exc}") from None
        self.readonly = readonly or not os.access(self.path, os.W_OK) or not os.access(db, os.W_OK) and db.exists()
        if verify:
            wal = wal_header_problem(self.path / "runs.sqlite-wal")
            if wal:
                raise StoreDamaged(self._damaged_message([wal]), [wal])
        try:
            self.db = self._connect(db)
            if verify:
                problems = self.check()
                if problems:
                    raise StoreDamaged(self._damaged_message(problems), problems)
        except sqlite3.DatabaseError as exc:
            raise StoreDamaged(self._damaged_message([f"runs.sqlite: {exc}"]), [f"runs.sqlite: {exc}"]) from None

    def _connect(self, db: Path):
        if self.readonly:
            # mode=ro needs the WAL's shared-memory file to be creatable; immutable=1 does not (nothing
            # writes to a store on a read-only disk)
            for flags in ("mode=ro", "mode=ro&immutable=1"):
                try:
                    conn = sqlite3.connect(f"{db.resolve().as_uri()}?{flags}", uri=True, timeout=60,
                                           isolation_level=None)
                    conn.execute("SELECT COUNT(*) FROM runs").fetchone()
                    return conn
                except sqlite3.OperationalError as exc:
                    if "no such table" in str(exc):
                        raise sqlite3.DatabaseError("it holds no runs table") from None
                    last = exc
            raise StoreError(f"cannot open {db} read-only: {last}")
        conn = sqlite3.connect(db, timeout=60, isolation_level=None)  # autocommit; explicit transactions
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: durable across a process kill
        conn.executescript(SCHEMA)
        return conn

    def _damaged_message(self, problems: list[str]) -> str:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return (f"the store {self.path} is damaged: {problems[0]}{more}; run `lazyrich results {self.path} --check` "
                f"to list the damage, and `--repair` to make the damaged runs pending")

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

        if self.readonly:
            raise StoreError(f"the store {self.path} is not writable (permissions or a read-only disk): a sweep "
                             "cannot record its runs there")
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
        """Problems found: SQLite's integrity check, and finished runs whose array file is missing,
        truncated or fails its CRC (zipfile.testzip). The write-ahead log's header is checked before the
        database is opened (``__init__``, ``check_store``): opening it would discard a bad log."""
        problems = [f"runs.sqlite: {r[0]}" for r in self.db.execute("PRAGMA quick_check") if r[0] != "ok"]
        return problems + [f"run {key}: {why}" for key, why in self.damaged_runs().items()]

    def damaged_runs(self) -> dict[str, str]:
        """{key: what is wrong} for the finished runs whose arrays cannot be read whole."""
        import zipfile
        import zlib

        out = {}
        for key, names in self.db.execute("SELECT key, arrays FROM runs WHERE status = 'done'").fetchall():
            want = sorted(json.loads(names or "[]"))
            if not want:
                continue
            path = self._array_path(key)
            if not path.exists():
                out[key] = f"array file {path.relative_to(self.path)} is missing"
                continue
            try:
                with zipfile.ZipFile(path) as z:
                    bad = z.testzip()
                    got = sorted(n.removesuffix(".npy") for n in z.namelist())
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                out[key] = f"array file {path.relative_to(self.path)} is unreadable ({exc})"
                continue
            if bad is not None:
                out[key] = f"array file {path.relative_to(self.path)} fails its CRC in {bad}"
            elif got != want:
                out[key] = f"array file {path.relative_to(self.path)} holds {got}, expected {want}"
        return out

    @classmethod
    def repair_at(cls, path) -> dict:
        """``lazyrich results STORE --repair``: a damaged write-ahead log moved aside first (opening the
        database would discard it silently), then the damaged runs made pending."""
        path = Path(path)
        wal = path / "runs.sqlite-wal"
        moved = None
        if wal_header_problem(wal):
            moved = wal.with_name("runs.sqlite-wal.damaged")
            os.replace(wal, moved)
            (path / "runs.sqlite-shm").unlink(missing_ok=True)
        with cls(path, create=False, verify=False) as st:
            out = st.repair()
        return {**out, "wal_moved_to": None if moved is None else str(moved)}

    def repair(self) -> dict:
        """Make the damaged runs pending (their rows and array files removed: the next sweep reruns them)
        and move a damaged write-ahead log aside. A damaged database itself cannot be repaired here."""
        if self.readonly:
            raise StoreError(f"{self.path} is read-only: it cannot be repaired")
        damaged = self.damaged_runs()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM runs WHERE key = ?", [(k,) for k in damaged])
        for key in damaged:
            self._array_path(key).unlink(missing_ok=True)
        return {"pending": sorted(damaged)}
