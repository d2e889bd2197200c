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
a batch: the caller scores the notes and reports the errors.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from medcode.about import CM, PCS, SYSTEMS
from medcode.codesets.kb import guess_system, normalize_code
from medcode.errors import CorpusError

#: Notes longer than this are refused unless the caller raises the limit.
DEFAULT_MAX_CHARS = 1_000_000


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


def parse_codes(value) -> dict[str, list[str]]:
    """Turn the ``codes`` field of a JSONL/CSV row into ``{system: [normalised codes]}``."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        value = [c for c in re.split(r"[;,\s]+", value) if c]
    by_system: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for system, codes in value.items():
            if system not in SYSTEMS:
                raise ValueError(f"unknown code system {system!r} (use {' or '.join(SYSTEMS)})")
            for code in codes:
                _add(by_system, system, normalize_code(str(code), system))
        return by_system
    if not isinstance(value, list):
        raise ValueError("'codes' must be a list, an object by system, or a string")
    for code in value:
        system = guess_system(str(code))
        _add(by_system, system, normalize_code(str(code), system))
    return by_system


def _add(by_system: dict[str, list[str]], system: str, code: str) -> None:
    codes = by_system.setdefault(system, [])
    if code not in codes:
        codes.append(code)


def check_text(note_id: str, text, max_chars: int = DEFAULT_MAX_CHARS) -> Note | NoteError | None:
    """Return a :class:`NoteError` when a note's text cannot be scored, else ``None``."""
    if not isinstance(text, str):
        return NoteError(note_id, "text is missing or not a string")
    if not text.strip():
        return NoteError(note_id, "note is empty")
    if len(text) > max_chars:
        return NoteError(note_id, f"note has {len(text):,} characters, over the limit of {max_chars:,}")
    return None


def _make_note(note_id: str, text, codes, max_chars: int) -> Note | NoteError:
    error = check_text(note_id, text, max_chars)
    if error:
        return error
    try:
        return Note(note_id, text, parse_codes(codes))
    except ValueError as exc:
        return NoteError(note_id, f"bad codes: {exc}")


def read_text_file(path: Path, max_chars: int = DEFAULT_MAX_CHARS) -> Note | NoteError:
    """Read one ``.txt`` note (id = file stem)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return NoteError(path.stem, f"file is not UTF-8 (byte {exc.start})")
    except OSError as exc:
        return NoteError(path.stem, f"cannot read file: {exc.strerror}")
    return _make_note(path.stem, text, None, max_chars)


def read_jsonl(lines: Iterable[bytes | str], source: str = "input",
               max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Note | NoteError]:
    """Read JSONL notes; a bad line becomes a :class:`NoteError` named by its id or line number."""
    for number, raw in enumerate(lines, start=1):
        label = f"{source}:line {number}"
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            yield NoteError(label, "line is not UTF-8")
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield NoteError(label, f"line is not valid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict) or "id" not in row:
            yield NoteError(label, "line is not an object with an 'id'")
            continue
        yield _make_note(str(row["id"]), row.get("text"), row.get("codes"), max_chars)


def read_csv(path: Path, max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Note | NoteError]:
    """Read CSV notes with a header ``id,text[,codes]``."""
    with path.open("rb") as raw:
        stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
        try:
            reader = csv.DictReader(stream)
            if not reader.fieldnames or not {"id", "text"} <= set(reader.fieldnames):
                raise CorpusError(f"{path}: a CSV needs a header with 'id' and 'text' columns")
            for number, row in enumerate(reader, start=2):
                note_id = row.get("id") or f"{path.name}:line {number}"
                if None in row:
                    yield NoteError(note_id, "row has more fields than the header")
                    continue
                yield _make_note(note_id, row.get("text"), row.get("codes"), max_chars)
        except UnicodeDecodeError:
            raise CorpusError(f"{path}: file is not UTF-8") from None


def _read_gold_tsv(path: Path, system: str) -> dict[str, list[str]]:
    gold: dict[str, list[str]] = {}
    if not path.exists():
        return gold
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        note_id, _, code = line.partition("\t")
        code = normalize_code(code, system)
        if code not in gold.setdefault(note_id, []):
            gold[note_id].append(code)
    return gold


def read_gold_tsv(path: Path) -> dict[str, dict[str, list[str]]]:
    """Read a CodiEsp gold TSV (``id<TAB>code``), guessing the system per code."""
    gold: dict[str, dict[str, list[str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            note_id, _, code = line.partition("\t")
            _add(gold.setdefault(note_id, {}), guess_system(code), normalize_code(code, guess_system(code)))
    return gold


def _codiesp_split_dir(root: Path, split: str) -> Path:
    for candidate in (root / split, root):
        if (candidate / "text_files_en").is_dir() and candidate.name == split:
            return candidate
    raise CorpusError(f"{root}: no CodiEsp split {split!r} (expected {root / split / 'text_files_en'})")


def read_codiesp(root: Path, split: str, max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Note | NoteError]:
    """Read one or more CodiEsp splits (``"train+dev"`` joins them), with their gold codes."""
    for part in split.split("+"):
        folder = _codiesp_split_dir(root, part)
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


def read_notes(path: str | Path, split: str | None = None,
               max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Note | NoteError]:
    """Read notes from any supported input (see the module docstring).

    Args:
        path: a CodiEsp folder, a ``.jsonl`` or ``.csv`` file, or a folder of ``.txt`` files.
        split: the CodiEsp split(s) to read; defaults to the folder itself when it is a split.
        max_chars: longer notes are reported as errors.

    Yields:
        :class:`Note` and :class:`NoteError` items in input order.

    Raises:
        CorpusError: when the input as a whole cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder")
    if path.is_dir():
        if is_codiesp(path):
            yield from read_codiesp(path.parent if split is None else path, split or path.name, max_chars)
        else:
            files = sorted(path.glob("*.txt"))
            if not files:
                raise CorpusError(f"{path}: no .txt notes and no CodiEsp split in this folder")
            for file in files:
                yield read_text_file(file, max_chars)
    elif path.suffix == ".jsonl":
        with path.open("rb") as lines:
            yield from read_jsonl(lines, path.name, max_chars)
    elif path.suffix == ".csv":
        yield from read_csv(path, max_chars)
    else:
        raise CorpusError(f"{path}: unknown input format (use a folder, .jsonl or .csv)")


def count_notes(path: str | Path, split: str | None = None) -> int | None:
    """How many notes (good or bad) :func:`read_notes` will yield, counted cheaply; ``None`` if unknown.

    For progress bars: lines of a JSONL file, rows of a CSV, ``.txt`` files of a folder.
    """
    path = Path(path)
    try:
        if path.is_dir():
            if is_codiesp(path):
                root, parts = (path.parent, [path.name]) if split is None else (path, split.split("+"))
                return sum(len(list((_codiesp_split_dir(root, p) / "text_files_en").glob("*.txt"))) for p in parts)
            return len(list(path.glob("*.txt")))
        if path.suffix == ".jsonl":
            with path.open("rb") as handle:
                return sum(1 for line in handle if line.strip())
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", errors="replace", newline="") as handle:
                return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    except (OSError, CorpusError, csv.Error):
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
