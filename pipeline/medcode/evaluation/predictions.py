"""Predictions and gold codes as the audit reads them, from files or from a model.

* :func:`read_predictions`: medcode JSONL (``.jsonl``) or a CodiEsp-style TSV (``id<TAB>code`` in rank order);
* :func:`read_gold`: a CodiEsp TSV, a JSONL/CSV with ``codes``, or a CodiEsp folder;
* :func:`model_predictions`: what ``medcode predict --top-k`` would write for some notes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medcode.about import DEFAULT_TOP_K, SYSTEMS
from medcode.codesets.kb import guess_system, normalize_code
from medcode.corpus import Note, load_notes, read_gold_tsv


@dataclass
class Predictions:
    """Ranked predictions per system and note, with scores and evidence where the format has them."""

    ranked: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {s: {} for s in SYSTEMS})
    scores: dict[str, dict[str, list[float]]] = field(default_factory=lambda: {s: {} for s in SYSTEMS})
    evidence: dict[tuple[str, str], str] = field(default_factory=dict)
    has_scores: bool = False

    def add_row(self, row: dict) -> None:
        """Add one medcode output line (``{"id", "suggestions": [...]}``)."""
        for s in SYSTEMS:
            self.ranked[s].setdefault(row["id"], [])
            self.scores[s].setdefault(row["id"], [])
        for sug in row.get("suggestions", []):
            self.ranked[sug["system"]][row["id"]].append(sug["code"])
            self.scores[sug["system"]][row["id"]].append(float(sug["score"]))
            if sug.get("evidence"):
                self.evidence.setdefault((row["id"], sug["code"]), sug["evidence"][0]["text"])


def read_predictions(path: str | Path) -> Predictions:
    """Read medcode JSONL (``.jsonl``) or a CodiEsp-style TSV (anything else) of predictions."""
    path = Path(path)
    preds = Predictions()
    if path.suffix == ".jsonl":
        preds.has_scores = True
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                preds.add_row(json.loads(line))
        return preds
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            note_id, _, code = line.partition("\t")
            system = guess_system(code.strip())
            codes = preds.ranked[system].setdefault(note_id, [])
            code = normalize_code(code, system)
            if code not in codes:
                codes.append(code)
    return preds


def read_gold(path: str | Path, split: str | None = None) -> dict[str, dict[str, list[str]]]:
    """Gold codes ``{system: {note id: codes}}`` from a CodiEsp TSV, a JSONL/CSV, or a CodiEsp folder."""
    path = Path(path)
    gold: dict[str, dict[str, list[str]]] = {s: {} for s in SYSTEMS}
    if path.is_file() and path.suffix not in (".jsonl", ".csv"):
        for note_id, by_system in read_gold_tsv(path).items():
            for s, codes in by_system.items():
                gold[s][note_id] = codes
        return gold
    notes, _ = load_notes(path, split)
    return gold_of(notes)


def gold_of(notes: list[Note]) -> dict[str, dict[str, list[str]]]:
    """The gold codes of notes, ``{system: {note id: codes}}``."""
    return {s: {n.id: n.gold(s) for n in notes} for s in SYSTEMS}


def model_predictions(model, notes: list[Note], top_k: int = DEFAULT_TOP_K,
                      progress: Callable[..., None] | None = None, batch_size: int = 64) -> Predictions:
    """A model's suggestions for notes, exactly as ``medcode predict --top-k`` writes them.

    Excluded codes (negated, family history) are not suggestions, so they count as not predicted.
    ``progress`` is called with ``(notes done, None, notes in all)`` after each batch.
    """
    preds = Predictions(has_scores=True)
    for start in range(0, len(notes), batch_size):
        for row in model.predict(notes[start:start + batch_size], top_k=top_k):
            preds.add_row(row)
        if progress:
            progress(min(start + batch_size, len(notes)), None, len(notes))
    return preds
