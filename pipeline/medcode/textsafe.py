"""What medcode shows of strings that come from users' files: ids, file names, values in messages.

Note ids and file names are written to logs, terminals and TSV files. A newline, a tab or an ANSI
escape in one would forge a log line, a TSV row or a terminal screen, so every such string is shown
through :func:`shown` (non-printable characters escaped, length capped), and a note id must pass
:func:`check_id` before a note is scored.
"""

from __future__ import annotations

#: Longest note id accepted (an id is a key, not a text: a longer one is most likely a misread row).
MAX_ID_CHARS = 200

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(value, limit: int = 120) -> str:
    """A user-supplied string as it may appear in a log, a message or a TSV cell.

    Non-printable characters (controls, tabs, newlines, ANSI escapes, lone surrogates, bidi and other
    format characters) are written as backslash escapes, backslashes doubled, and the result is cut
    at ``limit`` characters with an ellipsis.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit]
        cut = True
    else:
        cut = False
    if text.isprintable() and "\\" not in text:
        out = text
    else:
        out = "".join(_escape(ch) for ch in text)
    return out + ("…" if cut else "")


def surrogate_at(text: str) -> int | None:
    """Position of the first lone surrogate in ``text`` (text that cannot be written as UTF-8), or ``None``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def check_id(value) -> tuple[str | None, str | None]:
    """A note id as medcode accepts it: ``(id, None)``, or ``(None, reason)`` when it cannot be one.

    An id is a string or a whole number (not a boolean, a float, null or a container), not empty,
    at most :data:`MAX_ID_CHARS` characters, printable (no control, tab, newline, escape or format
    character) and valid Unicode. The reason never repeats the value: a misread row's "id" may be
    note text.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None, "id must be a string or a whole number"
    text = str(value)
    if not text.strip():
        return None, "id is empty"
    if len(text) > MAX_ID_CHARS:
        return None, f"id has {len(text):,} characters, over the limit of {MAX_ID_CHARS}"
    if not text.isprintable():
        position = next(i for i, ch in enumerate(text) if not ch.isprintable())
        return None, f"id has a character that is not printable (U+{ord(text[position]):04X} at {position + 1})"
    return text, None
