"""One note as medcode reads it: its id, text and gold codes, checked (codes parsed and normalised,
text refused when empty, too long or not text), or the error that names the note and the problem."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from medcode.about import MAX_NOTE_CHARS, SYSTEMS
from medcode.codesets.kb import guess_system, normalize_code
from medcode.textsafe import surrogate_at

#: Notes longer than this are refused unless the caller lowers the limit (it cannot be raised: it is
#: the longest text the spaCy pipeline takes).
DEFAULT_MAX_CHARS = MAX_NOTE_CHARS


#: What a code may look like once normalised: letters, digits and dots, at most 16.
_CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9.]{0,15}")


@dataclass
class Note:
    """A clinical note and, when known, its gold codes per code system (normalised, in order)."""

    id: str
    text: str = field(repr=False)  # PHI: never in a repr, so never in a log or a traceback
    codes: dict[str, list[str]] = field(default_factory=dict)

    def gold(self, system: str) -> list[str]:
        """Gold codes of one system (empty when the note has none or is not coded)."""
        return self.codes.get(system, [])


@dataclass
class NoteError:
    """A note that could not be read or scored, with the reason (never the note text)."""

    id: str
    reason: str

    def as_dict(self) -> dict:
        return {"id": self.id, "error": self.reason}


def _code(raw, system: str | None = None) -> tuple[str, str]:
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise ValueError("a code is not a string")
    text = str(raw)
    system = system or guess_system(text)
    code = normalize_code(text, system)
    if not _CODE_RE.fullmatch(code):
        raise ValueError("a code is not letters, digits and dots (at most 16)")
    return system, code


def parse_codes(value) -> dict[str, list[str]]:
    """Turn the ``codes`` field of a JSONL/CSV row into ``{system: [normalised codes]}``.

    Raises:
        ValueError: for anything but a list, an object by system or a string of codes; the message
            never repeats the value (it may be note text in a misread row).
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        value = [c for c in re.split(r"[;,\s]+", value) if c]
    by_system: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for system, codes in value.items():
            if system not in SYSTEMS:
                raise ValueError(f"unknown code system (use {' or '.join(SYSTEMS)})")
            if isinstance(codes, str):
                codes = [c for c in re.split(r"[;,\s]+", codes) if c]
            if not isinstance(codes, list):
                raise ValueError(f"the {system} codes must be a list")
            for code in codes:
                add_code(by_system, *_code(code, system))
        return by_system
    if not isinstance(value, list):
        raise ValueError("'codes' must be a list, an object by system, or a string")
    for code in value:
        add_code(by_system, *_code(code))
    return by_system


def add_code(by_system: dict[str, list[str]], system: str, code: str) -> None:
    codes = by_system.setdefault(system, [])
    if code not in codes:
        codes.append(code)


def check_text(note_id: str, text, max_chars: int = DEFAULT_MAX_CHARS) -> NoteError | None:
    """Return a :class:`NoteError` when a note's text cannot be scored, else ``None``."""
    if not isinstance(text, str):
        return NoteError(note_id, "text is missing or not a string")
    if not text.strip():
        return NoteError(note_id, "note is empty")
    if len(text) > max_chars:
        return NoteError(note_id, f"note has {len(text):,} characters, over the limit of {max_chars:,}")
    position = surrogate_at(text)
    if position is not None:
        return NoteError(note_id, f"text is not valid Unicode (a lone surrogate at character {position + 1:,})")
    return None


def make_note(note_id: str, text, codes, max_chars: int = DEFAULT_MAX_CHARS, need_text: bool = True) -> Note | NoteError:
    """A :class:`Note`, or the :class:`NoteError` saying why the row cannot be one.

    With ``need_text=False`` (gold codes) a row without text is kept, with an empty text.
    """
    if need_text or text not in (None, ""):
        error = check_text(note_id, text, max_chars)
        if error:
            return error
    try:
        return Note(note_id, text or "", parse_codes(codes))
    except ValueError as exc:
        return NoteError(note_id, f"bad codes: {exc}")
