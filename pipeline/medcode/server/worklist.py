"""The notes a server's coders work through: read at start from a folder, JSONL or CSV, or pasted in.

Notes live in memory only. Those of the worklist file come back when the server restarts (their
decisions are in the database, keyed by note id and text hash); pasted notes do not, unless the server
keeps text, in which case their decisions carry it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from medcode.corpus import read_notes
from medcode.decisions.store import note_hash
from medcode.errors import InputError
from medcode.notes import Note, NoteError, check_text

WORKLIST, PASTED = "worklist", "pasted"


@dataclass
class WorkNote:
    """One note of the worklist."""

    id: str
    text: str = field(repr=False)  # PHI: never in a repr, so never in a log
    hash: str = ""
    source: str = WORKLIST

    def __post_init__(self):
        self.hash = self.hash or note_hash(self.text)

    def as_note(self) -> Note:
        return Note(self.id, self.text)


class Worklist:
    """Notes in order, by id; thread-safe for the server's worker threads.

    Args:
        notes: the notes, in the order coders see them.
        errors: notes of the input that could not be read, with the reason (never the text).
        source: what the notes were read from (shown on the page).
    """

    def __init__(self, notes: list[WorkNote] | None = None, errors: list[NoteError] | None = None,
                 source: str | None = None):
        self._notes: dict[str, WorkNote] = {}
        self._lock = threading.Lock()
        self.errors = list(errors or [])
        self.source = source
        self._pasted = 0
        for note in notes or []:
            if note.id in self._notes:
                self.errors.append(NoteError(note.id, "duplicate id: the later note is left out"))
            else:
                self._notes[note.id] = note

    @classmethod
    def from_path(cls, path: str | Path, max_chars: int, split: str | None = None) -> Worklist:
        """Read a folder of ``.txt`` notes, a JSONL or CSV file, or a CodiEsp split folder.

        Raises:
            CorpusError: when the input as a whole cannot be read.
        """
        notes, errors = [], []
        for item in read_notes(path, split, max_chars=max_chars):
            if isinstance(item, NoteError):
                errors.append(item)
            else:
                notes.append(WorkNote(item.id, item.text))
        return cls(notes, errors, str(path))

    def __len__(self) -> int:
        return len(self._notes)

    def __iter__(self) -> Iterator[WorkNote]:
        with self._lock:
            return iter(list(self._notes.values()))

    def get(self, note_id: str) -> WorkNote | None:
        return self._notes.get(note_id)

    def add(self, text: str, note_id: str | None, max_chars: int) -> WorkNote:
        """Add a pasted note (an id is made up when none is given); the same id and text again is a no-op.

        Raises:
            InputError: for an empty or too long note, or an id already used by another text.
        """
        with self._lock:
            if not note_id:
                self._pasted += 1
                while f"pasted-{self._pasted}" in self._notes:
                    self._pasted += 1
                note_id = f"pasted-{self._pasted}"
            error = check_text(note_id, text, max_chars)
            if error:
                raise InputError(f"note {error.id!r}: {error.reason}")
            note = WorkNote(note_id, text, source=PASTED)
            known = self._notes.get(note_id)
            if known is not None:
                if known.hash != note.hash:
                    raise InputError(f"note {note_id!r}: the worklist already has another note with this id")
                return known
            self._notes[note_id] = note
            return note
