"""``medcode decisions export``: the feedback file ``medcode train --feedback`` reads, from the database.

One JSONL line per note: ``{"id", "accepted", "rejected", "added", "text"?}`` (see
:func:`medcode.training.apply_feedback`). When a note's text changed between decisions (same id, another
hash), only the decisions on its latest text are exported: the earlier ones were about other words.
``text`` is written only when the server kept it (``--keep-text``); training then adds notes it lacks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

from medcode.decisions.state import feedback_line, latest_by_code
from medcode.decisions.store import DecisionStore


def feedback_lines(store: DecisionStore, coder: str | None = None, model_id: str | None = None,
                   counts: dict | None = None) -> Iterator[dict]:
    """The feedback line of every note with decisions (by note id), streaming from the database.

    Args:
        store: the decisions database.
        coder: only this coder's decisions.
        model_id: only decisions on this model's suggestions.
        counts: updated with ``notes``, ``decisions`` and ``superseded`` (decisions on an older text).
    """
    counts = counts if counts is not None else {}
    for key in ("notes", "decisions", "superseded"):
        counts.setdefault(key, 0)
    for note_id, group in groupby(store.iter_decisions(coder=coder, model_id=model_id, by_note=True),
                                  key=lambda row: row["note_id"]):
        rows = list(group)
        latest_hash = rows[-1]["note_hash"]
        current = [r for r in rows if r["note_hash"] == latest_hash]
        counts["superseded"] += len(rows) - len(current)
        text = next((r["note_text"] for r in reversed(current) if r.get("note_text")), None)
        line = feedback_line(note_id, latest_by_code(current), text)
        if line["accepted"] or line["rejected"] or line["added"]:
            counts["notes"] += 1
            counts["decisions"] += len(current)
            yield line


def export_feedback(store: DecisionStore, output: str | Path, coder: str | None = None,
                    model_id: str | None = None) -> dict:
    """Write the feedback JSONL (atomically); returns ``{"output", "notes", "decisions", "superseded"}``."""
    from medcode.batch.files import atomic_writer

    counts: dict = {}
    with atomic_writer(Path(output)) as handle:
        for line in feedback_lines(store, coder, model_id, counts):
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    return {"output": str(output), **counts}
