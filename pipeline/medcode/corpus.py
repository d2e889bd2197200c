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

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from medcode.about import CM, PCS, SYSTEMS
from medcode.batch.files import open_regular, read_capped
from medcode.codesets.kb import guess_system, normalize_code
from medcode.errors import CorpusError, InputError
from medcode.formats import BOM, bounded_lines, open_input, read_csv, read_jsonl, read_text_file
from medcode.notes import DEFAULT_MAX_CHARS, Note, NoteError, add_code
from medcode.textsafe import shown

#: Largest gold TSV read (a CodiEsp split's is a few hundred kilobytes).
MAX_GOLD_BYTES = 256 << 20


def _gold_lines(path: Path) -> Iterator[tuple[str, str]]:
    """``(note id, code)`` of a CodiEsp-style gold TSV (``id<TAB>code``), refusing a malformed line."""
    try:
        data = read_capped(path, MAX_GOLD_BYTES, "gold TSV")
    except InputError as exc:
        raise CorpusError(str(exc)) from None
    for number, raw in enumerate(data.removeprefix(BOM).split(b"\n"), start=1):
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
        add_code(gold.setdefault(note_id, {}), guess_system(code), normalize_code(code, guess_system(code)))
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
        with open_input(path) as lines:
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
