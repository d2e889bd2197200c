"""Where batches of notes are scored: in this process, in local worker processes, or on Dask.

Every engine takes an iterator of ``(batch, notes)`` tasks (``batch`` is what the writer reports,
``notes`` the scorable part of it) and yields ``(batch, results)`` **in input order**, one result per
note: its output row, or the reason it could not be scored. Only a few batches are in flight, so
memory stays bounded however long the input is. The writer in :func:`medcode.batch.predict.predict_file`
is the same for all of them, which is why their outputs are identical: the engine only decides where
:meth:`Medcoder.predict` runs.

* ``local`` with one worker: inline, with the model already loaded.
* ``local`` with N workers: a ``spawn`` process pool; each process loads the model folder once and
  exits when this process dies (a watchdog thread), so a killed run leaves no worker behind.
* ``dask``: tasks on a Dask cluster (``distributed``). Without a scheduler, a private ``LocalCluster``
  on this machine: TLS with credentials made for the run (``Security.temporary()``), so no other
  process can connect to it, and no dashboard or other HTTP endpoint. With ``--scheduler``, a real
  cluster reached over TLS (a security file names the address and the certificates). Each Dask
  worker loads the model folder once, so the folder must be readable at the same path on every
  worker (shared storage) with the same medcode installed; it must have the id the client checked.

A task never raises: a note that fails is returned as a reason, and a model that cannot be loaded as
one message. Frameworks log a failed task with its arguments, and the arguments are note text.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from medcode.coder import Medcoder
from medcode.errors import EngineError, MedcodeError, ModelError, UsageError
from medcode.notes import Note, check_text
from medcode.textsafe import shown

logger = logging.getLogger(__name__)

ENGINES = ("local", "dask")
#: Batches in flight per worker: enough to keep workers busy while the writer works, few enough
#: that memory does not grow with the input.
AHEAD_PER_WORKER = 2
#: Seconds to wait for a Dask scheduler given with ``--scheduler``.
CONNECT_TIMEOUT = 20
#: Dask settings of the private local cluster: no HTTP routes on the scheduler or the workers.
_PRIVATE_DASK = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}

Task = tuple[list, list[Note]]
#: One result per note: the output row, or the reason the note could not be scored.
Result = dict | str

# One model per worker process (local pool or Dask worker), loaded on its first batch.
_models: dict[tuple[str, str | None], Medcoder] = {}


def _exit_with_parent(parent: int, interval: float = 0.5) -> None:
    """Exit this (worker) process as soon as its parent is gone, whatever it is doing."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)  # the parent was killed: nobody will read what this process computes

    threading.Thread(target=watch, name="medcode-parent-watch", daemon=True).start()


def _init_worker(parent: int) -> None:
    """Pool initializer: one OpenMP/BLAS thread per process (N workers on N cores), and die with the parent."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # applies for the life of the process (only an explicit restore undoes it)
    _exit_with_parent(parent)


def score_notes(model: Medcoder, notes: list[Note], top_k: int) -> list[Result]:
    """Rows for notes, a failing note's row replaced by the reason (the exception's kind, never its text)."""
    try:
        return model.predict(notes, top_k=top_k)
    except Exception:  # noqa: BLE001 - one bad note must not lose the batch: score them one by one
        pass
    results: list[Result] = []
    for note in notes:
        error = check_text(note.id, note.text)
        if error:
            results.append(error.reason)
            continue
        try:
            results.append(model.predict([note], top_k=top_k)[0])
        except Exception as exc:  # noqa: BLE001
            results.append(f"could not be scored ({type(exc).__name__})")
    return results


def _worker_predict(model_dir: str, model_id: str | None, notes: list[Note], top_k: int) -> tuple[str, object]:
    """A task: ``("ok", results)``, or ``("fatal", message)`` when the model cannot be loaded. Never raises."""
    try:
        model = _models.get((model_dir, model_id))
        if model is None:
            model = _models[(model_dir, model_id)] = Medcoder.load(model_dir, expect=model_id)
    except MedcodeError as exc:
        return "fatal", str(exc)
    except Exception as exc:  # noqa: BLE001
        return "fatal", f"{shown(model_dir)}: the model cannot be loaded in a worker ({type(exc).__name__})"
    return "ok", score_notes(model, notes, top_k)


def _unwrap(outcome: tuple[str, object]) -> list[Result]:
    kind, value = outcome
    if kind == "fatal":
        raise ModelError(str(value))
    return value


def _in_order(submit, tasks: Iterable[Task], ahead: int) -> Iterator[tuple[list, list[Result]]]:
    """Submit tasks ``ahead`` at a time; yield results in submission order."""
    pending: deque = deque()
    for batch, notes in tasks:
        pending.append((batch, submit(notes)))
        if len(pending) > ahead:
            batch0, future = pending.popleft()
            yield batch0, _unwrap(future())
    while pending:
        batch0, future = pending.popleft()
        yield batch0, _unwrap(future())


class Engine:
    """Base: a context manager whose :meth:`map` scores tasks in order."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass

    def map(self, tasks: Iterable[Task], top_k: int) -> Iterator[tuple[list, list[Result]]]:
        raise NotImplementedError


class InlineEngine(Engine):
    """Score in this process with a loaded model."""

    def __init__(self, model: Medcoder):
        self.model = model

    def map(self, tasks, top_k):
        for batch, notes in tasks:
            yield batch, score_notes(self.model, notes, top_k)


class ProcessEngine(Engine):
    """A pool of local worker processes (``spawn``: no state inherited from this process).

    ``concurrent.futures`` rather than ``multiprocessing.Pool``: when a worker dies (killed, out
    of memory) the pool is marked broken and the run stops with an error, where ``Pool`` would
    start a new worker and wait forever for the lost batch.
    """

    def __init__(self, model_dir: Path, workers: int, model_id: str | None = None):
        self.model_dir, self.model_id, self.workers = str(model_dir), model_id, workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker, initargs=(os.getpid(),))

    def map(self, tasks, top_k):
        def submit(notes):
            future = self.pool.submit(_worker_predict, self.model_dir, self.model_id, notes, top_k)

            def result():
                try:
                    return future.result()
                except BrokenProcessPool:
                    raise EngineError("a worker process died (killed, or out of memory); the notes written so "
                                      "far are kept: run again with --resume") from None
            return result
        return _in_order(submit, tasks, AHEAD_PER_WORKER * self.workers)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskEngine(Engine):
    """Tasks on a Dask cluster.

    Args:
        model_dir: the model folder, readable at this path on every worker.
        scheduler: a security file (address and TLS certificates of a real cluster) or a ``tls://``
            address (TLS settings from Dask's own config); ``None`` starts a private ``LocalCluster``
            of ``workers`` single-threaded processes bound to localhost, with TLS and credentials
            made for this run and no HTTP endpoint.
        workers: processes of the local cluster (ignored with ``scheduler``).
        model_id: the id every worker must find in the model folder.
    """

    def __init__(self, model_dir: Path, scheduler: str | None = None, workers: int = 1, model_id: str | None = None):
        try:
            from distributed import Client
        except ImportError as exc:  # an optional extra: say how to get it
            raise EngineError("the dask engine needs the dask extra: pip install 'medcode[dask]'") from exc
        self.model_dir = str(Path(model_dir).resolve())  # workers may not share this process's cwd
        self.model_id = model_id
        self.cluster = None
        if scheduler:
            address, security = scheduler_security(scheduler)
            try:
                self.client = Client(address, security=security, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError, ValueError, TypeError) as exc:
                raise EngineError(f"--scheduler {shown(address)}: cannot connect ({type(exc).__name__})") from None
        else:
            self.cluster, security = _private_cluster(workers)
            self.client = Client(self.cluster, security=security)
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        logger.info("dask engine: %d workers at %s", self.workers, self.client.scheduler.address)

    def map(self, tasks, top_k):
        def submit(notes):
            # pure=False: two batches never share a result, even with equal contents. (Dask's
            # nanny already starts each worker with one OpenMP/BLAS thread.)
            future = self.client.submit(_worker_predict, self.model_dir, self.model_id, notes, top_k, pure=False)

            def result():
                try:
                    return future.result()
                except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost connection, a cancelled task
                    raise EngineError(f"dask: {type(exc).__name__} while scoring (a worker died or the cluster went "
                                      "away); the notes written so far are kept: run again with --resume") from None
            return result
        return _in_order(submit, tasks, AHEAD_PER_WORKER * self.workers)

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _private_cluster(workers: int):
    """A ``LocalCluster`` only this process can use: TLS with temporary credentials, loopback, no HTTP."""
    import dask
    from distributed import LocalCluster

    try:
        from distributed.security import Security

        security = Security.temporary()
    except ImportError as exc:
        raise EngineError("the dask engine's TLS needs the cryptography package: pip install 'medcode[dask]'") from exc
    if not logger.isEnabledFor(logging.INFO):  # Dask's INFO lines (one per connection) only with --verbose
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with dask.config.set(_PRIVATE_DASK):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               protocol="tls", security=security, dashboard_address=None,
                               worker_dashboard_address=None,
                               scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
    return cluster, security


#: Keys of a ``--scheduler`` security file, as the ``dask scheduler`` / ``dask worker`` options.
SECURITY_KEYS = ("address", "tls-ca-file", "tls-cert", "tls-key")


def scheduler_security(spec: str):
    """``(address, Security)`` for ``--scheduler``: a security file, or a ``tls://`` address.

    A security file is YAML (or JSON)::

        address: tls://10.0.0.5:8786
        tls-ca-file: ca.pem        # the CA that signed the scheduler's and workers' certificates
        tls-cert: client.pem       # this client's certificate and key
        tls-key: client-key.pem

    Relative paths are relative to the file. Note text is sent to a cluster only over TLS.

    Raises:
        UsageError: for a plain ``tcp://`` (or other) address, or a ``tls://`` address with no TLS
            credentials in Dask's config.
        InputError: for a security file that cannot be read or lacks a key.
    """
    from distributed.security import Security

    if "://" not in spec:
        return _security_file(Path(spec))
    if not spec.startswith("tls://"):
        raise UsageError(f"--scheduler {shown(spec, 80)}: medcode sends note text to a cluster only over TLS; "
                         "give a security file (address and certificates, see the README) or a tls:// address")
    security = Security(require_encryption=True)
    if not security.tls_ca_file:
        raise UsageError(f"--scheduler {shown(spec, 80)}: no TLS credentials in Dask's config; give a security "
                         "file naming the CA, certificate and key")
    return spec, security


def _security_file(path: Path):
    import yaml
    from distributed.security import Security

    from medcode.batch.files import read_capped
    from medcode.errors import InputError

    try:
        raw = read_capped(path, 1 << 20, "security file")
    except InputError as exc:
        raise InputError(f"--scheduler {exc}") from None
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        raise InputError(f"--scheduler {shown(path)}: not a YAML security file") from None
    if not isinstance(data, dict) or any(not isinstance(data.get(k), str) or not data[k] for k in SECURITY_KEYS):
        raise InputError(f"--scheduler {shown(path)}: a security file needs {', '.join(SECURITY_KEYS)}")
    if not data["address"].startswith("tls://"):
        raise InputError(f"--scheduler {shown(path)}: address must be a tls:// address")
    files = {}
    for key in SECURITY_KEYS[1:]:
        file = (path.parent / data[key]).resolve()
        if not file.is_file():
            raise InputError(f"--scheduler {shown(path)}: {key} {shown(data[key], 80)}: no such file")
        files[key] = str(file)
    return data["address"], Security(tls_ca_file=files["tls-ca-file"], tls_client_cert=files["tls-cert"],
                                     tls_client_key=files["tls-key"], require_encryption=True)


def open_engine(engine: str, model: Medcoder | None, model_dir: Path, workers: int = 1,
                scheduler: str | None = None, model_id: str | None = None) -> Engine:
    """The engine a ``medcode predict`` run asked for.

    Raises:
        UsageError: for an unknown engine name.
    """
    if engine == "dask":
        return DaskEngine(model_dir, scheduler, workers, model_id)
    if engine != "local":
        raise UsageError(f"--engine {shown(engine, 40)!r}: unknown engine; choose one of {', '.join(ENGINES)}")
    if workers > 1:
        return ProcessEngine(model_dir, workers, model_id)
    return InlineEngine(model if model is not None else Medcoder.load(model_dir, expect=model_id))
