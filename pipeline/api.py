"""Pure functions behind the CLI: each takes plain arguments and returns a plain dict."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import tomllib
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pipeline.about import DEFAULT_MODEL_NAME, MODEL_ENV, SYSTEMS
from pipeline.corpus import DEFAULT_MAX_CHARS, Note, NoteError, check_text, load_notes, read_jsonl, read_notes
from pipeline.audit import Predictions, audit, paired_comparison, read_gold, read_predictions
from pipeline.engines import open_engine
from pipeline.model import DEFAULT_TOP_K, Medcoder, TrainConfig, note_fingerprint

logger = logging.getLogger(__name__)

#: Notes scored together: large enough to batch the matrix work, small enough to keep memory flat.
BATCH_SIZE = 256


def default_model_dir() -> Path:
    """The model used when none is named: ``$MEDCODE_MODEL``, else ``models/default`` of the checkout."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    return Path(__file__).resolve().parent.parent / "models" / DEFAULT_MODEL_NAME


def load_model(path: str | Path | None = None) -> Medcoder:
    """Load a model folder (the default one when ``path`` is ``None``)."""
    return Medcoder.load(Path(path) if path else default_model_dir())


def suggest(text: str, model: Medcoder, top_k: int = 10, note_id: str = "note") -> dict:
    """Suggestions for one note.

    Raises:
        ValueError: when the text cannot be scored (empty, too long), naming the note.
    """
    error = check_text(note_id, text)
    if error:
        raise ValueError(f"{error.id}: {error.reason}")
    return model.predict([Note(note_id, text)], top_k=top_k)[0]


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


def predict_file(input_path: str | Path, output: str | Path, model: Medcoder | None = None,
                 model_dir: str | Path | None = None, top_k: int = DEFAULT_TOP_K, fmt: str = "jsonl", split: str | None = None,
                 max_chars: int = DEFAULT_MAX_CHARS, workers: int = 1, resume: bool = False,
                 progress: Callable[[int], None] | None = None, engine: str = "local",
                 scheduler: str | None = None, batch_size: int = BATCH_SIZE) -> dict:
    """Score every note of an input and stream the results to ``output``, in bounded memory.

    Notes that cannot be scored (empty, not UTF-8, too long, malformed row, duplicate id) go to
    ``<output stem>.errors.jsonl`` with the reason; the others are still scored. Each batch is flushed
    to disk before the next is read, so a run killed at any point can be resumed.

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
        progress: called with the number of notes handled after each batch.
        engine: ``local`` or ``dask`` (see :mod:`pipeline.engines`); the output is the same.
        scheduler: a Dask scheduler address; a local cluster when ``None``.
        batch_size: notes per batch (the unit of work, of flushing and of resuming).

    Returns:
        ``{"scored", "skipped", "resumed", "output", "errors_file", "codiesp_files", "seconds"}``.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    errors_path = output.with_name(output.stem + ".errors.jsonl")
    done = _read_done(output) if resume else set()
    reported = _read_done(errors_path) if resume else set()
    seen: set[str] = set()
    scored = skipped = 0
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

    model_dir = Path(model_dir) if model_dir else default_model_dir()
    with open_engine(engine, model, model_dir, workers, scheduler) as runner, \
            output.open("a" if resume else "w", encoding="utf-8") as out, \
            errors_path.open("a" if resume else "w", encoding="utf-8") as err:
        # Each task carries its batch, so results come back with the errors to report beside them.
        tasks = ((batch, [n for n in batch if isinstance(n, Note)]) for batch in _batches(items(), batch_size))
        for batch, rows in runner.map(tasks, top_k):
            for bad in (n for n in batch if isinstance(n, NoteError)):
                err.write(json.dumps(bad.as_dict()) + "\n")
                logger.warning("skipped note %s: %s", bad.id, bad.reason)
                skipped += 1
            for row in rows:
                out.write(json.dumps(row) + "\n")
            scored += len(rows)
            out.flush()
            err.flush()
            os.fsync(out.fileno())
            if progress:
                progress(scored + skipped)
    files = write_codiesp_tsv(output) if fmt == "codiesp" else []
    has_errors = errors_path.exists() and errors_path.stat().st_size > 0
    if not has_errors:
        errors_path.unlink(missing_ok=True)
    return {"scored": scored, "skipped": skipped, "resumed": len(done), "output": str(output),
            "errors_file": str(errors_path) if has_errors else None,
            "codiesp_files": files, "seconds": round(time.perf_counter() - start, 3)}


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


def read_config(path: str | Path | None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Training config from a TOML file (its ``[train]`` table or top level) and ``key=value`` overrides."""
    values: dict = {}
    if path:
        data = tomllib.loads(Path(path).read_text("utf-8"))
        values.update(data.get("train", data))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        values[key.strip().removeprefix("train.")] = value.strip()
    return TrainConfig.from_dict(values)


def apply_feedback(notes: list[Note], path: str | Path) -> dict:
    """Fold coder decisions into training notes (in place; new notes are appended).

    Each JSONL line: ``{"id", "accepted": [...], "rejected": [...], "added": [...], "text"?}``. A note's
    codes become its gold plus accepted and added codes, less rejected ones; a line for an unknown id
    with a ``text`` adds a new note coded with its accepted and added codes.

    Returns:
        Counts of what was applied.
    """
    from pipeline.corpus import parse_codes

    by_id = {n.id: n for n in notes}
    counts = {"notes_updated": 0, "notes_added": 0, "codes_added": 0, "codes_removed": 0, "lines_ignored": 0}
    for number, line in enumerate(Path(path).read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            keep = parse_codes(list(row.get("accepted", [])) + list(row.get("added", [])))
            drop = parse_codes(list(row.get("rejected", [])))
        except (ValueError, TypeError) as exc:
            logger.warning("feedback line %d ignored: %s", number, exc)
            counts["lines_ignored"] += 1
            continue
        note = by_id.get(str(row.get("id")))
        if note is None:
            if not row.get("text"):
                counts["lines_ignored"] += 1
                continue
            note = Note(str(row["id"]), row["text"], {})
            notes.append(note)
            by_id[note.id] = note
            counts["notes_added"] += 1
        else:
            counts["notes_updated"] += 1
        for system in SYSTEMS:
            codes = list(note.codes.get(system, []))
            for code in keep.get(system, []):
                if code not in codes:
                    codes.append(code)
                    counts["codes_added"] += 1
            for code in drop.get(system, []):
                if code in codes:
                    codes.remove(code)
                    counts["codes_removed"] += 1
            note.codes[system] = codes
    return counts


def train(corpus: str | Path, output: str | Path, split: str | None = "train", config: TrainConfig | None = None,
          eval_split: str | None = None, progress: Callable[[str], None] | None = None,
          feedback: str | Path | None = None) -> dict:
    """Train a model on a corpus (plus coder feedback) and save it; optionally evaluate on a held-out split.

    Returns:
        ``{"model", "notes", "skipped", "seconds", "feedback"?, "metrics"?}``.
    """
    start = time.perf_counter()
    notes, errors = load_notes(corpus, split)
    for bad in errors:
        logger.warning("training: skipped note %s: %s", bad.id, bad.reason)
    applied = apply_feedback(notes, feedback) if feedback else None
    notes = [n for n in notes if any(n.codes.values())]
    model = Medcoder.train(notes, config, progress=progress)
    extra = {"training": {**model.meta["training"], "corpus": f"{Path(corpus).name}:{split}",
                          **({"feedback": {"file": Path(feedback).name, **applied}} if applied else {})}}
    result = {"notes": len(notes), "skipped": len(errors), **({"feedback": applied} if applied else {})}
    if eval_split:
        metrics = headline(evaluate(model, corpus, eval_split))
        extra["metrics"] = metrics
        result["metrics"] = metrics
    path = model.save(output, extra)
    return {"model": str(path), **result, "seconds": round(time.perf_counter() - start, 1)}


class TrainingOverlapError(ValueError):
    """The evaluation notes include notes the model was trained on."""


def model_predictions(model: Medcoder, notes: list[Note], top_k: int = DEFAULT_TOP_K) -> Predictions:
    """A model's suggestions for notes, exactly as ``medcode predict --top-k`` writes them.

    Excluded codes (negated, family history) are not suggestions, so they count as not predicted.
    """
    preds = Predictions(has_scores=True)
    for row in model.predict(notes, top_k=top_k):
        for system in SYSTEMS:
            preds.ranked[system][row["id"]] = []
            preds.scores[system][row["id"]] = []
        for x in row["suggestions"]:
            preds.ranked[x["system"]][row["id"]].append(x["code"])
            preds.scores[x["system"]][row["id"]].append(x["score"])
            if x["evidence"]:
                preds.evidence.setdefault((row["id"], x["code"]), x["evidence"][0]["text"])
    return preds


def _gold_of(notes: list[Note]) -> dict[str, dict[str, list[str]]]:
    return {s: {n.id: n.gold(s) for n in notes} for s in SYSTEMS}


def load_eval_notes(model: Medcoder, corpus: str | Path, split: str | None, allow_overlap: bool) -> tuple[list, int, int]:
    """Notes to evaluate a model on, refusing (unless allowed) notes it was trained on."""
    notes, errors = load_notes(corpus, split)
    seen = set(model.meta.get("training", {}).get("note_fingerprints", []))
    overlap = sum(note_fingerprint(n.text) in seen for n in notes)
    if overlap and not allow_overlap:
        raise TrainingOverlapError(
            f"{overlap} of the {len(notes)} notes of {Path(corpus).name}:{split} were in this model's training "
            "data; metrics on them say nothing about accuracy. Evaluate a model trained without them "
            "(e.g. `make train`), or pass --allow-train-overlap to score anyway.")
    return notes, len(errors), overlap


def evaluate(model: Medcoder, corpus: str | Path, split: str | None = "dev", allow_overlap: bool = False,
             threshold: float = 0.5, top_k: int = DEFAULT_TOP_K) -> dict:
    """Audit a model on a coded corpus (see :mod:`pipeline.audit` for every figure).

    Args:
        model: the model.
        corpus: coded notes.
        split: CodiEsp split.
        allow_overlap: score even if some notes were in the model's training data (the result then
            says how many; such figures must not be reported as accuracy).
        threshold: score at which a suggestion counts as assigned, for F1.
        top_k: suggestions per note and system, as ``medcode predict --top-k`` (the figures are
            those of the predictions a coder would see).

    Returns:
        ``{"top_k", system: {"MAP", "P@k", "R@k", "ci95", "at_threshold", "per_code", ...}, "corpus", "notes",
        "skipped", "training_overlap"}``.

    Raises:
        TrainingOverlapError: when notes overlap the training data and ``allow_overlap`` is false.
    """
    notes, skipped, overlap = load_eval_notes(model, corpus, split, allow_overlap)
    result = audit(model_predictions(model, notes, top_k), _gold_of(notes), threshold=threshold)
    return {"corpus": f"{Path(corpus).name}:{split}", "notes": len(notes), "skipped": skipped,
            "training_overlap": overlap, "top_k": top_k, **result}


def evaluate_predictions(predictions: str | Path, gold: str | Path, split: str | None = None,
                         threshold: float = 0.5) -> dict:
    """Audit a predictions file (medcode JSONL or CodiEsp TSV) against gold codes."""
    result = audit(read_predictions(predictions), read_gold(gold, split), threshold=threshold)
    return {"predictions": str(predictions), "gold": str(gold), **result}


def headline(result: dict) -> dict:
    """The figures a model card keeps from an audit: ranking metrics and their intervals."""
    keep = ("notes", "MAP", "P@1", "P@5", "P@10", "P@30", "R@1", "R@5", "R@10", "R@30", "ci95")
    return {k: v for k, v in result.items() if k not in SYSTEMS} | {
        s: {k: result[s][k] for k in keep if k in result[s]} for s in SYSTEMS if s in result}


def compare(a: str | Path, b: str | Path, corpus: str | Path, split: str | None = "dev",
            allow_overlap: bool = False) -> dict:
    """Compare two models or prediction files on the same coded notes (paired bootstrap on per-note AP)."""
    notes, _ = load_notes(corpus, split)

    def predictions(source) -> Predictions:
        path = Path(source)
        if (path / "meta.json").exists():
            model = Medcoder.load(path)
            load_eval_notes(model, corpus, split, allow_overlap)
            return model_predictions(model, notes)
        return read_predictions(path)

    result = paired_comparison(predictions(a), predictions(b), _gold_of(notes))
    return {"A": str(a), "B": str(b), "corpus": f"{Path(corpus).name}:{split}", **result}


def list_models(folder: str | Path = "models") -> list[dict]:
    """The model folders under ``folder`` with their key figures (from their ``meta.json``)."""
    rows = []
    for meta_path in sorted(Path(folder).glob("*/meta.json")):
        meta = json.loads(meta_path.read_text("utf-8"))
        metrics = meta.get("metrics", {})
        rows.append({"model": str(meta_path.parent), "created": meta.get("created"),
                     "trained_on": meta.get("training", {}).get("corpus"),
                     "notes": meta.get("training", {}).get("notes"),
                     "evaluated_on": metrics.get("corpus"),
                     **{f"MAP {s}": metrics.get(s, {}).get("MAP") for s in SYSTEMS}})
    return rows
