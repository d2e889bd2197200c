"""The official release files as CDC and CMS publish them: what each file is, and what medcode reads of it.

A file is recognised by its content, never by its name alone (publishers rename files between years):

============================  ====================================================================
kind                          content
============================  ====================================================================
``cm-tabular``                ICD-10-CM tabular list XML (root ``ICD10CM.tabular``)
``cm-index``                  Alphabetic Index to Diseases XML (root ``ICD10CM.index``)
``cm-neoplasm``               Table of Neoplasms XML (``ICD10CM.index`` headed "Neoplasm")
``cm-drug``                   Table of Drugs and Chemicals XML (headed "Substance")
``cm-eindex``                 Index to External Causes XML
``cm-codes`` / ``cm-order``   the code file (``A000    Cholera ...``) / order file (``00001 A00     0 ...``)
``pcs-tables``                ICD-10-PCS tables XML (root ``ICD10PCS.tabular``)
``pcs-definitions``           ICD-10-PCS definitions XML (``ICD10PCS.definitions``)
``pcs-index``                 ICD-10-PCS Index XML (``ICD10PCS.index``)
``pcs-codes`` / ``pcs-order`` the code-title file (``0016070 Bypass ...``) / order file
``conversion``                a conversion table as text (CSV, tab-separated or fixed columns) whose
                              header names the current and previous codes
============================  ====================================================================

A zip file is read member by member: members of the kinds above are taken, the rest (PDFs, notes)
skipped. A file or member of no known kind, or one that is malformed, raises
:class:`medcode.errors.ReleaseFileError` naming it and saying what was expected.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from medcode.about import CM, PCS
from medcode.batch.files import read_capped
from medcode.errors import ReleaseFileError
from medcode.textsafe import shown

#: The largest release file or zip member medcode reads (the ICD-10-CM index XML is about 40 MB).
MAX_SOURCE_BYTES = 512 << 20
#: What a user may give, for the messages.
EXPECTED = ("the CDC ICD-10-CM tabular, index, neoplasm, drug or external-cause XML, the ICD-10-CM code or "
            "order file, the CMS ICD-10-PCS tables, definitions or index XML, the ICD-10-PCS code or order "
            "file, a conversion table (text or CSV), or a zip file holding them as published")
#: The kinds that carry a system's codes; at least one must be given per system installed.
CORE_KINDS = {CM: ("cm-tabular",), PCS: ("pcs-tables", "pcs-order", "pcs-codes")}
#: Which system each kind belongs to.
SYSTEM_OF = {"cm-tabular": CM, "cm-index": CM, "cm-neoplasm": CM, "cm-drug": CM, "cm-eindex": CM, "cm-codes": CM,
             "cm-order": CM, "pcs-tables": PCS, "pcs-definitions": PCS, "pcs-index": PCS, "pcs-codes": PCS,
             "pcs-order": PCS, "conversion": None}

_ROOT_RE = re.compile(rb"<(ICD10(?:CM|PCS)\.[A-Za-z]+)[\s>]")
_VERSION_RE = re.compile(rb"<version>\s*(\d{4})\s*</version>")
_YEAR_RE = re.compile(r"(?<!\d)(20\d\d)(?!\d)")
_ORDER_RE = re.compile(r"^(\d{5}) ([0-9A-Z]{3,7}) +([01]) (.*)$")
_CODES_RE = re.compile(r"^([0-9A-Z]{3,7}) +(\S.*)$")
_CODE_TOKEN_RE = re.compile(r"[A-Z0-9]{3,7}(?:\.[A-Z0-9]{1,4})?")


@dataclass
class SourceFile:
    """One official file (or zip member) as given to ``medcode codes install``.

    Attributes:
        name: the file's path, or ``zip path:member``.
        kind: see the module docstring.
        data: its bytes.
        version: the fiscal year the file states (XML ``<version>``) or its name carries, or ``None``.
        april: whether the name says it is an April 1 update.
    """

    name: str
    kind: str
    data: bytes
    version: int | None = None
    april: bool = False

    @property
    def system(self) -> str | None:
        return SYSTEM_OF[self.kind]

    def record(self) -> dict:
        """What the release folder records of the file: name, kind, size and SHA-256."""
        return {"file": self.name, "kind": self.kind, "bytes": len(self.data),
                "sha256": hashlib.sha256(self.data).hexdigest(), **({"version": self.version} if self.version else {})}


def read_sources(paths: list[str | Path]) -> tuple[list[SourceFile], list[dict]]:
    """The release files among ``paths`` (zip files opened), and a record of every file given.

    Returns:
        ``(files, given)``: the recognised files and zip members, and ``{"file", "sha256", "bytes"}`` of each
        path as given (a zip's own hash too, so the record names what the user downloaded).

    Raises:
        ReleaseFileError: for a missing or unreadable file, a file of no known kind, a zip with no
            release file in it, or a zip that is damaged or holds a member over the size limit.
    """
    files, given = [], []
    for path in paths:
        data = read_capped(path, MAX_SOURCE_BYTES, "release file")
        given.append({"file": Path(path).name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        if data[:2] == b"\x1f\x8b":  # a file gzipped by a user or a mirror: read what it holds
            data = _gunzip(Path(path), data)
        if data[:4] == b"PK\x03\x04":
            found = _zip_members(Path(path), data)
            if not found:
                raise ReleaseFileError(f"{shown(path)}: this zip file holds no release file medcode knows; expected {EXPECTED}")
            files += found
        else:
            files.append(identify(str(path), data, strict=True))
    return files, given


def _gunzip(path: Path, data: bytes) -> bytes:
    """The content of a gzip file, refused once it passes :data:`MAX_SOURCE_BYTES`."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, MAX_SOURCE_BYTES + 1)
    except zlib.error:
        raise ReleaseFileError(f"{shown(path)}: not a valid gzip file") from None
    if len(out) > MAX_SOURCE_BYTES or inflater.unconsumed_tail:
        raise ReleaseFileError(f"{shown(path)}: decompresses to more than {MAX_SOURCE_BYTES:,} bytes")
    return out


def _zip_members(path: Path, data: bytes) -> list[SourceFile]:
    found = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.infolist():
                base = member.filename.rsplit("/", 1)[-1]
                if member.is_dir() or base.startswith(".") or "__MACOSX" in member.filename:
                    continue
                if not base.lower().endswith((".xml", ".txt", ".csv", ".tsv")):
                    continue  # PDFs, spreadsheets, read-me files: not release data medcode reads
                if member.file_size > MAX_SOURCE_BYTES:
                    raise ReleaseFileError(f"{shown(path)}:{shown(member.filename)}: {member.file_size:,} bytes once "
                                           f"unzipped, over the limit of {MAX_SOURCE_BYTES:,}")
                with archive.open(member) as handle:
                    content = handle.read(MAX_SOURCE_BYTES + 1)
                if len(content) > MAX_SOURCE_BYTES:
                    raise ReleaseFileError(f"{shown(path)}:{shown(member.filename)}: over {MAX_SOURCE_BYTES:,} bytes")
                source = identify(f"{path}:{member.filename}", content, strict=False)
                if source:
                    found.append(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise ReleaseFileError(f"{shown(path)}: not a readable zip file ({type(exc).__name__}); expected {EXPECTED}") from None
    return found


def identify(name: str, data: bytes, strict: bool = True) -> SourceFile | None:
    """What a release file is, from its first bytes (XML root and headings, text line shapes).

    Args:
        name: the file's name, for messages and for the fiscal year a text file's name carries.
        data: its bytes.
        strict: raise for a file of no known kind (a file given by itself); else return ``None``
            (a zip member such as a read-me).

    Raises:
        ReleaseFileError: (``strict``) for a file of no known kind.
    """
    head = data[:8192]
    base = name.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    year = _YEAR_RE.search(base)
    april = "april" in base.lower()
    root = _ROOT_RE.search(head)
    if root:
        version = _VERSION_RE.search(head)
        kind = _xml_kind(root.group(1).decode(), head)
        if kind:
            return SourceFile(name, kind, data, int(version.group(1)) if version else
                              (int(year.group(1)) if year else None), april)
    else:
        kind = _text_kind(head, complete=len(data) <= len(head))
        if kind:
            return SourceFile(name, kind, data, int(year.group(1)) if year else None, april)
    if strict:
        what = f"an XML file with root {root.group(1).decode()}" if root else "a file of no known shape"
        raise ReleaseFileError(f"{shown(name)}: {what}; expected {EXPECTED}")
    return None


def _xml_kind(root: str, head: bytes) -> str | None:
    if root == "ICD10CM.tabular":
        return "cm-tabular"
    if root == "ICD10CM.index":
        text = head.decode("utf-8", "replace")
        if re.search(r'<head col="1">\s*Neoplasm', text):
            return "cm-neoplasm"
        if re.search(r'<head col="1">\s*Substance', text):
            return "cm-drug"
        return "cm-eindex" if "EXTERNAL CAUSE" in text.upper() else "cm-index"
    return {"ICD10PCS.tabular": "pcs-tables", "ICD10PCS.definitions": "pcs-definitions",
            "ICD10PCS.index": "pcs-index"}.get(root)


def _text_kind(head: bytes, complete: bool) -> str | None:
    """The kind of a text file from its first lines: order file, code file or conversion table."""
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    split = text.split("\n")
    # The last line of a cut head may be cut too: judge by the whole lines.
    lines = [line.rstrip("\r") for line in (split if complete else split[:-1]) if line.strip()][:50]
    if not lines:
        return None
    header = lines[0].lower()
    if "current" in header and "previous" in header:
        return "conversion"
    order = [_ORDER_RE.match(line) for line in lines]
    if all(order):
        return "pcs-order" if any(m.group(2)[0].isdigit() for m in order) else "cm-order"
    codes = [_CODES_RE.match(line) for line in lines]
    if all(codes):
        return "pcs-codes" if any(m.group(1)[0].isdigit() for m in codes) else "cm-codes"
    return None


def text_lines(source: SourceFile) -> list[str]:
    """A text release file's lines (UTF-8, or Latin-1 as older CMS files are)."""
    try:
        text = source.data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = source.data.decode("latin-1")
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def code_titles(source: SourceFile) -> dict[str, str]:
    """``{code: long title}`` of the valid codes of a code or order file (order-file headers left out).

    Codes are as the file writes them (no dot); titles are the long ones.

    Raises:
        ReleaseFileError: for a line that has not the file's shape (naming the line).
    """
    out = {}
    for number, line in enumerate(text_lines(source), start=1):
        if source.kind.endswith("-order"):
            match = _ORDER_RE.match(line)
            if match and match.group(3) == "1":
                # Short title in 60 columns, then the long one.
                out[match.group(2)] = (match.group(4)[61:] or match.group(4)).strip()
        else:
            match = _CODES_RE.match(line)
            if match:
                out[match.group(1)] = match.group(2).strip()
        if not match:
            raise ReleaseFileError(f"{shown(source.name)}: line {number} is not a line of an {source.kind.replace('-', ' ')} "
                                   "file (code, then title)")
    return out


def conversion_pairs(source: SourceFile) -> list[tuple[str, str]]:
    """``(previous code, current code)`` pairs of a conversion table given as text.

    The header names the columns: one whose name holds "current" (the code now), one whose name holds
    "previous" (the codes it replaces: one or several in a cell, separated by commas, spaces or semicolons).

    Raises:
        ReleaseFileError: when the header does not name both columns.
    """
    lines = text_lines(source)
    dialect = "excel-tab" if "\t" in lines[0] else "excel"
    rows = list(csv.reader(lines, dialect=dialect))
    header = [h.strip().lower() for h in rows[0]]
    if len(header) == 1:  # fixed columns: split on runs of two or more spaces
        rows = [re.split(r"\s{2,}", line.strip()) for line in lines]
        header = [h.strip().lower() for h in rows[0]]
    current = next((i for i, h in enumerate(header) if "current" in h), None)
    previous = next((i for i, h in enumerate(header) if "previous" in h), None)
    if current is None or previous is None:
        raise ReleaseFileError(f"{shown(source.name)}: a conversion table's header names a current-code column and "
                               "a previous-code column")
    pairs = []
    for row in rows[1:]:
        if len(row) <= max(current, previous):
            continue
        now = _CODE_TOKEN_RE.findall(row[current].upper())
        for before in _CODE_TOKEN_RE.findall(row[previous].upper()):
            pairs += [(before, code) for code in now[:1]]
    return pairs
