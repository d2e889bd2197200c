"""Predictions and gold codes as the audit reads them, from files or from a model.

* :func:`read_predictions`: medcode JSONL (``.jsonl``) or a CodiEsp-style TSV (``id<TAB>code`` in rank order);
* :func:`read_gold`: a CodiEsp TSV, a JSONL/CSV with ``codes``, or a CodiEsp folder;
* :func:`model_predictions`: what ``medcode predict --top-k`` would write for some notes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medcode.about import DEFAULT_TOP_K, SYSTEMS
from medcode.batch.files import read_capped
from medcode.codesets.kb import guess_system, normalize_code
from medcode.corpus import read_gold_tsv, read_notes
from medcode.errors import InputError
from medcode.notes import Note, NoteError
from medcode.textsafe import check_id, shown


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


#: Largest predictions or gold file read whole (a 10,000-note medcode output is about 300 MB).
MAX_FILE_BYTES = 2 << 30


def _lines(path: Path) -> list[tuple[int, str]]:
    """Numbered non-blank lines of a text file (a regular file, at most :data:`MAX_FILE_BYTES`).

    Raises:
        InputError: for a file that cannot be read or a line that is not UTF-8, naming the line.
    """
    data = read_capped(path, MAX_FILE_BYTES, "file").removeprefix(b"\xef\xbb\xbf")
    out = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip():
            try:
                out.append((number, raw.decode("utf-8").rstrip("\r")))
            except UnicodeDecodeError:
                raise InputError(f"{shown(path)}: line {number} is not UTF-8") from None
    return out


def _checked_row(row, where: str) -> dict:
    """A medcode output line, refused (naming the line) unless every field the audit reads is well formed."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: not a JSON object")
    note_id, problem = check_id(row.get("id"))
    if problem:
        raise InputError(f"{where}: {'no id' if 'id' not in row else problem}")
    suggestions = row.get("suggestions", [])
    if not isinstance(suggestions, list):
        raise InputError(f"{where}: suggestions is not a list")
    for rank, sug in enumerate(suggestions, start=1):
        at = f"{where}: suggestion {rank}"
        if not isinstance(sug, dict):
            raise InputError(f"{at}: not a JSON object")
        if sug.get("system") not in SYSTEMS:
            raise InputError(f"{at}: system must be {' or '.join(SYSTEMS)}")
        if not isinstance(sug.get("code"), str) or not sug["code"].strip() or len(sug["code"]) > 16:
            raise InputError(f"{at}: code is missing or not a code")
        score = sug.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise InputError(f"{at}: score must be a finite number")
        evidence = sug.get("evidence", [])
        if not isinstance(evidence, list) or not all(isinstance(e, dict) and isinstance(e.get("text"), str)
                                                     for e in evidence):
            raise InputError(f"{at}: evidence must be a list of objects with a text")
    return {**row, "id": note_id, "suggestions": suggestions}


def _tsv_pair(line: str, where: str) -> tuple[str, str]:
    note_id, tab, code = line.partition("\t")
    if not tab or "\t" in code or not note_id.strip() or not code.strip():
        raise InputError(f"{where}: not id<TAB>code (columns must be separated by one tab)")
    return note_id, code.strip()


def read_predictions(path: str | Path) -> Predictions:
    """Read medcode JSONL (``.jsonl``) or a CodiEsp-style TSV (anything else) of predictions.

    Raises:
        InputError: for a line that is not a well-formed prediction (named by file and line), a note
            given twice, or a file where no line is.
    """
    path = Path(path)
    preds = Predictions()
    seen: dict[str, int] = {}
    if path.suffix == ".jsonl":
        preds.has_scores = True
        for number, line in _lines(path):
            where = f"{shown(path)}: line {number}"
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                raise InputError(f"{where}: not valid JSON") from None
            row = _checked_row(row, where)
            if row["id"] in seen:
                raise InputError(f"{where}: note {shown(row['id'])} is also on line {seen[row['id']]}")
            seen[row["id"]] = number
            preds.add_row(row)
        return preds
    for number, line in _lines(path):
        note_id, code = _tsv_pair(line, f"{shown(path)}: line {number}")
        system = guess_system(code)
        codes = preds.ranked[system].setdefault(note_id, [])
        code = normalize_code(code, system)
        if code not in codes:
            codes.append(code)
    return preds


def read_gold(path: str | Path, split: str | None = None) -> dict[str, dict[str, list[str]]]:
    """Gold codes ``{system: {note id: codes}}`` from a CodiEsp TSV, a JSONL/CSV, or a CodiEsp folder.

    A JSONL/CSV row needs an id and its codes, not a text (a note without text still has gold codes).

    Raises:
        InputError: for a row or line that cannot be read as gold codes (named by file and line).
    """
    path = Path(path)
    gold: dict[str, dict[str, list[str]]] = {s: {} for s in SYSTEMS}
    if path.is_file() and path.suffix not in (".jsonl", ".csv"):
        for note_id, by_system in read_gold_tsv(path).items():
            for s, codes in by_system.items():
                gold[s][note_id] = codes
        return gold
    notes = []
    for item in read_notes(path, split, need_text=False):
        if isinstance(item, NoteError) and not path.is_dir():
            raise InputError(f"{shown(path)}: {item.id}: {item.reason}")
        if isinstance(item, Note):
            notes.append(item)
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
