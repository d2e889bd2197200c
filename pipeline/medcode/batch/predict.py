"""``medcode predict``: score every note of an input and stream the results to a JSONL file.

Notes are read, scored and written a batch at a time, so memory stays flat however long the input;
each batch is flushed to disk before the next is read, so a run killed at any point can be resumed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

from medcode.about import DEFAULT_TOP_K, SYSTEMS
from medcode.batch.engines import open_engine
from medcode.corpus import DEFAULT_MAX_CHARS, Note, NoteError, read_jsonl, read_notes

logger = logging.getLogger(__name__)

#: Notes scored together: large enough to batch the matrix work, small enough to keep memory flat.
BATCH_SIZE = 256
#: Output formats of ``medcode predict``.
FORMATS = ("jsonl", "codiesp")


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _read_done(path: Path) -> set[str]:
    """Ids already written to a JSONL output; a torn last line (a killed run) is cut off."""
    done: set[str] = set()
    if not path.exists():
        return done
    good = 0
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                done.add(json.loads(line)["id"])
            except (ValueError, KeyError, TypeError):
                break
            good += len(line)
    with path.open("r+b") as handle:
        handle.truncate(good)
    return done


def errors_path_of(output: Path) -> Path:
    """Where the notes that could not be scored are reported: ``<output stem>.errors.jsonl``."""
    return output.with_name(output.stem + ".errors.jsonl")


def predict_file(input_path: str | Path, output: str | Path, model=None, model_dir: str | Path | None = None,
                 top_k: int = DEFAULT_TOP_K, fmt: str = "jsonl", split: str | None = None,
                 max_chars: int = DEFAULT_MAX_CHARS, workers: int = 1, resume: bool = False,
                 progress: Callable[[int], None] | None = None, engine: str = "local",
                 scheduler: str | None = None, batch_size: int = BATCH_SIZE) -> dict:
    """Score every note of an input and stream the results to ``output``, in bounded memory.

    Notes that cannot be scored (empty, not UTF-8, too long, malformed row, duplicate id) go to
    ``<output stem>.errors.jsonl`` with the reason; the others are still scored.

    Args:
        input_path: folder of ``.txt``, ``.jsonl``, ``.csv``, a CodiEsp folder, or ``-`` for JSONL on stdin.
        output: JSONL file, one line per note.
        model: a loaded model (used by the local engine with one worker).
        model_dir: the model folder (each worker process loads it; the default model when ``None``).
        top_k: suggestions per note and code system.
        fmt: ``jsonl``, or ``codiesp`` to also write ``<stem>D.tsv`` / ``<stem>P.tsv``.
        split: CodiEsp split, when the input is a CodiEsp root.
        max_chars: notes longer than this are skipped as errors.
        workers: processes scoring batches in parallel (output order is input order); for the dask
            engine, the size of the local cluster.
        resume: keep what an earlier run wrote to ``output`` and score only the notes it lacks.
        progress: called with the number of input notes handled so far (those an earlier run wrote
            included), after each note is written.
        engine: ``local`` or ``dask`` (see :mod:`medcode.batch.engines`); the output is the same.
        scheduler: a Dask scheduler address; a local cluster when ``None``.
        batch_size: notes per batch (the unit of work, of flushing and of resuming).

    Returns:
        ``{"scored", "skipped", "resumed", "output", "errors_file", "codiesp_files", "seconds"}``.
    """
    from medcode.api import default_model_dir

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    errors_path = errors_path_of(output)
    done = _read_done(output) if resume else set()
    reported = _read_done(errors_path) if resume else set()
    seen: set[str] = set()
    counts = {"scored": 0, "skipped": 0, "kept": 0}
    start = time.perf_counter()

    def items() -> Iterator[Note | NoteError]:
        source = read_jsonl(sys.stdin.buffer, "stdin", max_chars) if str(input_path) == "-" \
            else read_notes(input_path, split, max_chars)
        for item in source:
            if isinstance(item, Note):
                if item.id in seen:
                    item = NoteError(item.id, "duplicate id: an earlier note has the same id")
                else:
                    seen.add(item.id)
            if item.id not in done and (isinstance(item, Note) or item.id not in reported):
                yield item
            else:
                counts["kept"] += 1

    model_dir = Path(model_dir) if model_dir else default_model_dir()
    with open_engine(engine, model, model_dir, workers, scheduler) as runner, \
            output.open("a" if resume else "w", encoding="utf-8") as out, \
            errors_path.open("a" if resume else "w", encoding="utf-8") as err:
        # Each task carries its batch, so results come back with the errors to report beside them.
        tasks = ((batch, [n for n in batch if isinstance(n, Note)]) for batch in _batches(items(), batch_size))
        for batch, rows in runner.map(tasks, top_k):
            _write_batch(batch, rows, out, err, counts, progress)
    files = write_codiesp_tsv(output) if fmt == "codiesp" else []
    has_errors = errors_path.exists() and errors_path.stat().st_size > 0
    if not has_errors:
        errors_path.unlink(missing_ok=True)
    return {"scored": counts["scored"], "skipped": counts["skipped"], "resumed": len(done), "output": str(output),
            "errors_file": str(errors_path) if has_errors else None,
            "codiesp_files": files, "seconds": round(time.perf_counter() - start, 3)}


def _write_batch(batch: list, rows: list[dict], out, err, counts: dict, progress) -> None:
    """Write one batch's rows and errors, flushed to disk before the next batch is read."""
    for bad in (n for n in batch if isinstance(n, NoteError)):
        err.write(json.dumps(bad.as_dict()) + "\n")
        logger.warning("skipped note %s: %s", bad.id, bad.reason)
        counts["skipped"] += 1
        if progress:
            progress(counts["scored"] + counts["skipped"] + counts["kept"])
    for row in rows:
        out.write(json.dumps(row) + "\n")
        counts["scored"] += 1
        if progress:
            progress(counts["scored"] + counts["skipped"] + counts["kept"])
    out.flush()
    err.flush()
    os.fsync(out.fileno())


def write_codiesp_tsv(output: Path) -> list[str]:
    """CodiEsp TSVs (``<stem>D.tsv``, ``<stem>P.tsv``: ``id<TAB>code`` in rank order) from a JSONL output."""
    paths = {s: output.with_name(f"{output.stem}{'D' if s == SYSTEMS[0] else 'P'}.tsv") for s in SYSTEMS}
    handles = {s: p.open("w", encoding="utf-8") for s, p in paths.items()}
    try:
        with output.open(encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                for sug in row["suggestions"]:
                    handles[sug["system"]].write(f"{row['id']}\t{sug['code']}\n")
    finally:
        for handle in handles.values():
            handle.close()
    return [str(p) for p in paths.values()]
