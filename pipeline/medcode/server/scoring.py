"""The model the server loaded once, and the code sets: scoring that names the note it fails on.

One model serves every request. Scoring takes a lock: the model already uses both cores of a small
machine for its matrix products and trees, and requests queued behind one another finish sooner than
requests sharing the cores. A note that cannot be scored raises :class:`ScoringError` with its id and a
reason that never quotes the text.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import OrderedDict

from medcode.errors import MedcodeError
from medcode.notes import Note, check_text

logger = logging.getLogger(__name__)


class ScoringError(MedcodeError):
    """A note the model cannot score (the API answers 422 naming it)."""

    def __init__(self, note_id: str, reason: str):
        super().__init__(f"note {note_id!r} cannot be scored: {reason}")
        self.note_id = note_id
        self.reason = reason


class Scorer:
    """The loaded model behind a lock, with a small cache of the review page's records.

    Args:
        coder: the :class:`medcode.Medcoder`.
        max_chars: the longest note accepted.
        cache_size: how many notes' records the review page keeps (a coder going back and forth).
    """

    def __init__(self, coder, max_chars: int, cache_size: int = 256):
        self.coder = coder
        self.max_chars = max_chars
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str, int], dict] = OrderedDict()
        self._cache_size = cache_size
        self.model_id = coder.model_id

    def check(self, notes: list[Note]) -> None:
        """Refuse a note that is empty, not a string or too long, before any is scored."""
        for note in notes:
            error = check_text(note.id, note.text, self.max_chars)
            if error:
                raise ScoringError(note.id, error.reason)

    def score(self, notes: list[Note], top_k: int) -> list[dict]:
        """The records ``medcode suggest --json`` prints, one per note, in order.

        Raises:
            ScoringError: naming the first note that cannot be scored (then no record is returned).
        """
        self.check(notes)
        try:
            with self._lock:
                return self.coder.predict(notes, top_k=top_k)
        except Exception as exc:
            if len(notes) == 1:
                raise self._failure(notes[0], exc) from None
        # The batch failed: score the notes one by one to name the one at fault.
        records = []
        for note in notes:
            try:
                with self._lock:
                    records += self.coder.predict([note], top_k=top_k)
            except Exception as exc:
                raise self._failure(note, exc) from None
        return records

    def _failure(self, note: Note, exc: Exception) -> ScoringError:
        # medcode's own errors name notes and files, never text; any other message might quote the note.
        reason = str(exc) if isinstance(exc, MedcodeError) else f"{type(exc).__name__} in the model"
        logger.error("note %s could not be scored: %s\n%s", note.id, type(exc).__name__,
                     "".join(traceback.format_tb(exc.__traceback__)).rstrip())
        return ScoringError(note.id, reason)

    def cached(self, note_id: str, text_hash: str, text: str, top_k: int) -> dict:
        """The record of a worklist note, from the cache when it was scored already."""
        key = (note_id, text_hash, top_k)
        with self._lock:
            record = self._cache.get(key)
            if record is not None:
                self._cache.move_to_end(key)
                return record
        record = self.score([Note(note_id, text)], top_k)[0]
        with self._lock:
            self._cache[key] = record
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return record


class CodeSets:
    """The code sets for look-ups and validation (the release served), loaded once, in the background at start.

    Loading takes seconds; the first request that needs them waits for it.

    Args:
        kb: a ready knowledge base (tests pass a tiny one); ``None`` loads the full one.
    """

    def __init__(self, kb=None):
        self._kb = kb
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._kb is not None

    def get(self):
        """The knowledge base (loading it on first use, and the search index with it)."""
        if self._kb is None:
            with self._lock:
                if self._kb is None:
                    from medcode.codesets.kb import KnowledgeBase
                    from medcode.codesets.lookup import search_codes
                    from medcode.codesets.releases import resolve_releases

                    kb = KnowledgeBase.for_releases(resolve_releases())  # `serve --release`, else the default
                    search_codes("warm up", kb, limit=1)  # builds the word index once, not on a coder's first search
                    self._kb = kb
        return self._kb

    def _warm(self) -> None:
        from medcode.codesets.lookup import validate_codes

        kb = self.get()
        # Validation also reads ICD-10-CM's notes (code first, use additional code): parse them now too.
        validate_codes([next(iter(kb.code_to_entry))[1]], kb)

    def warm_up(self) -> threading.Thread:
        """Start loading in a background thread (returns it)."""
        thread = threading.Thread(target=self._warm, name="medcode-codesets", daemon=True)
        thread.start()
        return thread
