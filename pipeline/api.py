"""Pure functions behind the CLI: each takes plain arguments and returns a plain dict."""

from __future__ import annotations

import json
import logging
import os
import time
import tomllib
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pipeline.about import DEFAULT_MODEL_NAME, MODEL_ENV, RELEASE, SYSTEMS
from pipeline.corpus import DEFAULT_MAX_CHARS, Note, NoteError, check_text, load_notes, read_notes
from pipeline.evaluate import ranking_metrics
from pipeline.model import Medcoder, ModelError, TrainConfig, note_fingerprint

logger = logging.getLogger(__name__)

#: Notes scored together: large enough to batch the matrix work, small enough to keep memory flat.
BATCH_SIZE = 256
#: How deep the ranked list goes when evaluating (MAP looks at the whole list).
EVAL_DEPTH = 100


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
    result = model.predict([Note(note_id, text)], top_k=top_k)[0]
    result["release"] = RELEASE
    return result


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def predict_file(input_path: str | Path, output: str | Path, model: Medcoder, top_k: int = 30,
                 fmt: str = "jsonl", split: str | None = None, max_chars: int = DEFAULT_MAX_CHARS,
                 progress: Callable[[int], None] | None = None) -> dict:
    """Score every note of an input and stream the results to ``output``.

    Notes that cannot be scored are written to ``<output stem>.errors.jsonl`` with the reason; the
    others are still scored.

    Args:
        input_path: folder of ``.txt``, ``.jsonl``, ``.csv`` or a CodiEsp folder.
        output: JSONL file, one line per note.
        model: the model.
        top_k: suggestions per note and code system.
        fmt: ``jsonl``, or ``codiesp`` to also write ``<stem>D.tsv`` / ``<stem>P.tsv``.
        split: CodiEsp split, when the input is a CodiEsp root.
        max_chars: notes longer than this are skipped as errors.
        progress: called with the number of notes done after each batch.

    Returns:
        ``{"scored", "skipped", "output", "errors_file", "seconds"}``.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    errors_path = output.with_name(output.stem + ".errors.jsonl")
    tsv = {s: output.with_name(f"{output.stem}{'D' if s == SYSTEMS[0] else 'P'}.tsv") for s in SYSTEMS}
    scored = skipped = 0
    start = time.perf_counter()
    with output.open("w", encoding="utf-8") as out, errors_path.open("w", encoding="utf-8") as err:
        tsv_files = {s: p.open("w", encoding="utf-8") for s, p in tsv.items()} if fmt == "codiesp" else {}
        try:
            for batch in _batches(read_notes(input_path, split, max_chars), BATCH_SIZE):
                notes = [n for n in batch if isinstance(n, Note)]
                for bad in (n for n in batch if isinstance(n, NoteError)):
                    err.write(json.dumps(bad.as_dict()) + "\n")
                    logger.warning("skipped note %s: %s", bad.id, bad.reason)
                    skipped += 1
                for row in model.predict(notes, top_k=top_k):
                    out.write(json.dumps(row) + "\n")
                    for sug in row["suggestions"]:
                        if sug["system"] in tsv_files:
                            tsv_files[sug["system"]].write(f"{row['id']}\t{sug['code']}\n")
                scored += len(notes)
                if progress:
                    progress(scored + skipped)
        finally:
            for handle in tsv_files.values():
                handle.close()
    if not skipped:
        errors_path.unlink()
    return {"scored": scored, "skipped": skipped, "output": str(output),
            "errors_file": str(errors_path) if skipped else None,
            "codiesp_files": [str(p) for p in tsv.values()] if fmt == "codiesp" else [],
            "seconds": round(time.perf_counter() - start, 3)}


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


def train(corpus: str | Path, output: str | Path, split: str | None = "train", config: TrainConfig | None = None,
          eval_split: str | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Train a model on a corpus and save it; optionally evaluate it on a held-out split.

    Returns:
        ``{"model", "notes", "skipped", "seconds", "metrics"?}``.
    """
    start = time.perf_counter()
    notes, errors = load_notes(corpus, split)
    for bad in errors:
        logger.warning("training: skipped note %s: %s", bad.id, bad.reason)
    notes = [n for n in notes if n.codes]
    model = Medcoder.train(notes, config, progress=progress)
    extra = {"training": {**model.meta["training"], "corpus": f"{Path(corpus).name}:{split}"}}
    result = {"notes": len(notes), "skipped": len(errors)}
    if eval_split:
        metrics = evaluate(model, corpus, eval_split)
        extra["metrics"] = {"split": f"{Path(corpus).name}:{eval_split}", **metrics}
        result["metrics"] = metrics
    path = model.save(output, extra)
    return {"model": str(path), **result, "seconds": round(time.perf_counter() - start, 1)}


class TrainingOverlapError(ValueError):
    """The evaluation notes include notes the model was trained on."""


def evaluate(model: Medcoder, corpus: str | Path, split: str | None = "dev", allow_overlap: bool = False) -> dict:
    """Score a model on a coded corpus: ranking metrics per code system.

    Args:
        model: the model.
        corpus: coded notes.
        split: CodiEsp split.
        allow_overlap: score even if some notes were in the model's training data (the result then
            says how many; such figures must not be reported as accuracy).

    Returns:
        ``{system: {"MAP", "P@5", "P@10", "R@10", "R@30", ..., "notes"}, "notes", "skipped",
        "corpus", "training_overlap"}``.

    Raises:
        TrainingOverlapError: when notes overlap the training data and ``allow_overlap`` is false.
    """
    notes, errors = load_notes(corpus, split)
    seen = set(model.meta.get("training", {}).get("note_fingerprints", []))
    overlap = sum(note_fingerprint(n.text) in seen for n in notes)
    if overlap and not allow_overlap:
        raise TrainingOverlapError(
            f"{overlap} of the {len(notes)} notes of {Path(corpus).name}:{split} were in this model's training "
            "data; metrics on them say nothing about accuracy. Evaluate a model trained without them "
            "(e.g. `make train`), or pass --allow-train-overlap to score anyway.")
    ranked = model.rank([n.text for n in notes], depth=EVAL_DEPTH)
    result: dict = {"corpus": f"{Path(corpus).name}:{split}", "notes": len(notes), "skipped": len(errors),
                    "training_overlap": overlap}
    for system in SYSTEMS:
        predictions = {n.id: [s["code"] for s in r[system]] for n, r in zip(notes, ranked)}
        result[system] = ranking_metrics(predictions, {n.id: n.gold(system) for n in notes})
    return result
