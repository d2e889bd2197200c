"""Read notes (and, where present, their gold codes) from the formats medcode accepts.

Formats:
    * a CodiEsp folder: ``<split>/text_files_en/*.txt`` with ``<split>D.tsv`` / ``<split>P.tsv``;
      pass the corpus root with a split (``train``, ``dev``, ``train+dev``) or the split folder;
    * JSONL: one ``{"id", "text", "codes"?}`` object per line;
    * CSV: columns ``id,text[,codes]`` (codes separated by ``;`` or spaces);
    * a folder of ``.txt`` files (id = file stem).

``codes`` may be a list (ICD-10-CM codes carry their dot; a code without one is taken as ICD-10-PCS
unless it is a three-character category such as ``R52``) or an object ``{"ICD-10-CM": [...],
"ICD-10-PCS": [...]}``.

Every reader yields :class:`Note` or :class:`NoteError` items in input order, so one bad note never stops
a batch: the caller scores the notes and reports the errors. A bad row is reported by its id, or by
``<file>:line N`` when the row is too broken for its id to be trusted (a misread CSV row's first field
may be note text), and a reason; neither ever carries note text. Reads are bounded: a line, a file or a
CSV field longer than the longest note medcode scores is reported, not read whole, and only regular
files are read (a FIFO or a device is reported, never opened for reading).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from medcode.about import CM, MAX_NOTE_CHARS, PCS, SYSTEMS
from medcode.batch.files import NotRegularFile, open_regular, read_capped
from medcode.codesets.kb import guess_system, normalize_code
from medcode.errors import CorpusError, InputError
from medcode.textsafe import check_id, shown, surrogate_at

#: Notes longer than this are refused unless the caller lowers the limit (it cannot be raised: it is
#: the longest text the spaCy pipeline takes).
DEFAULT_MAX_CHARS = MAX_NOTE_CHARS
#: Longest JSONL or CSV line read, in bytes: a note at the limit, every character JSON-escaped (an
#: astral character is 12 bytes as ``\\ud83d\\ude00``), plus room for the id and codes.
MAX_LINE_BYTES = 12 * MAX_NOTE_CHARS + (1 << 16)
#: Longest CSV field, in characters: a note over the limit is still read, to be reported by its id.
CSV_FIELD_CHARS = 2 * MAX_NOTE_CHARS + 1024
#: Largest gold TSV read (a CodiEsp split's is a few hundred kilobytes).
MAX_GOLD_BYTES = 256 << 20
_BOM = b"\xef\xbb\xbf"
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
                _add(by_system, *_code(code, system))
        return by_system
    if not isinstance(value, list):
        raise ValueError("'codes' must be a list, an object by system, or a string")
    for code in value:
        _add(by_system, *_code(code))
    return by_system


def _add(by_system: dict[str, list[str]], system: str, code: str) -> None:
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
            raw = raw.removeprefix(_BOM) if isinstance(raw, bytes) else raw.removeprefix("\ufeff")
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
            raw = raw.removeprefix(_BOM)
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
    handle = _open_input(path)
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


def _open_input(path: Path):
    try:
        handle, _ = open_regular(path)
    except FileNotFoundError:
        raise CorpusError(f"{shown(path)}: no such file or folder") from None
    except NotRegularFile as exc:
        raise CorpusError(f"{shown(path)}: {exc}; use - to read JSONL from standard input") from None
    except OSError as exc:
        raise CorpusError(f"{shown(path)}: cannot read it ({exc.strerror or exc})") from None
    return handle


def _gold_lines(path: Path) -> Iterator[tuple[str, str]]:
    """``(note id, code)`` of a CodiEsp-style gold TSV (``id<TAB>code``), refusing a malformed line."""
    try:
        data = read_capped(path, MAX_GOLD_BYTES, "gold TSV")
    except InputError as exc:
        raise CorpusError(str(exc)) from None
    for number, raw in enumerate(data.removeprefix(_BOM).split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            raise CorpusError(f"{shown(path)}: line {number} is not UTF-8") from None
        note_id, tab, code = line.partition("\t")
        if not tab or "\t" in code or not code.strip() or not note_id.strip():
            raise CorpusError(f"{shown(path)}: line {number} is not id<TAB>code")
        yield note_id, code.strip()


def _read_gold_tsv(path: Path, system: str) -> dict[str, list[str]]:
    gold: dict[str, list[str]] = {}
    if not path.exists():
        return gold
    for note_id, code in _gold_lines(path):
        code = normalize_code(code, system)
        if code not in gold.setdefault(note_id, []):
            gold[note_id].append(code)
    return gold


def read_gold_tsv(path: Path) -> dict[str, dict[str, list[str]]]:
    """Read a CodiEsp gold TSV (``id<TAB>code``), guessing the system per code.

    Raises:
        CorpusError: when the file cannot be read or a line is not ``id<TAB>code`` (named by number).
    """
    gold: dict[str, dict[str, list[str]]] = {}
    for note_id, code in _gold_lines(path):
        _add(gold.setdefault(note_id, {}), guess_system(code), normalize_code(code, guess_system(code)))
    return gold


def _codiesp_split_dir(root: Path, split: str) -> Path:
    for candidate in (root / split, root):
        if (candidate / "text_files_en").is_dir() and candidate.name == split:
            return candidate
    raise CorpusError(f"{shown(root)}: no CodiEsp split {shown(split)!r} (expected {shown(root / split / 'text_files_en')})")


def _codiesp_parts(root: Path, split: str) -> list[tuple[str, Path]]:
    return [(part, _codiesp_split_dir(root, part)) for part in split.split("+")]


def read_codiesp(root: Path, split: str, max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Note | NoteError]:
    """Read one or more CodiEsp splits (``"train+dev"`` joins them), with their gold codes."""
    for part, folder in _codiesp_parts(root, split):
        gold = {CM: _read_gold_tsv(folder / f"{part}D.tsv", CM),
                PCS: _read_gold_tsv(folder / f"{part}P.tsv", PCS)}
        for path in sorted((folder / "text_files_en").glob("*.txt")):
            item = read_text_file(path, max_chars)
            if isinstance(item, Note):
                item.codes = {s: gold[s][item.id] for s in SYSTEMS if item.id in gold[s]}
            yield item


def is_codiesp(path: Path) -> bool:
    """Whether a folder looks like a CodiEsp corpus root or split folder."""
    return path.is_dir() and ((path / "text_files_en").is_dir()
                              or any((p / "text_files_en").is_dir() for p in path.iterdir() if p.is_dir()))


def _codiesp_root(path: Path, split: str | None) -> tuple[Path, str]:
    return (path.parent, path.name) if split is None else (path, split)


def read_notes(path: str | Path, split: str | None = None, max_chars: int = DEFAULT_MAX_CHARS,
               need_text: bool = True) -> Iterator[Note | NoteError]:
    """Read notes from any supported input (see the module docstring).

    Args:
        path: a CodiEsp folder, a ``.jsonl`` or ``.csv`` file, or a folder of ``.txt`` files.
        split: the CodiEsp split(s) to read; defaults to the folder itself when it is a split.
        max_chars: longer notes are reported as errors.
        need_text: JSONL/CSV rows without text are errors (``False``: kept with empty text, for gold codes).

    Yields:
        :class:`Note` and :class:`NoteError` items in input order.

    Raises:
        CorpusError: when the input as a whole cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{shown(path)}: no such file or folder")
    if path.is_dir():
        if is_codiesp(path):
            yield from read_codiesp(*_codiesp_root(path, split), max_chars)
        else:
            files = sorted(path.glob("*.txt"))
            if not files:
                raise CorpusError(f"{shown(path)}: no .txt notes and no CodiEsp split in this folder")
            for file in files:
                yield read_text_file(file, max_chars)
    elif path.suffix == ".jsonl":
        with _open_input(path) as lines:
            yield from read_jsonl(lines, path.name, max_chars, need_text)
    elif path.suffix == ".csv":
        yield from read_csv(path, max_chars, need_text)
    else:
        raise CorpusError(f"{shown(path)}: unknown input format (use a folder, .jsonl or .csv)")


def input_files(path: str | Path, split: str | None = None) -> list[Path]:
    """The files :func:`read_notes` reads for an input (notes and gold codes), for checks and hashes.

    Raises:
        CorpusError: when the input does not exist or is of an unknown format.
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{shown(path)}: no such file or folder")
    if not path.is_dir():
        if path.suffix not in (".jsonl", ".csv"):
            raise CorpusError(f"{shown(path)}: unknown input format (use a folder, .jsonl or .csv)")
        return [path]
    if not is_codiesp(path):
        return sorted(path.glob("*.txt"))
    files = []
    for part, folder in _codiesp_parts(*_codiesp_root(path, split)):
        files += [folder / f"{part}{kind}.tsv" for kind in "DP" if (folder / f"{part}{kind}.tsv").exists()]
        files += sorted((folder / "text_files_en").glob("*.txt"))
    return files


def files_sha256(files: Iterable[Path]) -> str:
    """SHA-256 over the names and bytes of files (a special file counts by its name and kind only)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(json.dumps(os.path.basename(path)).encode("utf-8"))
        try:
            handle, size = open_regular(path)
        except OSError as exc:
            digest.update(f"unreadable:{type(exc).__name__}".encode())
            continue
        with handle:
            digest.update(str(size).encode())
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def count_notes(path: str | Path, split: str | None = None) -> int | None:
    """How many notes (good or bad) :func:`read_notes` will yield, counted cheaply; ``None`` if unknown.

    For progress bars: lines of a JSONL file, rows of a CSV, ``.txt`` files of a folder.
    """
    path = Path(path)
    try:
        if path.is_dir():
            if is_codiesp(path):
                return sum(1 for p in input_files(path, split) if p.suffix == ".txt")
            return len(list(path.glob("*.txt")))
        if path.suffix in (".jsonl", ".csv"):
            handle, _ = open_regular(path)
            with handle:
                lines = sum(1 for _, line in bounded_lines(handle) if line is None or line.strip())
            return max(lines - (path.suffix == ".csv"), 0)
    except (OSError, CorpusError):
        return None
    return None


def load_notes(path: str | Path, split: str | None = None) -> tuple[list[Note], list[NoteError]]:
    """Read all notes of an input into memory, separating the errors."""
    notes, errors = [], []
    for item in read_notes(path, split):
        (notes if isinstance(item, Note) else errors).append(item)
    return notes, errors


def corpus_hash(notes: Iterable[Note]) -> str:
    """SHA-256 over ids, texts and gold codes: names the exact training data in a model card."""
    digest = hashlib.sha256()
    for note in notes:
        digest.update(json.dumps([note.id, note.text, note.codes], sort_keys=True).encode("utf-8"))
    return digest.hexdigest()
