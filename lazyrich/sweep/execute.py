"""Running a sweep: the runs not yet in the store, on a local process pool or a Dask cluster.

Workers compute; only this process writes the store, one transaction per finished run, as each
finishes (store.py says why a kill loses nothing finished). A run that raises is recorded as
failed with its traceback and skipped by later sweeps unless ``retry_failed``.

Backends:

- ``local``: on CPU a process pool of ``workers`` processes, each with cores/workers torch
  threads (``workers = 1`` runs in this process). On a GPU the runs go one after another in this
  process, and runs of a kind that batches (simulate: equal but for alpha and seed) train as
  one ensemble, as large as memory allows (``batch``, on by default on a GPU, possible anywhere:
  the unit of work is then the batch).
- ``dask``: a Dask distributed cluster: ``scheduler`` is the address of a running scheduler
  (a cluster started with dask-jobqueue on Slurm, for instance), or without one a LocalCluster
  of ``workers`` single-threaded processes is started here on loopback.
"""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
import multiprocessing
import os
import socket
import time
import traceback

from .jobs import kind_spec
from .spec import Run
from .store import Store
from ..theory.errors import LazyrichError

BACKENDS = ("local", "dask")
# the largest ensemble one batch trains on a GPU, in network x point x neuron products (float64:
# a few tensors of this size, about 1 GB each)
BATCH_ELEMENTS = 2 ** 27


@dataclass
class Outcome:
    key: str
    status: str  # done or failed
    seconds: float
    worker: str
    scalars: dict | None = None
    arrays: dict | None = None
    error: str | None = None


@dataclass
class SweepReport:
    total: int
    already_done: int
    skipped_failed: int
    ran: int = 0
    done: int = 0
    failed: int = 0
    wall: float = 0.0
    run_seconds: float = 0.0  # the runs' own times, summed over workers
    backend: str = "local"
    workers: int = 1
    device: str = "cpu"
    interrupted: bool = False
    by_kind: dict = field(default_factory=dict)  # kind -> {runs, done, failed, pending} of this sweep's runs
    failures: list = field(default_factory=list)  # (key, kind, last line of the traceback: the exception)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _version() -> str:
    from .. import __version__

    return __version__


def _worker(device: str) -> str:
    """Where a run ran: host:pid:device (the worker column of the store)."""
    return f"{socket.gethostname()}:{os.getpid()}:{device}"


def execute_run(kind: str, params: dict, device: str, key: str = "") -> Outcome:
    """Run one job and catch its failure."""
    worker = _worker(device)
    t0 = time.perf_counter()
    try:
        res = kind_spec(kind).run(dict(params), device).checked()
        return Outcome(key, "done", time.perf_counter() - t0, worker, res.scalars, res.arrays)
    except Exception:  # noqa: BLE001 - a failed run is recorded with its traceback, the sweep goes on
        return Outcome(key, "failed", time.perf_counter() - t0, worker, error=traceback.format_exc())


def execute_unit(kind: str, params: list[dict], device: str, keys: list[str], threads: int | None = None):
    """What a worker executes: one run, or a batch of runs of one kind as one call of the kind's
    run_batch (one ensemble); a batch that fails is retried run by run, so that a bad run cannot
    fail its batch-mates. Returns a list of Outcomes, in the order of ``keys``."""
    from ..numerics.network import resolve_device

    if threads:
        import torch

        torch.set_num_threads(threads)
    device = str(resolve_device(device))  # "auto" is decided here, on the worker's machine
    if len(params) == 1:
        return [execute_run(kind, params[0], device, keys[0])]
    worker = _worker(device)
    t0 = time.perf_counter()
    try:
        results = [r.checked() for r in kind_spec(kind).run_batch([dict(p) for p in params], device)]
    except Exception:  # noqa: BLE001 - see the docstring
        return [execute_run(kind, p, device, k) for p, k in zip(params, keys)]
    share = (time.perf_counter() - t0) / len(params)
    return [Outcome(k, "done", share, worker, r.scalars, r.arrays) for k, r in zip(keys, results)]


def units(runs: list[Run], batch: bool) -> list[list[Run]]:
    """The work units: each run alone, or with ``batch`` the runs of a batching kind with equal
    batch keys together, in chunks whose ensemble fits BATCH_ELEMENTS."""
    groups: dict = {}
    for run in runs:
        spec = kind_spec(run.kind)
        key = (run.kind, spec.batch_key(run.params)) if batch and spec.run_batch else (run.kind, run.key)
        groups.setdefault(key, []).append(run)
    out = []
    for members in groups.values():
        p = members[0].params
        size = max(1, BATCH_ELEMENTS // max(1, (p.get("p", 1) + p.get("ptest", 0)) * p.get("h", 1)))
        out += [members[i:i + size] for i in range(0, len(members), size)]
    return out


def _args(unit: list[Run], device: str, threads: int | None = None) -> tuple:
    return unit[0].kind, [r.params for r in unit], device, [r.key for r in unit], threads


def _local(todo: list[list[Run]], workers: int, device: str):
    """Yield Outcomes as units finish: in this process, or on a pool of ``workers`` processes."""
    if workers == 1:
        for unit in todo:
            yield from execute_unit(*_args(unit, device))
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn: a forked child would inherit torch's thread pools (and CUDA state) in an unusable state
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending = {pool.submit(execute_unit, *_args(unit, device, threads)) for unit in todo}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                yield from fut.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _dask(todo: list[list[Run]], workers: int, device: str, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency; this names the fix if it is missing
        raise RuntimeError("the dask backend needs dask.distributed: pip install 'dask[distributed]'") from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
        threads = None  # the cluster's workers are configured where they are started
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        client = Client(cluster)
        threads = max(1, (os.cpu_count() or 1) // workers)
    try:
        futures = {client.submit(execute_unit, *_args(unit, device, threads), key=f"lazyrich-{unit[0].key}",
                                 pure=False): unit for unit in todo}
        for fut in as_completed(futures):
            try:
                yield from fut.result()
            except Exception:  # noqa: BLE001 - the worker died (KilledWorker ...): failed runs, not a failed sweep
                error = traceback.format_exc()
                for run in futures[fut]:
                    yield Outcome(run.key, "failed", 0.0, "dask", error=error)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(runs: list[Run], store: Store, name: str = "sweep", spec: dict | None = None, backend: str = "local",
              workers: int | None = None, scheduler: str | None = None, device: str = "auto",
              batch: bool | None = None, retry_failed: bool = False, progress: bool = True) -> SweepReport:
    """Run every run of ``runs`` that ``store`` does not hold as done; record each as it finishes.

    ``batch``: run compatible runs as one unit (simulate: one ensemble; learning-curve: one
    (p, seed) cell); default: on a GPU.
    On KeyboardInterrupt the finished runs are already saved; the report says ``interrupted``
    and the same call resumes.
    """
    from ..numerics.network import resolve_device

    if backend not in BACKENDS:
        raise LazyrichError(f"unknown backend {backend!r}; choose local or dask")
    if workers is not None and workers < 1:
        raise LazyrichError(f"workers must be a positive integer, got {workers}")
    if scheduler and backend != "dask":
        raise LazyrichError("--scheduler needs --backend dask")
    if device not in ("auto", "cpu") and not str(device).startswith("cuda"):
        raise LazyrichError(f"device must be auto, cpu or cuda, got {device!r}")
    # the dask backend leaves the device to each worker: the cluster's machines are not this one
    device = str(resolve_device(device)) if backend == "local" else device
    on_gpu = device.startswith("cuda")
    workers = workers or (os.cpu_count() or 1)
    if batch is None:
        batch = on_gpu
    if backend == "local" and on_gpu:
        workers = 1  # one GPU: runs (or batches) one after another in this process
    with store.writing():
        return _run(runs, store, name, spec, backend, workers, scheduler, device, batch, retry_failed, progress)


def _run(runs, store, name, spec, backend, workers, scheduler, device, batch, retry_failed, progress) -> SweepReport:
    """The body of run_sweep, under the store's write lock, with its settings checked."""
    unique = list({r.key: r for r in runs}.values())
    store.register_sweep(name, spec or {}, [r.key for r in unique])
    status = store.statuses()
    todo = [r for r in unique if status.get(r.key) != "done" and (retry_failed or status.get(r.key) != "failed")]
    report = SweepReport(total=len(unique), already_done=sum(status.get(r.key) == "done" for r in unique),
                         skipped_failed=sum(status.get(r.key) == "failed" for r in unique) if not retry_failed else 0,
                         backend=backend, workers=workers, device=device)
    by_key = {r.key: r for r in todo}
    version = _version()
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    work = units(todo, batch)
    workers = min(workers, max(1, len(work)))  # no idle processes to start
    report.workers = workers
    stream = (o for o in ()) if not work else _local(work, workers, device) if backend == "local" else \
        _dask(work, workers, device, scheduler)
    bar = tqdm(total=len(todo), desc=f"sweep {name}", unit="run", disable=not progress or not todo)
    try:
        for out in stream:
            run = by_key[out.key]
            if out.status == "done":
                store.record_done(run.key, run.kind, run.params, out.scalars, out.arrays or {}, out.seconds,
                                  out.worker, version)
                report.done += 1
            else:
                store.record_failed(run.key, run.kind, run.params, out.error, out.seconds, out.worker, version)
                report.failed += 1
                report.failures.append((run.key, run.kind, out.error.strip().splitlines()[-1]))
            report.ran += 1
            report.run_seconds += out.seconds
            bar.update(1)
            bar.set_postfix(failed=report.failed)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        bar.close()
        stream.close()
    report.wall = time.perf_counter() - t0
    status = store.statuses()
    for run in unique:
        c = report.by_kind.setdefault(run.kind, {"runs": 0, "done": 0, "failed": 0, "pending": 0})
        c["runs"] += 1
        c[status.get(run.key, "pending")] += 1
    return report


def summary(report: SweepReport) -> str:
    """The table printed at the end of a sweep."""
    cols = ("runs", "done", "failed", "pending")
    lines = [f"{'kind':16s} " + " ".join(f"{c:>7s}" for c in cols)]
    for kind, c in sorted(report.by_kind.items()):
        lines.append(f"{kind:16s} " + " ".join(f"{c[k]:>7d}" for k in cols))
    rate = f", {report.wall / report.ran:.3g} s per run" if report.ran else ""
    lines.append(f"{report.total} runs: {report.already_done} already in the store, {report.ran} run now "
                 f"({report.done} done, {report.failed} failed), {report.skipped_failed} failed before and skipped "
                 f"(--retry-failed runs them again); {report.wall:.1f} s on {report.backend} "
                 f"({report.workers} worker{'s' if report.workers != 1 else ''}, {report.device}){rate}")
    for key, kind, err in report.failures[:10]:
        lines.append(f"  failed {kind} {key}: {err}")
    if report.interrupted:
        lines.append("interrupted: the finished runs are saved; run the same command again to resume")
    return "\n".join(lines)
