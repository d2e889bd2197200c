"""Where batches of notes are scored: in this process, in local worker processes, or on Dask.

Every engine takes an iterator of ``(batch, notes)`` tasks (``batch`` is what the writer reports,
``notes`` the scorable part of it) and yields ``(batch, rows)`` **in input order**, keeping only a few
batches in flight, so memory stays bounded however long the input is. The writer in
:func:`medcode.batch.predict.predict_file` is the same for all of them, which is why their outputs are
identical: the engine only decides where :meth:`Medcoder.predict` runs.

* ``local`` with one worker: inline, with the model already loaded.
* ``local`` with N workers: a ``spawn`` process pool; each process loads the model folder once.
* ``dask``: tasks on a Dask cluster (``distributed``), a ``LocalCluster`` on this machine when no
  scheduler address is given. Each Dask worker loads the model folder once, so the folder must be
  readable at the same path on every worker (shared storage) with the same medcode installed.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from medcode.coder import Medcoder
from medcode.corpus import Note
from medcode.errors import EngineError, UsageError

logger = logging.getLogger(__name__)

ENGINES = ("local", "dask")
#: Batches in flight per worker: enough to keep workers busy while the writer works, few enough
#: that memory does not grow with the input.
AHEAD_PER_WORKER = 2

Task = tuple[list, list[Note]]

# One model per worker process (local pool or Dask worker), loaded on its first batch.
_models: dict[str, Medcoder] = {}


def _one_thread_each() -> None:
    """Pool initializer: N worker processes on N cores must not each start N OpenMP/BLAS threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # applies for the life of the process (only an explicit restore undoes it)


def _worker_predict(model_dir: str, notes: list[Note], top_k: int) -> list[dict]:
    model = _models.get(model_dir)
    if model is None:
        model = _models[model_dir] = Medcoder.load(model_dir)
    return model.predict(notes, top_k=top_k)


def _in_order(submit, tasks: Iterable[Task], ahead: int) -> Iterator[tuple[list, list[dict]]]:
    """Submit tasks ``ahead`` at a time; yield results in submission order."""
    pending: deque = deque()
    for batch, notes in tasks:
        pending.append((batch, submit(notes)))
        if len(pending) > ahead:
            batch0, future = pending.popleft()
            yield batch0, future()
    while pending:
        batch0, future = pending.popleft()
        yield batch0, future()


class Engine:
    """Base: a context manager whose :meth:`map` scores tasks in order."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass

    def map(self, tasks: Iterable[Task], top_k: int) -> Iterator[tuple[list, list[dict]]]:
        raise NotImplementedError


class InlineEngine(Engine):
    """Score in this process with a loaded model."""

    def __init__(self, model: Medcoder):
        self.model = model

    def map(self, tasks, top_k):
        for batch, notes in tasks:
            yield batch, self.model.predict(notes, top_k=top_k)


class ProcessEngine(Engine):
    """A pool of local worker processes (``spawn``: no state inherited from this process).

    ``concurrent.futures`` rather than ``multiprocessing.Pool``: when a worker dies (killed, out
    of memory) the pool is marked broken and the run stops with an error, where ``Pool`` would
    start a new worker and wait forever for the lost batch.
    """

    def __init__(self, model_dir: Path, workers: int):
        self.model_dir, self.workers = str(model_dir), workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_one_thread_each)

    def map(self, tasks, top_k):
        def submit(notes):
            return self.pool.submit(_worker_predict, self.model_dir, notes, top_k).result
        return _in_order(submit, tasks, AHEAD_PER_WORKER * self.workers)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskEngine(Engine):
    """Tasks on a Dask cluster.

    Args:
        model_dir: the model folder, readable at this path on every worker.
        scheduler: address of a running scheduler (``tcp://host:8786``); ``None`` starts a
            ``LocalCluster`` of ``workers`` single-threaded processes bound to localhost, with no
            dashboard (nothing listens beyond this machine).
        workers: processes of the local cluster (ignored with ``scheduler``).
    """

    def __init__(self, model_dir: Path, scheduler: str | None = None, workers: int = 1):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # an optional extra: say how to get it
            raise EngineError("the dask engine needs the dask extra: pip install 'medcode[dask]'") from exc
        self.model_dir = str(Path(model_dir).resolve())  # workers may not share this process's cwd
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster)
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        logger.info("dask engine: %d workers at %s", self.workers, self.client.scheduler.address)

    def map(self, tasks, top_k):
        def submit(notes):
            # pure=False: two batches never share a result, even with equal contents. (Dask's
            # nanny already starts each worker with one OpenMP/BLAS thread.)
            return self.client.submit(_worker_predict, self.model_dir, notes, top_k, pure=False).result
        return _in_order(submit, tasks, AHEAD_PER_WORKER * self.workers)

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def open_engine(engine: str, model: Medcoder | None, model_dir: Path, workers: int = 1,
                scheduler: str | None = None) -> Engine:
    """The engine a ``medcode predict`` run asked for.

    Raises:
        UsageError: for an unknown engine name.
    """
    if engine == "dask":
        return DaskEngine(model_dir, scheduler, workers)
    if engine != "local":
        raise UsageError(f"--engine {engine!r}: unknown engine; choose one of {', '.join(ENGINES)}")
    if workers > 1:
        return ProcessEngine(model_dir, workers)
    return InlineEngine(model if model is not None else Medcoder.load(model_dir))
