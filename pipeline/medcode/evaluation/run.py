"""The audits ``medcode evaluate`` and ``medcode compare`` run: pure functions that return plain dicts."""

from __future__ import annotations

from pathlib import Path

from medcode.about import DEFAULT_TOP_K, META_FILE, SYSTEMS
from medcode.corpus import load_notes
from medcode.errors import TrainingOverlapError
from medcode.evaluation.audit import audit, paired_comparison
from medcode.evaluation.predictions import Predictions, gold_of, model_predictions, read_gold, read_predictions
from medcode.manifest import note_fingerprint

#: The figures a model card keeps from an audit.
HEADLINE = ("notes", "MAP", "P@1", "P@5", "P@10", "P@30", "R@1", "R@5", "R@10", "R@30", "ci95")


def load_eval_notes(model, corpus: str | Path, split: str | None, allow_overlap: bool) -> tuple[list, int, int]:
    """Notes to evaluate a model on, refusing (unless allowed) notes it was trained on.

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
    return notes, len(errors), overlap


def evaluate_model(model, corpus: str | Path, split: str | None = "dev", allow_overlap: bool = False,
                   threshold: float = 0.5, top_k: int = DEFAULT_TOP_K, progress=None) -> dict:
    """Audit a model on a coded corpus (see :mod:`medcode.evaluation.audit` for every figure).

    Args:
        model: the model.
        corpus: coded notes.
        split: CodiEsp split.
        allow_overlap: score even if some notes were in the model's training data (the result then
            says how many; such figures must not be reported as accuracy).
        threshold: score at which a suggestion counts as assigned, for F1.
        top_k: suggestions per note and system, as ``medcode predict --top-k`` (the figures are
            those of the predictions a coder would see).
        progress: called with ``(notes done, None, notes in all)`` as the notes are scored.

    Returns:
        ``{"top_k", system: {"MAP", "P@k", "R@k", "ci95", "at_threshold", "per_code", ...}, "corpus", "notes",
        "skipped", "training_overlap"}``.
    """
    notes, skipped, overlap = load_eval_notes(model, corpus, split, allow_overlap)
    result = audit(model_predictions(model, notes, top_k, progress), gold_of(notes), threshold=threshold)
    return {"corpus": f"{Path(corpus).name}:{split}", "notes": len(notes), "skipped": skipped,
            "training_overlap": overlap, "top_k": top_k, **result}


def evaluate_predictions(predictions: str | Path, gold: str | Path, split: str | None = None,
                         threshold: float = 0.5) -> dict:
    """Audit a predictions file (medcode JSONL or CodiEsp TSV) against gold codes."""
    result = audit(read_predictions(predictions), read_gold(gold, split), threshold=threshold)
    return {"predictions": str(predictions), "gold": str(gold), **result}


def headline(result: dict) -> dict:
    """The figures a model card keeps from an audit: ranking metrics and their intervals."""
    return {k: v for k, v in result.items() if k not in SYSTEMS} | {
        s: {k: result[s][k] for k in HEADLINE if k in result[s]} for s in SYSTEMS if s in result}


def compare(a: str | Path, b: str | Path, corpus: str | Path, split: str | None = "dev",
            allow_overlap: bool = False) -> dict:
    """Compare two models or prediction files on the same coded notes (paired bootstrap on per-note AP)."""
    from medcode.coder import Medcoder

    notes, _ = load_notes(corpus, split)

    def predictions(source) -> Predictions:
        path = Path(source)
        if (path / META_FILE).exists():
            model = Medcoder.load(path)
            load_eval_notes(model, corpus, split, allow_overlap)
            return model_predictions(model, notes)
        return read_predictions(path)

    result = paired_comparison(predictions(a), predictions(b), gold_of(notes))
    return {"A": str(a), "B": str(b), "corpus": f"{Path(corpus).name}:{split}", **result}
