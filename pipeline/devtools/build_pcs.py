"""Vendor the CMS ICD-10-PCS tables, definitions and index as compact JSON for :mod:`medcode.codesets.pcs`.

Usage::

    python pipeline/devtools/build_pcs.py [--tables T.xml.gz] [--definitions D.xml.gz] [--index I.xml.gz]
                                          [--out pipeline/medcode/data]

Writes two files, gzipped with mtime 0 and sorted keys so that a rebuild from the same sources is
byte-identical:

* ``pcs_tables.json.gz``: the 914 FY2026 tables. Characters 1-3 fixed per table (with the operation's
  definition), each row the valid values of characters 4-7. Labels are interned (``labels`` list, rows hold
  indexes) because the same few thousand labels repeat across 2,733 rows.
* ``pcs_terms.json.gz``: the FY2026 definitions (root operations, approaches, Body Part Key, Device Key,
  device aggregation) and the FY2025 PCS Index flattened to ``[path, kind, text, code]`` entries (CMS
  published no FY2026 index XML; the file says so).

Each file records its sources' names and SHA-256 and the release. The CMS files are public domain.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

logger = logging.getLogger("build_pcs")

SHARED = Path("/work/shared/codesets")
OUT = Path(__file__).resolve().parents[1] / "medcode" / "data"
RELEASE = "ICD-10-PCS FY2026"
INDEX_RELEASE = "ICD-10-PCS FY2025 (PCS Index; no FY2026 index file was available)"
TABLES_FILE = "pcs_tables.json.gz"
TERMS_FILE = "pcs_terms.json.gz"


def source_record(path: Path, release: str) -> dict[str, str]:
    """Name, SHA-256 and release of one source file."""
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "release": release}


def _parse(path: Path) -> ET.Element:
    """Parse a gzipped XML file."""
    with gzip.open(path, "rb") as raw:
        return ET.parse(raw).getroot()


def _text(node: ET.Element | None) -> str:
    """A node's own text with whitespace collapsed ("" for no node)."""
    return " ".join((node.text or "").split()) if node is not None else ""


def build_tables(path: Path) -> dict[str, Any]:
    """Read the tables XML into ``{"labels": [...], "tables": {prefix: {...}}}``.

    A table holds ``fixed`` (label indexes of characters 1-3), ``titles`` (axis titles of characters
    4-7, as label indexes: imaging calls character 5 "Contrast"), ``definition`` (the operation's) and
    ``rows``: per row, four ``[codes, [label index per code]]`` pairs. Labels stay per row because a few
    tables give one character value different labels in different rows (``XW0`` substances).
    """
    labels: dict[str, int] = {}

    def intern(text: str) -> int:
        """The index of a label in the interned list, adding it on first sight."""
        return labels.setdefault(text, len(labels))

    tables: dict[str, Any] = {}
    for table in _parse(path).iter("pcsTable"):
        fixed = table.findall("axis")
        prefix = "".join(axis.find("label").get("code") for axis in fixed)
        rows, titles = [], None
        for row in table.findall("pcsRow"):
            axes = sorted(row.findall("axis"), key=lambda a: int(a.get("pos")))
            titles = [intern(_text(a.find("title"))) for a in axes]
            rows.append([["".join(lab.get("code") for lab in a.findall("label")),
                          [intern(_text(lab)) for lab in a.findall("label")]] for a in axes])
        tables[prefix] = {
            "fixed": [intern(_text(a.find("label"))) for a in fixed],
            "titles": titles,
            "definition": _text(fixed[2].find("definition")),
            "rows": rows,
        }
    logger.info("tables: %d tables, %d rows, %d labels", len(tables),
                sum(len(t["rows"]) for t in tables.values()), len(labels))
    return {"labels": list(labels), "tables": tables}


def build_definitions(path: Path) -> dict[str, Any]:
    """Per section and axis position, the definitions file's terms.

    Returns ``{"sections": {section: {"title", "axes": {pos: {"title", "terms": [...]}}}},
    "device_aggregation": [...]}``; a term is ``{"titles", "definition", "explanation", "includes"}``
    with empty fields dropped. Axis 4 of section 0 is the Body Part Key and axis 6 the Device Key.
    """
    root = _parse(path)
    sections: dict[str, Any] = {}
    for section in root.iter("section"):
        axes = {}
        for axis in section.findall("axis"):
            terms = []
            for term in axis.findall("terms"):
                record = {
                    "titles": [_text(t) for t in term.findall("title")],
                    "definition": _text(term.find("definition")),
                    "explanation": _text(term.find("explanation")),
                    "includes": [_text(i) for i in term.findall("includes")],
                }
                terms.append({k: v for k, v in record.items() if v})
            axes[axis.get("pos")] = {"title": _text(axis.find("title")), "terms": terms}
        sections[section.get("code")] = {"title": _text(section.find("title")), "axes": axes}
    aggregation = []
    for aggregate in root.iter("aggregate"):
        parent = aggregate.find("parent")
        aggregation.append({
            "device": _text(aggregate.find("device")),
            "operation": _text(aggregate.find("operation")),
            "body_systems": [_text(b) for b in aggregate.findall("bodySys")],
            "parent": _text(parent),
            "parent_code": parent.get("value") if parent is not None else "",
        })
    return {"sections": sections, "device_aggregation": aggregation}


def _targets(node: ET.Element) -> list[list[str]]:
    """The ``[kind, text, code]`` pointers a main term or term carries directly."""
    found = []
    for child in node:
        if child.tag in ("see", "use"):
            code = child.find("codes") if child.find("codes") is not None else child.find("tab")
            found.append([child.tag, _text(child), _text(code)])
        elif child.tag in ("code", "codes", "tab"):
            found.append(["code", "", _text(child)])
    return found


def _walk(node: ET.Element, path: list[str], out: list[list[Any]]) -> None:
    """Append the pointers of a (main) term and its sub-terms, each with its path of titles."""
    title = _text(node.find("title"))
    here = [*path, title] if title else path
    for kind, text, code in _targets(node):
        out.append([here, kind, text, code])
    for term in node.findall("term"):
        _walk(term, here, out)


def build_index(path: Path) -> list[list[Any]]:
    """Flatten the PCS Index into ``[path, kind, text, code]`` entries.

    ``path`` is the main term and sub-term titles (``["Resection", "Appendix"]``); ``kind`` is ``see``
    (a root operation and body part, ``text`` like "Excision, Gallbladder"), ``use`` (a body part or
    device name from the keys) or ``code``; ``code`` is a full code, a partial code or a table ("0FB4",
    "0CT"), or empty when the index gives none.
    """
    out: list[list[Any]] = []
    for main in _parse(path).iter("mainTerm"):
        _walk(main, [], out)
    logger.info("index: %d entries", len(out))
    return out


def write_json_gz(data: dict[str, Any], path: Path) -> None:
    """Write JSON gzipped with mtime 0 and sorted keys, so that a rebuild is byte-identical."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    path.write_bytes(buffer.getvalue())
    logger.info("wrote %s (%d bytes)", path, len(buffer.getvalue()))


def build(tables: Path, definitions: Path, index: Path, out: Path) -> None:
    """Read the three CMS files and write ``pcs_tables.json.gz`` and ``pcs_terms.json.gz`` into ``out``."""
    about = ("ICD-10-PCS tables from CMS (public domain), vendored by pipeline/devtools/build_pcs.py. "
             "labels: interned label strings; tables: prefix -> fixed labels of characters 1-3, axis titles "
             "and rows of [codes, label indexes] for characters 4-7.")
    write_json_gz({"about": about, "release": RELEASE, "sources": [source_record(tables, RELEASE)],
                   **build_tables(tables)}, out / TABLES_FILE)
    about = ("ICD-10-PCS definitions (FY2026: root operations, approaches, Body Part Key, Device Key) and "
             "the PCS Index (FY2025: the latest CMS index XML available), from CMS (public domain), vendored "
             "by pipeline/devtools/build_pcs.py. index entries: [path of titles, kind (see/use/code), text, "
             "code or partial code or table].")
    write_json_gz({"about": about, "release": RELEASE, "index_release": INDEX_RELEASE,
                   "sources": [source_record(definitions, RELEASE), source_record(index, INDEX_RELEASE)],
                   "definitions": build_definitions(definitions), "index": build_index(index)},
                  out / TERMS_FILE)


def main(argv: list[str] | None = None) -> None:
    """Command line: build the two files from the CMS XML (paths default to /work/shared/codesets)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=Path, default=SHARED / "icd10pcs_tables_2026.xml.gz")
    parser.add_argument("--definitions", type=Path, default=SHARED / "icd10pcs_definitions_2026.xml.gz")
    parser.add_argument("--index", type=Path, default=SHARED / "icd10pcs_index_2025.xml.gz")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(args.tables, args.definitions, args.index, args.out)


if __name__ == "__main__":
    main()
