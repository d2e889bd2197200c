"""``medcode predict``: score every note of an input and stream the results to a JSONL file.

Notes are read, scored and written a batch at a time, so memory stays flat however long the input.

What a run guarantees about the user's files:

* Everything is checked before any file is written: the options, the input (it exists, its format,
  a CSV's header), the outputs (none is an input, a corpus's gold file or note, inside the model
  folder, a folder or a special file) and the model (its manifest, and its id when one is expected).
* The run writes to partial files beside its outputs (``.<name>.partial``) and renames them into
  place at the end, so OUT, ``OUT.errors.jsonl``, the CodiEsp TSVs and the run record
  ``OUT.run.json`` are either the previous run's, whole, or this run's, whole.
* Each note is written in input order and flushed, to OUT or to the errors file, so a run killed at
  any point leaves a prefix of the input handled. ``--resume`` continues it (or a finished run) after
  checking that the run record's fingerprint (input SHA-256, model id, top-k, format, max-chars,
  medcode version) is this run's; a mismatch is refused with what differs. Duplicate ids are found
  and errors reported exactly as in an uninterrupted run, and the result counts every skipped note.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain, islice
from pathlib import Path

from medcode.about import DEFAULT_TOP_K, MAX_NOTE_CHARS, SYSTEMS, __version__
from medcode.batch.engines import ENGINES, open_engine, scheduler_security
from medcode.batch.files import atomic_writer, check_output, real_paths, write_text
from medcode.batch.runfiles import Kept, RunFiles, deduplicated, partial_of, prepare_run
from medcode.corpus import files_sha256, input_files, read_notes
from medcode.errors import UsageError
from medcode.formats import read_jsonl
from medcode.notes import DEFAULT_MAX_CHARS, Note, NoteError
from medcode.textsafe import MAX_ID_CHARS, shown

logger = logging.getLogger(__name__)


#: Notes scored together: large enough to batch the matrix work, small enough to keep memory flat.
BATCH_SIZE = 256


#: Output formats of ``medcode predict``.
FORMATS = ("jsonl", "codiesp")


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class NoteSource:
    """The notes of an input, readable again from the start (except standard input, read once)."""

    def __init__(self, path: str, split: str | None, max_chars: int):
        self.path, self.split, self.max_chars = path, split, max_chars
        self.stdin = path == "-"
        self.files = [] if self.stdin else input_files(path, split)
        # Read the first item now: a missing file or a CSV without header fails before any output.
        first_pass = self._read()
        first = next(first_pass, None)
        self._first = chain([first] if first is not None else [], first_pass)

    def _read(self) -> Iterator[Note | NoteError]:
        if self.stdin:
            return read_jsonl(sys.stdin.buffer, "stdin", self.max_chars)
        return read_notes(self.path, self.split, self.max_chars)

    def items(self) -> Iterator[Note | NoteError]:
        first, self._first = self._first, None
        return first if first is not None else self._read()


def predict_file(input_path: str | Path, output: str | Path, model=None, model_dir: str | Path | None = None,
                 top_k: int = DEFAULT_TOP_K, fmt: str = "jsonl", split: str | None = None,
                 max_chars: int = DEFAULT_MAX_CHARS, workers: int = 1, resume: bool = False,
                 progress: Callable[[int], None] | None = None, engine: str = "local",
                 scheduler: str | None = None, batch_size: int = BATCH_SIZE, expect_model: str | None = None) -> dict:
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
        max_chars: notes longer than this are skipped as errors (at most :data:`MAX_NOTE_CHARS`).
        workers: processes scoring batches in parallel (output order is input order); for the dask
            engine, the size of the local cluster.
        resume: continue an earlier run of the same input, model and options into ``output``.
        progress: called with the number of input notes handled so far (those an earlier run
            handled included), after each note is written.
        engine: ``local`` or ``dask`` (see :mod:`medcode.batch.engines`); the output is the same.
        scheduler: a Dask security file or ``tls://`` address; a private local cluster when ``None``.
        batch_size: notes per batch (the unit of work and of syncing to disk).
        expect_model: the only model id accepted (default: ``$MEDCODE_EXPECT_MODEL``, when set).

    Returns:
        ``{"scored", "skipped", "resumed", "resumed_skipped", "skipped_total", "model", "output",
        "errors_file", "record_file", "codiesp_files", "seconds"}``: ``scored`` and ``skipped`` count
        this run's notes, ``resumed`` / ``resumed_skipped`` the earlier run's.

    Raises:
        UsageError: for options that cannot be used (refused before anything is read or written).
        InputError: for an input that cannot be read, an output that would destroy a file, or a
            ``--resume`` of another run.
        ModelError: for a model that fails its checks or is not the expected one.
    """
    start = time.perf_counter()
    _check_options(str(input_path), fmt, engine, scheduler, workers, top_k, max_chars, batch_size, resume)
    source = NoteSource(str(input_path), split, max_chars)
    files = RunFiles(Path(output), fmt)
    model, model_dir, model_id = _resolve_model(model, model_dir, engine, workers, expect_model)
    _check_outputs(files, source, model_dir)
    fingerprint = {"input_sha256": files_sha256(source.files) if not source.stdin else None, "model": model_id,
                   "top_k": top_k, "format": fmt, "max_chars": max_chars, "medcode": __version__,
                   "release": _release_names()}
    counts = {"scored": 0, "skipped": 0}
    with open_engine(engine, model, model_dir, workers, scheduler, model_id) as runner:
        files.output.parent.mkdir(parents=True, exist_ok=True)
        kept = prepare_run(files, fingerprint, resume, source)
        items = deduplicated(islice(source.items(), kept.notes, None), kept.seen)
        tasks = ((batch, [n for n in batch if isinstance(n, Note)]) for batch in _batches(items, batch_size))
        handled = [kept.notes]
        with partial_of(files.output).open("a", encoding="utf-8") as out, \
                partial_of(files.errors).open("a", encoding="utf-8") as err:
            if progress and kept.notes:
                progress(kept.notes)
            for batch, results in runner.map(tasks, top_k):
                _write_batch(batch, results, out, err, counts, lambda: _tick(handled, progress))
    skipped_total = kept.skipped + counts["skipped"]
    tsvs = _finish(files, fingerprint, kept, counts)
    return {"scored": counts["scored"], "skipped": counts["skipped"], "resumed": kept.scored,
            "resumed_skipped": kept.skipped, "skipped_total": skipped_total, "model": model_id,
            "output": str(files.output), "errors_file": str(files.errors) if skipped_total else None,
            "record_file": str(files.record), "codiesp_files": tsvs, "seconds": round(time.perf_counter() - start, 3)}


def _release_names() -> dict[str, str]:
    """The code-set release each system is coded against (``$MEDCODE_RELEASE`` / date of service, else the
    default), so a ``--resume`` with another release is refused like one with another model."""
    from medcode.codesets.releases import release_names, resolve_releases

    return release_names(resolve_releases())


def _tick(handled: list[int], progress) -> None:
    handled[0] += 1
    if progress:
        progress(handled[0])


def _check_options(input_path: str, fmt: str, engine: str, scheduler: str | None, workers: int, top_k: int,
                   max_chars: int, batch_size: int, resume: bool) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format {shown(fmt, 40)!r}: use {' or '.join(FORMATS)}")
    if engine not in ENGINES:
        raise UsageError(f"--engine {shown(engine, 40)!r}: unknown engine; use {' or '.join(ENGINES)}")
    if scheduler and engine != "dask":
        raise UsageError("--scheduler needs --engine dask")
    if not 1 <= max_chars <= MAX_NOTE_CHARS:
        raise UsageError(f"--max-chars {max_chars:,}: give 1 to {MAX_NOTE_CHARS:,} (spaCy's pipeline takes "
                         "no longer note)")
    for flag, value in (("--workers", workers), ("--top-k", top_k), ("batch size", batch_size)):
        if value < 1:
            raise UsageError(f"{flag} {value}: give 1 or more")
    if resume and input_path == "-":
        raise UsageError("--resume needs an input file: notes read from standard input cannot be matched to "
                         "the earlier run")
    if scheduler:
        scheduler_security(scheduler)  # a bad address or security file is refused before anything is read


def _resolve_model(model, model_dir, engine: str, workers: int, expect: str | None):
    """``(loaded model or None, model folder, model id)``, the model checked before any output is touched."""
    from medcode.api import default_model_dir
    from medcode.coder import Medcoder
    from medcode.errors import ModelError
    from medcode.manifest import expected_model_id, model_id
    from medcode.storage import read_meta

    inline = engine == "local" and workers == 1
    if model is not None and (inline or model_dir is None):
        expected = expected_model_id(expect)
        if expected and model.model_id != expected:
            raise ModelError(f"model id {model.model_id} is not the expected {expected}; refusing to use it")
        return model, Path(model_dir) if model_dir else None, model.model_id
    model_dir = Path(model_dir) if model_dir else default_model_dir()
    if inline:
        model = Medcoder.load(model_dir, expect)
        return model, model_dir, model.model_id
    return None, model_dir, model_id(read_meta(model_dir, expect))


def _check_outputs(files: RunFiles, source: NoteSource, model_dir: Path | None) -> None:
    """Refuse outputs that are inputs (or their gold files, or inside the model folder)."""
    folders, inputs = [model_dir] if model_dir else [], real_paths(source.files)
    for path in files.all():
        check_output(path, "--output", inputs=inputs, folders=folders, make_parent=True)


def _write_batch(batch: list, results: list, out, err, counts: dict, tick: Callable[[], None]) -> None:
    """Write each note of a batch in input order, to OUT or to the errors file, flushing each line.

    One line at a time, in order, so that whatever a kill leaves on disk is a prefix of the input.
    """
    scored = iter(results)
    for item in batch:
        if isinstance(item, Note):
            result = next(scored)
            if isinstance(result, dict):
                out.write(json.dumps(result) + "\n")
                out.flush()
                counts["scored"] += 1
                tick()
                continue
            item = NoteError(item.id, result)
        err.write(json.dumps(item.as_dict()) + "\n")
        err.flush()
        logger.warning("skipped note %s: %s", shown(item.id), item.reason)
        counts["skipped"] += 1
        tick()
    os.fsync(out.fileno())
    os.fsync(err.fileno())


def _finish(files: RunFiles, fingerprint: dict, kept: Kept, counts: dict) -> list[str]:
    """Move the partial files into place (the TSVs first, the run record last)."""
    out_p, err_p = partial_of(files.output), partial_of(files.errors)
    tsvs = write_codiesp_tsv(out_p, files.tsvs) if files.tsvs else []
    if err_p.stat().st_size:
        os.replace(err_p, files.errors)
    else:
        err_p.unlink()
        files.errors.unlink(missing_ok=True)  # the previous run's errors, which no longer describe OUT
    os.replace(out_p, files.output)
    record = {"fingerprint": fingerprint, "scored": kept.scored + counts["scored"],
              "skipped": kept.skipped + counts["skipped"], "finished": datetime.now(UTC).isoformat(timespec="seconds")}
    write_text(files.record, json.dumps(record, indent=2) + "\n")
    partial_of(files.record).unlink(missing_ok=True)
    return tsvs


def write_codiesp_tsv(source: Path, targets: dict[str, Path] | None = None) -> list[str]:
    """CodiEsp TSVs (``id<TAB>code`` in rank order) from a JSONL output, each written atomically.

    Ids are escaped (a tab or newline in an id would forge a row).

    Args:
        source: the JSONL output.
        targets: ``{system: path}``; default ``<stem>D.tsv`` / ``<stem>P.tsv`` beside ``source``.
    """
    targets = targets or RunFiles(source, "codiesp").tsvs
    with atomic_writer(targets[SYSTEMS[0]]) as cm, atomic_writer(targets[SYSTEMS[1]]) as pcs:
        handles = {SYSTEMS[0]: cm, SYSTEMS[1]: pcs}
        with source.open(encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                note_id = shown(row["id"], MAX_ID_CHARS * 10)
                for sug in row["suggestions"]:
                    handles[sug["system"]].write(f"{note_id}\t{sug['code']}\n")
    return [str(p) for p in targets.values()]
