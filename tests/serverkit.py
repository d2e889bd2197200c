"""Shared pieces of the workbench tests: a worklist, code sets with a physician query, an app, a token."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CM_CODES, PCS_CODES

from medcode.about import CM, PCS
from medcode.codesets.excludes import Excludes1Index
from medcode.codesets.kb import CodeEntry, KnowledgeBase, cm_aliases, pcs_aliases

TOKEN = "test-token-0123456789abcdef"
#: A more specific code than J18.9, so the page can answer the physician query on it.
SPECIFIC = {"J18.0": "Bronchopneumonia, unspecified organism"}
QUERY = {"detail": "specificity", "question": "Which type of pneumonia does the note support?",
         "options": [{"code": "J18.0", "title": SPECIFIC["J18.0"]}]}
#: Worklist notes: the first has every kind of mention the page styles; ids are not all file-name safe.
NOTES = [
    {"id": "note-a", "text": "The patient presented a right lower lobe pneumonia.\nThe patient presented a kidney stone.\n"
                             "No chest pain.\nHis mother had breast cancer.\nHe was discharged home in good condition."},
    {"id": "note b/2", "text": "The patient presented laparoscopic appendectomy.\nThe patient presented fever of 39 C.\n"
                               "The patient presented hypertension."},
    {"id": "note-c", "text": "The patient presented type 2 diabetes mellitus.\nThe patient presented a chest X-ray.\n"
                             "He was discharged home in good condition."},
]


def server_kb() -> KnowledgeBase:
    """The tiny test code sets plus J18.0 (the answer of the query on J18.9)."""
    codes = {**CM_CODES, **SPECIFIC}
    # Parents outside this tiny set are fine; a code must not be its own parent (header look-ups walk down).
    entries = [CodeEntry(c, CM, t, cm_aliases(t, []), True, "x", c[:3] if len(c) > 3 else None) for c, t in codes.items()]
    entries += [CodeEntry(c, PCS, t, pcs_aliases(t), len(c) == 7, c[0], c[:4] if len(c) > 4 else None)
                for c, t in PCS_CODES.items()]
    return KnowledgeBase(entries, Excludes1Index({"J18": ["fever presented with pneumonia (R50.-)"]}, {}))


def load_coder(model_dir: Path):
    """A fresh model object (the session's is shared by other tests) with a physician query on J18.9."""
    from medcode.coder import Medcoder

    coder = Medcoder.load(model_dir)
    coder.suggester._queries = {**coder.suggester.queries, "J18.9": QUERY}
    return coder


def write_worklist(folder: Path, notes: list[dict] = NOTES) -> Path:
    path = folder / "worklist.jsonl"
    path.write_text("".join(json.dumps(n) + "\n" for n in notes), encoding="utf-8")
    return path


def make_app(coder, db_url: str, worklist: Path | None = None, **settings):
    """The workbench app with the test token and code sets; returns ``(app, store)``."""
    from medcode.decisions.store import DecisionStore
    from medcode.server.app import create_app
    from medcode.server.settings import ServerSettings
    from medcode.server.worklist import Worklist

    options = {"token": TOKEN, "coder": "tester", **settings}
    store = DecisionStore(db_url, keep_text=options.get("keep_text", False))
    notes = Worklist.from_path(worklist, 100_000) if worklist else Worklist()
    return create_app(coder, store, notes, ServerSettings(**options), kb=server_kb()), store


def bearer() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}
