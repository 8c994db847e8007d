"""Parameter sweeps: a TOML specification of runs, a resumable results store, local and Dask execution.

    from lazyrich.sweep import sweep, results
    report = sweep("scan.toml", "runs/")             # runs what the store does not hold yet
    df = results("runs/", where="p >= 64 and kind == 'simulate'")
    arrays = load_arrays("runs/", df.key[0])         # the run's numpy arrays

``lazyrich sweep SPEC.toml --store DIR`` and ``lazyrich results DIR`` are the same from the shell.
spec.py: the specification and run keys; jobs.py: the job kinds; store.py: the store;
execute.py: the backends; errors.py: their errors. The sweep benchmark is lazyrich.bench.sweep.
"""
from __future__ import annotations

from pathlib import Path

from .errors import RunsFailed, SpecError, StoreError
from .execute import SweepReport, run_sweep, summary
from .jobs import JobResult, kind_spec, kinds
from .spec import Run, expand, load_spec, make_run
from .store import Store
from ..theory.errors import LazyrichError

__all__ = ["sweep", "results", "summarize", "load_arrays", "run_sweep", "summary", "SweepReport", "Store",
           "StoreError", "Run", "make_run", "expand", "load_spec", "SpecError", "kinds", "kind_spec", "JobResult",
           "run_many", "RunsFailed", "check_store", "repair_store"]


def sweep(spec, store, **options) -> SweepReport:
    """Run a specification (a TOML path or an already parsed dict) into ``store`` (a directory).

    ``options`` go to :func:`run_sweep`: backend, workers, scheduler, device, batch,
    retry_failed, progress.
    """
    if isinstance(spec, (str, Path)):
        name, parsed, runs = load_spec(spec)
    else:
        name, parsed, runs = spec.get("name", "sweep"), spec, expand(spec)
    with Store(store) as st:
        return run_sweep(runs, st, name=name, spec=parsed, **options)


def run_many(runs: list[Run], store=None, name: str = "runs", load_arrays: bool = False, **options) -> dict[str, dict]:
    """Run ``runs`` into ``store`` (a directory; None: a temporary one) and return {key: row} of
    every one of them (see Store.rows), with the run's arrays themselves in row["arrays"] when
    ``load_arrays``. ``options`` go to :func:`run_sweep`.

    What the library's own studies (learning curves, attractor counts) call: a run that failed
    raises here, naming the first failure, since a study cannot be fitted with holes in it.
    """
    import tempfile
    from contextlib import nullcontext

    keys = {r.key for r in runs}
    with tempfile.TemporaryDirectory() if store is None else nullcontext(store) as where, Store(where) as st:
        report = run_sweep(runs, st, name=name, **options)
        if report.interrupted:
            raise KeyboardInterrupt
        rows = {row["key"]: row for row in st.rows() if row["key"] in keys}
        failed = [row for row in rows.values() if row["status"] != "done"]
        if failed:
            first = failed[0]
            raise RunsFailed(f"{len(failed)} of {len(keys)} runs failed (store {where}); first, {first['kind']} "
                             f"{first['params']}:\n{first['error']}")
        if load_arrays:
            for row in rows.values():
                row["arrays"] = st.arrays(row["key"])
    return rows


def _flat(row: dict) -> dict:
    out = {"key": row["key"], "kind": row["kind"], "status": row["status"]}
    out.update(row["params"])
    for name, value in (row["result"] or {}).items():
        out[name if name not in out else f"result_{name}"] = value
    out.update({"seconds": row["seconds"], "attempts": row["attempts"], "finished": row["finished"],
                "worker": row["worker"]})
    if row["status"] != "done":
        out["error"] = (row["error"] or "").strip().splitlines()[-1] if row["error"] else None
    return out


def check_store(store) -> list[str]:
    """The damage in a store (empty when it is sound): ``lazyrich results STORE --check``."""
    import sqlite3

    from .errors import StoreDamaged
    from .store import wal_header_problem

    wal = wal_header_problem(Path(store) / "runs.sqlite-wal")
    if wal:  # reading would silently drop the log: report it without opening
        return [wal]
    try:
        with Store(store, create=False, readonly=True, verify=False) as st:
            return st.check()
    except sqlite3.DatabaseError as exc:
        return [f"runs.sqlite: {exc}"]
    except StoreDamaged as exc:
        return exc.problems


def repair_store(store) -> dict:
    """Make the damaged runs of a store pending, so that the next sweep reruns them."""
    return Store.repair_at(store)


def results(store, where: str | None = None, kind: str | None = None, status: str | None = "done",
            sweep: str | None = None):
    """The runs of a store as a pandas DataFrame: one row per run, with its key, kind, status,
    every parameter and every scalar result as columns (a result named like a parameter gets a
    ``result_`` prefix), and seconds, attempts, finished, worker.

    ``where``: a pandas query on those columns (``"p >= 64 and alpha < 1"``); ``kind``,
    ``status`` (done, failed, or None for all) and ``sweep`` select rows first.
    """
    import pandas as pd

    if status not in (None, "done", "failed"):
        raise LazyrichError(f"status must be done, failed or None (all), got {status!r}")
    with Store(store, create=False, readonly=True) as st:
        if sweep is not None and sweep not in {s["name"] for s in st.sweeps()}:
            raise StoreError(f"{store} has no sweep named {sweep!r}")
        rows = [_flat(r) for r in st.rows(kind=kind, status=status, sweep=sweep)]
    df = pd.DataFrame(rows)
    if where and not df.empty:
        try:
            picked = df.query(where).index
        except Exception as exc:  # noqa: BLE001 - pandas raises many types; the user needs the expression named
            raise LazyrichError(f"--where {where!r} cannot be evaluated on the columns "
                             f"{', '.join(map(str, df.columns))}: {exc}") from None
        # rebuilt from the selected rows: the columns of other kinds go, and integers stay integers
        df = pd.DataFrame([rows[i] for i in picked])
    return df


BOOKKEEPING = ("key", "kind", "status", "seconds", "attempts", "finished", "worker", "error")


def summarize(df, by, columns=None):
    """Mean, standard error of the mean and count of ``columns`` over the runs of each group of
    equal ``by`` values (a DataFrame from :func:`results`): ``{col}_mean``, ``{col}_sem``, ``n``.

    ``columns`` defaults to the numeric columns that vary inside some group, less ``seed`` and
    the bookkeeping ones (the results that the seeds scatter).
    """
    import pandas as pd

    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in by + list(columns or []) if c not in df.columns]
    if missing:
        raise LazyrichError(f"no column(s) {', '.join(missing)}; the columns are {', '.join(map(str, df.columns))}")
    if df.empty:
        return pd.DataFrame(columns=by + ["n"])
    groups = df.groupby(by, dropna=False)
    if columns is None:
        numeric = [c for c in df.columns if c not in by and c not in BOOKKEEPING and c != "seed"
                   and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
        columns = [c for c in numeric if (groups[c].nunique(dropna=False) > 1).any()]
    for c in columns:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise LazyrichError(f"column {c} is not numeric: it cannot be averaged")
    out = groups[list(columns)].agg(["mean", "sem"])
    out.columns = [f"{c}_{stat}" for c, stat in out.columns]
    out["n"] = groups.size()
    return out.reset_index()


def load_arrays(store, key: str) -> dict:
    """The numpy arrays a finished run saved (simulate: checkpoints and final parameters ...)."""
    with Store(store, create=False, readonly=True) as st:
        return st.arrays(key)
