"""The ``Medcoder`` front: load a model, suggest codes for notes, train, save.

Usage::

    import medcode
    coder = medcode.load()                                   # the default model
    coder.suggest("Fracture of the right femoral neck.")    # one record
    coder.suggest_many(frame, text_col="note", id_col="id")  # a DataFrame, one row per suggestion
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from medcode.about import DEFAULT_TOP_K, NLP_DIR
from medcode.errors import InputError, ModelError
from medcode.mentions import doc_mentions
from medcode.nlp import SUGGESTER, load_nlp
from medcode.nlp.suggester import DEFAULT_SUGGESTIONS, bind_engine
from medcode.notes import Note, check_text
from medcode.suggestions import Suggester, cyclic_gc_paused
from medcode.textsafe import shown

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

#: Notes :meth:`Medcoder.rank` runs through the pipeline and the ranker at a time (``medcode predict``'s batch).
RANK_CHUNK = 256


class Medcoder:
    """A trained model: the spaCy pipeline and the learned stages after it.

    Args:
        nlp: the spaCy pipeline (its ``medcode_suggester`` is added and bound to ``suggester``).
        suggester: candidates, features, rankers, code table, queries and Excludes1 notes.
    """

    def __init__(self, nlp, suggester: Suggester):
        self.nlp = nlp
        self.suggester = suggester
        if SUGGESTER not in nlp.pipe_names:
            nlp.add_pipe(SUGGESTER)
        nlp.get_pipe(SUGGESTER).bind(suggester)
        bind_engine(nlp, suggester)

    @property
    def meta(self) -> dict:
        """The model folder's metadata (training data, metrics, release mapping, manifest)."""
        return self.suggester.meta

    @property
    def model_id(self) -> str:
        """SHA-256 of the model folder's manifest (see :func:`medcode.manifest.model_id`)."""
        from medcode.manifest import model_id

        return model_id(self.meta)

    @property
    def config(self):
        return self.suggester.config

    @property
    def release(self) -> dict[str, str]:
        """``{system: title}`` of the code-set release the model codes against (what records carry)."""
        from medcode.about import RELEASE

        hook = self.suggester.release_hook
        return hook.release if hook is not None else RELEASE

    # ------------------------------------------------------------------ storage and training
    @classmethod
    def load(cls, path: str | Path, expect: str | None = None, release: str | None = None,
             date_of_service=None) -> Medcoder:
        """Load a model folder after checking every file against its manifest, for a code-set release.

        Args:
            path: the model folder.
            expect: the only model id accepted (default: ``$MEDCODE_EXPECT_MODEL``, when set).
            release: the code-set release (default: ``$MEDCODE_RELEASE``, else the newest release in force
                on the date of service; see :func:`medcode.codesets.releases.resolve_releases`).
            date_of_service: ``YYYY-MM-DD`` (default: ``$MEDCODE_DATE_OF_SERVICE``, else today).

        Raises:
            ModelError: when the folder is missing, a file is missing or altered, it is of another
                format, or its id is not the expected one.
            ReleaseError: for an unknown release, or none in force on the date of service.
        """
        from medcode.codesets.releases import resolve_releases
        from medcode.compiled import warn_if_stale
        from medcode.storage import load_suggester, read_meta

        warn_if_stale()  # an edited source whose compiled copy was not rebuilt would run the old code unannounced
        path = Path(path)
        releases = resolve_releases(release, date_of_service)  # first: a wrong name fails before the slow load
        meta = read_meta(path, expect)
        try:
            nlp = load_nlp(path / NLP_DIR)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # spaCy's own errors are ValueErrors
            raise ModelError(f"{shown(path / NLP_DIR)}: the spaCy pipeline cannot be loaded "
                             f"({type(exc).__name__})") from None
        coder = cls(nlp, load_suggester(path, meta))
        coder.use_release(releases)
        return coder

    def use_release(self, releases: dict | None = None) -> dict | None:
        """Use the model with a code-set release (see :mod:`medcode.codesets.mapping`).

        Args:
            releases: ``{system: Release}`` (:func:`medcode.codesets.releases.resolve_releases`); ``None``
                or the model's own release: the model's codes as they are.

        Returns:
            ``None`` when the release is the model's own, else the counts of how its codes map (by
            system and status; every code the model's code table holds is mapped once, up front).
        """
        from medcode.about import RELEASE
        from medcode.codesets.kb import KnowledgeBase
        from medcode.codesets.mapping import ReleaseHook, map_codes, model_lookup, systems_changed
        from medcode.codesets.releases import choice_record, conversion

        model_release = self.meta.get("releases") or RELEASE
        changed = systems_changed(model_release, choice_record(releases)) if releases else []
        if not changed:
            self.suggester.release_hook = None
            return None
        kb = KnowledgeBase.for_releases(releases)
        tables = {s: conversion(releases[s], s) for s in changed}
        hook = ReleaseHook(kb, model_lookup(self.suggester.codes), tables, changed, model_release)
        mapped = map_codes(self.suggester.codes, hook.old, kb, tables, changed)
        hook.mapped.update(mapped)
        self.suggester.release_hook = hook
        counts = {s: {} for s in changed}
        for (system, _), m in mapped.items():
            counts[system][m.status] = counts[system].get(m.status, 0) + 1
        logger.info("model release %s, used with %s: %s", model_release, kb.release, counts)
        return counts

    def save(self, path: str | Path, extra_meta: dict | None = None) -> Path:
        """Write the model folder (atomically; see :mod:`medcode.storage`)."""
        from medcode.storage import save_model

        return save_model(self, path, extra_meta)

    @classmethod
    def train(cls, notes: list[Note], config=None, progress=None, kb=None) -> Medcoder:
        """Train on coded notes (see :func:`medcode.training.train_model`)."""
        from medcode.training import train_model

        return train_model(notes, config, progress, kb)

    # ------------------------------------------------------------------ prediction
    def rank(self, texts: list[str], depth: int = 100, n_process: int = 1) -> list[dict[str, list[dict]]]:
        """Rank candidate codes for each text: ``{system: [suggestion, ...]}`` per text, best first.

        Up to ``depth`` codes per system, then up to as many codes set aside (negated, family).
        """
        if not texts:
            return []
        step = len(texts) if n_process > 1 else RANK_CHUNK  # worker processes start once per call
        ranked: list[dict[str, list[dict]]] = []
        for start in range(0, len(texts), step):
            part = texts[start:start + step]
            # The cyclic collector is paused for the pipeline too (the ranker paused it already): its
            # collections during the pipeline were 2.5-3.3 ms of a CodiEsp dev note (one full collection of
            # the model's ~420,000 objects per 250 notes, 1.4-2.2 ms a note). A chunk's cyclic garbage (docs
            # and their spans) is collected after the chunk, so memory stays bounded by the chunk.
            with cyclic_gc_paused():
                docs = self.nlp.pipe(part, batch_size=64, n_process=n_process, disable=[SUGGESTER])
                ranked += self.suggester.rank(part, [doc_mentions(d, t) for d, t in zip(docs, part)], depth)
        return ranked

    def predict(self, notes: Iterable[Note | str | dict], top_k: int = DEFAULT_TOP_K, n_process: int = 1) -> list[dict]:
        """Suggestions for notes, in the output format of ``medcode predict`` (one dict per note).

        Args:
            notes: :class:`Note` objects, ``{"id", "text"}`` dicts, or plain strings (ids ``"1"``, ``"2"``, ...).
            top_k: suggestions per code system; the list is merged and ordered by score.
            n_process: processes for the spaCy pipeline.

        Raises:
            InputError: when a note is not a string, a dict with ``id`` and ``text``, or a Note, or its
                text cannot be scored (empty, too long, not valid Unicode).
        """
        notes = [_as_note(item, i) for i, item in enumerate(notes, start=1)]
        for note in notes:
            # A text spaCy cannot take (a lone surrogate, too long) would fail the whole batch: name it.
            error = check_text(note.id, note.text)
            if error:
                raise InputError(f"{shown(error.id)}: {error.reason}")
        ranked = self.rank([n.text for n in notes], depth=top_k, n_process=n_process)
        model = self.model_id
        return [{**self.suggester.record(note.id, by_system), "model": model} for note, by_system in zip(notes, ranked)]

    def suggest(self, text: str, top_k: int = DEFAULT_SUGGESTIONS, note_id: str = "note") -> dict:
        """Suggestions for one note: ``{"id", "suggestions", "excluded", "conflicts", "release"}``.

        Raises:
            InputError: when the text cannot be scored (not a string, empty, too long), naming the note.
        """
        error = check_text(note_id, text)
        if error:
            raise InputError(f"{shown(error.id)}: {error.reason}")
        return self.predict([Note(note_id, text)], top_k=top_k)[0]

    def suggest_many(self, notes: Iterable[str] | pd.DataFrame, text_col: str = "text", id_col: str | None = None,
                     top_k: int = DEFAULT_SUGGESTIONS, as_frame: bool | None = None):
        """Suggestions for many notes: records, or a pandas DataFrame with one row per suggestion.

        Args:
            notes: note texts, or a DataFrame with a text column (and optionally an id column).
            text_col: the DataFrame's text column.
            id_col: the DataFrame's id column (default: its index).
            top_k: suggestions per code system.
            as_frame: return a DataFrame (default: when ``notes`` is one).

        Returns:
            A list of records (as :meth:`suggest`), or a DataFrame with columns ``id, rank, code,
            system, score, description, billable, evidence, source, query, warning``.

        Raises:
            InputError: for a missing column or a note that cannot be scored (named by its id).
        """
        frame_in = _is_frame(notes)
        if frame_in:
            if text_col not in notes.columns or (id_col and id_col not in notes.columns):
                missing = text_col if text_col not in notes.columns else id_col
                raise InputError(f"DataFrame has no column {missing!r} (columns: {', '.join(map(str, notes.columns))})")
            ids = notes[id_col] if id_col else notes.index
            items = [Note(str(i), t) for i, t in zip(ids, notes[text_col])]
        else:
            items = [_as_note(item, i) for i, item in enumerate(notes, start=1)]
        for note in items:
            error = check_text(note.id, note.text)
            if error:
                raise InputError(f"{shown(error.id)}: {error.reason}")
        records = self.predict(items, top_k=top_k)
        return records_frame(records) if (as_frame if as_frame is not None else frame_in) else records


def _is_frame(value) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns")


def _as_note(item, number: int) -> Note:
    if isinstance(item, Note):
        return item
    if isinstance(item, str):
        return Note(str(number), item)
    if isinstance(item, dict) and "text" in item:
        return Note(str(item.get("id", number)), item["text"])
    raise InputError(f"note {number}: expected a string, a {{'id', 'text'}} dict or a Note, got {type(item).__name__}")


def records_frame(records: list[dict]) -> pd.DataFrame:
    """One row per suggestion: id, rank (within its system), code, system, score, description, ..."""
    import pandas as pd

    rows = []
    for record in records:
        rank: dict[str, int] = {}
        for sug in record["suggestions"]:
            rank[sug["system"]] = rank.get(sug["system"], 0) + 1
            rows.append({"id": record["id"], "rank": rank[sug["system"]], "code": sug["code"], "system": sug["system"],
                         "score": sug["score"], "description": sug["description"], "billable": sug["billable"],
                         "evidence": "; ".join(e["text"] for e in sug["evidence"]), "source": sug["source"],
                         "query": (sug.get("query") or {}).get("question"), "warning": sug.get("warning")})
    columns = ["id", "rank", "code", "system", "score", "description", "billable", "evidence", "source", "query", "warning"]
    return pd.DataFrame(rows, columns=columns)
