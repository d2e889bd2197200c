"""Note files: plain text, JSONL and CSV, streamed in bounded memory (a line, a file or a CSV field
longer than the longest note is reported, not read whole), each row a :class:`medcode.notes.Note` or a
:class:`medcode.notes.NoteError` that names it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from medcode.about import MAX_NOTE_CHARS
from medcode.batch.files import NotRegularFile, open_regular
from medcode.errors import CorpusError
from medcode.notes import DEFAULT_MAX_CHARS, Note, NoteError, make_note
from medcode.textsafe import check_id, shown, surrogate_at

#: Longest JSONL or CSV line read, in bytes: a note at the limit, every character JSON-escaped (an
#: astral character is 12 bytes as ``\\ud83d\\ude00``), plus room for the id and codes.
MAX_LINE_BYTES = 12 * MAX_NOTE_CHARS + (1 << 16)


#: Longest CSV field, in characters: a note over the limit is still read, to be reported by its id.
CSV_FIELD_CHARS = 2 * MAX_NOTE_CHARS + 1024


BOM = b"\xef\xbb\xbf"


def read_text_file(path: Path, max_chars: int = DEFAULT_MAX_CHARS) -> Note | NoteError:
    """Read one ``.txt`` note (id = file stem); only a regular file, and at most ``4 * max_chars`` bytes."""
    note_id, problem = check_id(path.stem)
    label = note_id or shown(path.name)
    if problem:
        return NoteError(label, f"file name: {problem}")
    limit = 4 * max_chars  # UTF-8 takes at most 4 bytes a character: a larger file is over the limit
    try:
        handle, size = open_regular(path)
    except NotRegularFile as exc:
        return NoteError(label, f"file {exc}; skipped")
    except OSError as exc:
        return NoteError(label, f"cannot read file: {exc.strerror or exc}")
    with handle:
        if size > limit:
            return NoteError(label, f"file has {size:,} bytes, more than {max_chars:,} characters (the limit)")
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        return NoteError(label, f"file has more than {limit:,} bytes, more than {max_chars:,} characters (the limit)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return NoteError(label, f"file is not UTF-8 (byte {exc.start})")
    return make_note(note_id, text, None, max_chars)


def bounded_lines(stream, limit: int = MAX_LINE_BYTES, first: int = 1) -> Iterator[tuple[int, bytes | str | None]]:
    """``(line number, line)`` of a binary stream, ``None`` for a line over ``limit`` bytes (skipped
    without being held in memory). A plain iterable of lines is passed through, numbered."""
    if not hasattr(stream, "readline"):
        yield from enumerate(stream, start=first)
        return
    number = first - 1
    while line := stream.readline(limit + 1):
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while (more := stream.readline(1 << 20)) and not more.endswith(b"\n"):
                pass
            yield number, None
        else:
            yield number, line


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "line is nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"line is not valid JSON ({exc.msg})"
    return "line is not valid JSON (a value cannot be read: a number with too many digits?)"


def jsonl_item(raw: bytes | str, label: str, max_chars: int = DEFAULT_MAX_CHARS,
               need_text: bool = True) -> Note | NoteError | None:
    """One JSONL line as a note, an error named by its id (or ``label`` when it has none), or ``None`` if blank."""
    try:
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        return NoteError(label, f"line is not UTF-8 (byte {exc.start + 1})")
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return NoteError(label, _json_problem(exc))
    if not isinstance(row, dict) or "id" not in row:
        return NoteError(label, "line is not an object with an 'id'")
    note_id, problem = check_id(row["id"])
    if problem:
        return NoteError(label, problem)
    return make_note(note_id, row.get("text"), row.get("codes"), max_chars, need_text)


def read_jsonl(lines, source: str = "input", max_chars: int = DEFAULT_MAX_CHARS,
               need_text: bool = True) -> Iterator[Note | NoteError]:
    """Read JSONL notes; a bad line becomes a :class:`NoteError` named by its id or line number.

    Args:
        lines: a binary stream (read a bounded line at a time) or an iterable of lines.
        source: the input's name, for line labels.
        max_chars: longer notes are reported as errors.
        need_text: a row without text is an error (else kept with empty text: gold codes).
    """
    source = shown(source, 80)
    for number, raw in bounded_lines(lines):
        label = f"{source}:line {number}"
        if raw is None:
            yield NoteError(label, f"line is over {MAX_LINE_BYTES:,} bytes; skipped")
            continue
        if number == 1:
            raw = raw.removeprefix(BOM) if isinstance(raw, bytes) else raw.removeprefix("\ufeff")
        item = jsonl_item(raw, label, max_chars, need_text)
        if item is not None:
            yield item


class _LineTooLong(Exception):
    """A CSV line over :data:`MAX_LINE_BYTES`: its record is reported and reading goes on."""


class _CsvFeed:
    """Decoded lines for :mod:`csv`, one at a time, remembering line numbers and lines that are not UTF-8.

    A line that is not UTF-8 is decoded with ``surrogateescape``, so the record it belongs to still
    parses (and the other rows keep their place); the row is then reported with its line number.
    """

    def __init__(self, stream, first: int = 1):
        self.stream = stream
        self.lines = bounded_lines(stream, first=first)
        self.number = first - 1
        self.not_utf8: dict[int, int] = {}  # line number -> first bad byte (1-based)
        self.record_start = first  # the first line of the record being read, and the offset after it
        self.after_start = 0

    def __iter__(self) -> _CsvFeed:
        return self

    def __next__(self) -> str:
        self.number, raw = next(self.lines)
        if self.number == self.record_start:
            self.after_start = self.stream.tell()
        if raw is None:
            raise _LineTooLong
        if self.number == 1:
            raw = raw.removeprefix(BOM)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.not_utf8[self.number] = exc.start + 1
            return raw.decode("utf-8", "surrogateescape")


def _csv_records(stream) -> Iterator[tuple[int, list[str] | None, str | None, tuple[int, int] | None]]:
    """``(first line, fields, problem, (bad line, byte) or None)`` per CSV record, reading on after a broken one.

    Quotes are parsed strictly (a stray quote is an error rather than a silent merge of rows). After
    an error the reader starts again on the next line; after a quote left open to the end of the
    file, on the line after the one where that record began, so the rows after it are not lost.
    """
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_CHARS))
    feed = _CsvFeed(stream)
    reader = csv.reader(feed, strict=True)
    while True:
        start = feed.record_start = feed.number + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except _LineTooLong:
            yield start, None, f"line {feed.number} is over {MAX_LINE_BYTES:,} bytes", None
            continue
        except csv.Error as exc:
            problem = str(exc).split(" (line")[0]  # the csv module's own words: no field content
            if problem == "unexpected end of data" and feed.number > start:
                yield start, None, "row cannot be read as CSV (a quote opened on this line is never closed)", None
                stream.seek(feed.after_start)
                feed = _CsvFeed(stream, start + 1)
                reader = csv.reader(feed, strict=True)
            else:
                yield start, None, f"row cannot be read as CSV ({problem})", None
            continue
        bad = min(((n, b) for n, b in feed.not_utf8.items() if n >= start), default=None)
        feed.not_utf8.clear()
        yield start, row, None, bad


def read_csv(path: Path, max_chars: int = DEFAULT_MAX_CHARS, need_text: bool = True) -> Iterator[Note | NoteError]:
    """Read CSV notes with a header ``id,text[,codes]``; a bad row is reported with its line number."""
    source = shown(path.name, 80)
    handle = open_input(path)
    with handle:
        records = _csv_records(handle)
        first = next(records, None)
        if first is None or first[1] is None or first[3] or not {"id", "text"} <= {h.strip() for h in first[1]}:
            raise CorpusError(f"{shown(path)}: a CSV needs a UTF-8 header line with 'id' and 'text' columns")
        header = [h.strip() for h in first[1]]
        for start, row, problem, bad in records:
            label = f"{source}:line {start}"
            if problem:
                yield NoteError(label, problem)
            elif row and any(cell.strip() for cell in row):
                yield _csv_note(dict(zip(header, row)), len(row), len(header), label, bad, max_chars, need_text)


def _csv_note(fields: dict, width: int, expected: int, label: str, bad: tuple[int, int] | None,
              max_chars: int, need_text: bool) -> Note | NoteError:
    # A row whose field count is off is misread (often a quote gone wrong): its first field may be
    # note text, so it is named by its line, never by that field.
    if width != expected:
        return NoteError(label, f"row has {width} field{'s' * (width != 1)}; the header has {expected}")
    raw_id = fields.get("id", "")
    note_id, problem = check_id(raw_id) if raw_id.strip() else (label, None)
    if problem or surrogate_at(raw_id) is not None:
        return NoteError(label, problem or "id is not UTF-8")
    if bad:
        return NoteError(note_id, f"line {bad[0]} is not UTF-8 (byte {bad[1]})")
    return make_note(note_id, fields.get("text"), fields.get("codes"), max_chars, need_text)


def open_input(path: Path):
    """A regular file opened for reading (binary), or a :class:`CorpusError` naming it."""
    try:
        handle, _ = open_regular(path)
    except FileNotFoundError:
        raise CorpusError(f"{shown(path)}: no such file or folder") from None
    except NotRegularFile as exc:
        raise CorpusError(f"{shown(path)}: {exc}; use - to read JSONL from standard input") from None
    except OSError as exc:
        raise CorpusError(f"{shown(path)}: cannot read it ({exc.strerror or exc})") from None
    return handle
