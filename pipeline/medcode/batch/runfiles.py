"""The files of a ``medcode predict`` run (output, errors, run record, TSVs and their partial files), and
``--resume``: the earlier run's fingerprint checked against this one's, and what it already handled
checked against the input (see :mod:`medcode.batch.predict`)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from medcode.about import SYSTEMS
from medcode.batch.files import read_capped, write_text
from medcode.errors import InputError
from medcode.notes import Note, NoteError
from medcode.textsafe import shown

if TYPE_CHECKING:
    from medcode.batch.predict import NoteSource

logger = logging.getLogger(__name__)

#: What ``--resume`` compares between the earlier run and this one.
FINGERPRINT_KEYS = ("input_sha256", "model", "top_k", "format", "max_chars", "medcode", "release")


def errors_path_of(output: Path) -> Path:
    """Where the notes that could not be scored are reported: ``<output stem>.errors.jsonl``."""
    return output.with_name(output.stem + ".errors.jsonl")


def record_path_of(output: Path) -> Path:
    """The run record (fingerprint and counts) of an output: ``<output stem>.run.json``."""
    return output.with_name(output.stem + ".run.json")


def partial_of(path: Path) -> Path:
    """The file a run writes ``path``'s content to until it ends."""
    return path.with_name(f".{path.name}.partial")


@dataclass
class RunFiles:
    """Every file a run writes (the TSVs only with ``--format codiesp``)."""

    output: Path
    fmt: str

    @property
    def errors(self) -> Path:
        return errors_path_of(self.output)

    @property
    def record(self) -> Path:
        return record_path_of(self.output)

    @property
    def tsvs(self) -> dict[str, Path]:
        if self.fmt != "codiesp":
            return {}
        return {s: self.output.with_name(f"{self.output.stem}{'D' if s == SYSTEMS[0] else 'P'}.tsv") for s in SYSTEMS}

    def all(self) -> list[Path]:
        finals = [self.output, self.errors, self.record, *self.tsvs.values()]
        return finals + [partial_of(p) for p in finals[:3]]


def deduplicated(items: Iterable[Note | NoteError], seen: set[str]) -> Iterator[Note | NoteError]:
    for item in items:
        if isinstance(item, Note):
            if item.id in seen:
                item = NoteError(item.id, "duplicate id: an earlier note has the same id")
            else:
                seen.add(item.id)
        yield item


@dataclass
class Kept:
    """What an earlier run already handled: the first ``notes`` input items."""

    notes: int = 0
    scored: int = 0
    skipped: int = 0
    seen: set[str] = field(default_factory=set)


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(read_capped(path, 1 << 20, "run record"))
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("fingerprint"), dict):
        raise InputError(f"--resume: {shown(path)}: not a medcode run record; run without --resume to start over")
    return record["fingerprint"]


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    for key in FINGERPRINT_KEYS:
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        if key == "input_sha256":
            out.append("the input (another file, or the file changed)")
        elif key == "model":
            out.append(f"the model ({shown(was, 12)}, now {now[:12]}…)")
        elif key == "medcode":
            out.append(f"medcode {shown(was, 20)} (now {now})")
        elif key == "release":
            out.append(f"the code-set release ({shown(json.dumps(was), 80)}, now {json.dumps(now)}; --release)")
        else:
            out.append(f"--{key.replace('_', '-')} {shown(was, 20)} (now {now})")
    return out


def _earlier_fingerprint(files: RunFiles) -> tuple[dict | None, bool]:
    """The earlier run's fingerprint, and whether it comes from a finished run (else an interrupted one)."""
    if partial_of(files.record).exists():
        return _read_record(partial_of(files.record)), False
    if files.record.exists() and files.output.exists():
        return _read_record(files.record), True
    if files.output.exists():
        raise InputError(f"--resume: {shown(files.output)} has no run record ({files.record.name}): it was not "
                         "written by this medcode's predict; run without --resume, or choose another --output")
    return None, False


def prepare_run(files: RunFiles, fingerprint: dict, resume: bool, source: NoteSource) -> Kept:
    """Partial files to append to: an earlier run's (checked) under ``--resume``, else new empty ones."""
    if resume:
        earlier, finished = _earlier_fingerprint(files)
        if earlier is not None:
            differences = _differences(earlier, fingerprint)
            if differences:
                raise InputError(f"--resume: {shown(files.output)} was written by another run: "
                                 f"{'; '.join(differences)}. Run without --resume to start over, or choose "
                                 "another --output")
            if finished:  # continue a finished run: its files become the partial ones again
                for final in (files.output, files.errors):
                    if final.exists():
                        shutil.copyfile(final, partial_of(final))
                    else:
                        partial_of(final).write_bytes(b"")
                write_text(partial_of(files.record), json.dumps({"fingerprint": fingerprint}) + "\n")
            kept = _verify_prefix(files, source)
            if kept is not None:
                return kept
            logger.warning("the earlier run's files for %s do not match its input; scoring from the start",
                           shown(files.output))
    for path in (partial_of(files.output), partial_of(files.errors)):
        path.write_bytes(b"")
    write_text(partial_of(files.record), json.dumps({"fingerprint": fingerprint, "state": "running"}) + "\n")
    return Kept()


def _complete_ids(path: Path) -> list:
    """Ids of the whole lines of a partial file; a torn last line (a killed run) is cut off."""
    ids, good = [], 0
    if not path.exists():
        return ids
    with path.open("rb") as handle:
        for line in handle:
            try:
                ids.append(json.loads(line)["id"] if line.endswith(b"\n") else None)
            except (ValueError, KeyError, TypeError):
                ids.append(None)
            if ids[-1] is None:
                ids.pop()
                break
            good += len(line)
    with path.open("r+b") as handle:
        handle.truncate(good)
    return ids


def _verify_prefix(files: RunFiles, source: NoteSource) -> Kept | None:
    """What the earlier run handled, after checking its lines are the first notes of the input, in order.

    The input is read again up to that point (not scored), so duplicate ids are found as in one run.
    ``None`` when the files do not match the input (they are then rewritten from the start).
    """
    scored, skipped = _complete_ids(partial_of(files.output)), _complete_ids(partial_of(files.errors))
    kept = Kept(len(scored) + len(skipped), len(scored), len(skipped))
    items = deduplicated(source.items(), kept.seen)
    s = e = 0
    for item in islice(items, kept.notes):
        if isinstance(item, Note) and s < len(scored) and scored[s] == item.id:
            s += 1
        elif e < len(skipped) and skipped[e] == item.id:
            e += 1
        else:
            break
    items.close()
    return kept if (s, e) == (len(scored), len(skipped)) else None
