"""Build the content of a release folder from the official files (see :mod:`medcode.codesets.sources`).

What a release folder holds (names fixed here):

* ``cm.json.gz``: the ICD-10-CM tabular as :class:`medcode.codesets.cmtabular.CmTabular` (codes, titles,
  hierarchy, 7th characters, Excludes1 / Excludes2 / includes / code-first / use-additional / code-also notes);
* ``pcs_codes.txt.gz``: every valid ICD-10-PCS code and its title (``CODE title`` lines, as CMS's code file);
* ``pcs_tables.json.gz``: the ICD-10-PCS tables in the format :mod:`medcode.codesets.pcs` reads;
* ``conversion.json.gz``: ``{system: {previous code: [current code, ...]}}`` from the conversion tables;
* ``sources/<kind>.xml.gz``: the other official files as given (index, neoplasm, drug and external-cause
  tables; PCS definitions and index), gzipped.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from medcode.about import CM, PCS
from medcode.codesets.cmtabular import CmTabular, extension_codes, read_tabular
from medcode.codesets.sources import SourceFile, code_titles, conversion_pairs
from medcode.errors import ReleaseFileError
from medcode.textsafe import shown

logger = logging.getLogger(__name__)

CM_FILE = "cm.json.gz"
PCS_CODES_FILE = "pcs_codes.txt.gz"
PCS_TABLES_FILE = "pcs_tables.json.gz"
CONVERSION_FILE = "conversion.json.gz"
SOURCES_DIR = "sources"
#: Axis labels that say an axis is not used: left out of a title composed from the tables.
_NOTHING = {"No Device", "No Qualifier", "None", "No Contrast"}


def write_gz(path: Path, data: bytes) -> None:
    # mtime=0: the same files give the same bytes, so two installs of one release compare equal.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0))


def parse_xml(source: SourceFile) -> ET.Element:
    """The root of an XML release file.

    Raises:
        ReleaseFileError: when the file is not well-formed XML (with the line and column).
    """
    try:
        return ET.fromstring(source.data)
    except ET.ParseError as exc:
        line, column = exc.position
        raise ReleaseFileError(f"{shown(source.name)}: not well-formed XML (line {line}, column {column}); expected "
                               f"the {source.kind.replace('-', ' ')} XML as published") from None


def _text(node: ET.Element | None) -> str:
    return " ".join((node.text or "").split()) if node is not None else ""


def pcs_tables(source: SourceFile) -> tuple[dict, dict[str, str]]:
    """The PCS tables XML as ``pcs_tables.json`` content, and every code its rows generate with a title.

    The title is composed from the axis labels (CMS's long titles come with the code or order file).

    Raises:
        ReleaseFileError: when the file is malformed or holds no table.
    """
    labels: dict[str, int] = {}
    tables: dict[str, dict] = {}
    codes: dict[str, str] = {}
    root = parse_xml(source)
    for number, table in enumerate(root.iter("pcsTable"), start=1):
        fixed = table.findall("axis")
        try:
            prefix = "".join(axis.find("label").get("code") for axis in fixed)
            rows, titles = [], None
            for row in table.findall("pcsRow"):
                axes = sorted(row.findall("axis"), key=lambda a: int(a.get("pos")))
                titles = [labels.setdefault(_text(a.find("title")), len(labels)) for a in axes]
                values = [[(lab.get("code"), _text(lab)) for lab in a.findall("label")] for a in axes]
                rows.append([["".join(c for c, _ in axis), [labels.setdefault(t, len(labels)) for _, t in axis]]
                             for axis in values])
                if len(prefix) != 3 or len(values) != 4 or any(len(c) != 1 for axis in values for c, _ in axis):
                    raise ValueError("not a 7-character code")
                for combo in itertools.product(*values):
                    codes[prefix + "".join(c for c, _ in combo)] = _compose(fixed, combo)
        except (AttributeError, TypeError, ValueError):
            raise ReleaseFileError(f"{shown(source.name)}: table {number} is not a PCS table (three fixed axes of one "
                                   "character, rows of four axes with one-character labels)") from None
        tables[prefix] = {"fixed": [labels.setdefault(_text(a.find("label")), len(labels)) for a in fixed],
                          "titles": titles, "definition": _text(fixed[2].find("definition")), "rows": rows}
    if not tables:
        raise ReleaseFileError(f"{shown(source.name)}: holds no <pcsTable>; expected the ICD-10-PCS tables XML")
    return {"labels": list(labels), "tables": tables}, codes


def _compose(fixed: list[ET.Element], combo: tuple) -> str:
    """A readable title from a code's labels: operation, body part, then the axes that say something."""
    operation = _text(fixed[2].find("label"))
    body, *rest = [label for _, label in combo]
    tail = [label for label in rest if label not in _NOTHING]
    return ", ".join([f"{operation} {body}", *tail])


def build_pcs(files: dict[str, SourceFile], folder: Path) -> dict:
    """Write the PCS part of a release folder; returns what ``release.json`` records of it.

    Raises:
        ReleaseFileError: when the tables and the code or order file disagree on the codes.
    """
    tables, codes = pcs_tables(files["pcs-tables"]) if "pcs-tables" in files else (None, {})
    titled = next((files[k] for k in ("pcs-order", "pcs-codes") if k in files), None)
    source = "tables"
    if titled:
        titles = code_titles(titled)
        if codes and set(titles) != set(codes):
            extra, missing = sorted(set(titles) - set(codes)), sorted(set(codes) - set(titles))
            raise ReleaseFileError(f"{shown(titled.name)}: its codes are not those of {shown(files['pcs-tables'].name)} "
                                   f"({len(extra)} not in the tables, e.g. {extra[:3]}; {len(missing)} missing, e.g. "
                                   f"{missing[:3]}): are they files of one release?")
        codes, source = titles, f"{titled.kind.split('-')[1]} file"
    lines = "".join(f"{code} {title}\n" for code, title in sorted(codes.items()))
    write_gz(folder / PCS_CODES_FILE, lines.encode("utf-8"))
    if tables:
        write_gz(folder / PCS_TABLES_FILE, json.dumps(tables, sort_keys=True).encode("utf-8"))
    logger.info("ICD-10-PCS: %d codes (titles from the %s)", len(codes), source)
    return {"codes": len(codes), "titles": source}


def build_cm(files: dict[str, SourceFile], folder: Path) -> dict:
    """Write the CM part of a release folder (the tabular, read by ``simple_icd_10_cm``'s parser).

    Raises:
        ReleaseFileError: without the tabular XML, or when it cannot be read.
    """
    if "cm-tabular" not in files:
        given = ", ".join(shown(f.name) for f in files.values())
        raise ReleaseFileError(f"{given}: ICD-10-CM needs its tabular XML (icd10cm_tabular_YYYY.xml, in the "
                               "table-and-index zip) besides the code and index files")
    tabular = files["cm-tabular"]
    root = parse_xml(tabular)
    if root.find("chapter") is None:
        raise ReleaseFileError(f"{shown(tabular.name)}: holds no <chapter>; expected the ICD-10-CM tabular XML")
    listed = next((files[k] for k in ("cm-order", "cm-codes") if k in files), None)
    codes = set(code_titles(listed)) if listed else extension_codes(root)
    with tempfile.TemporaryDirectory(prefix="medcode-cm-") as tmp:
        path = Path(tmp) / "tabular.xml"
        path.write_bytes(tabular.data)
        try:
            cm = read_tabular(path, codes, str(tabular.version or ""))
        except (ValueError, KeyError, IndexError, ET.ParseError) as exc:
            raise ReleaseFileError(f"{shown(tabular.name)}: simple-icd-10-cm cannot read this tabular "
                                   f"({type(exc).__name__}: {shown(str(exc), 200)})") from None
    write_gz(folder / CM_FILE, json.dumps(cm.to_dict(), sort_keys=True).encode("utf-8"))
    n_codes = sum(1 for node in cm.nodes if node[1] not in ("chapter", "section"))
    return {"codes": n_codes, "code_list": f"{listed.kind.split('-')[1]} file" if listed else
            "7th characters of the tabular (no code file given)"}


def build_conversion(sources: list[SourceFile], folder: Path) -> dict:
    """Write ``conversion.json.gz`` from the conversion tables given; returns the pairs per system."""
    from medcode.codesets.kb import normalize_code

    table: dict[str, dict[str, list[str]]] = {CM: defaultdict(list), PCS: defaultdict(list)}
    for source in sources:
        pairs = conversion_pairs(source)
        # A PCS table holds 7-character codes only; a CM table has codes of every length (or dots).
        system = PCS if pairs and all(len(p) == 7 and "." not in p for pair in pairs for p in pair) else CM
        for before, now in pairs:
            before, now = normalize_code(before, system), normalize_code(now, system)
            if now not in table[system][before]:
                table[system][before].append(now)
        logger.info("%s: %d conversion pairs (%s)", shown(source.name), len(pairs), system)
    data = {s: dict(sorted(v.items())) for s, v in table.items() if v}
    write_gz(folder / CONVERSION_FILE, json.dumps(data, sort_keys=True).encode("utf-8"))
    return {s: len(v) for s, v in data.items()}


def keep_sources(sources: list[SourceFile], folder: Path) -> list[str]:
    """Store the official files medcode does not turn into data yet (checked to be well-formed XML)."""
    kept = []
    for source in sources:
        parse_xml(source)
        name = f"{SOURCES_DIR}/{source.kind}.xml.gz"
        write_gz(folder / name, source.data)
        kept.append(name)
    return kept


def load_json_gz(path: Path):
    """A gzipped JSON file of a release folder."""
    with gzip.open(path, "rb") as handle:
        return json.loads(handle.read())


def load_cm(folder: Path) -> CmTabular:
    return CmTabular.from_dict(load_json_gz(folder / CM_FILE))


def load_pcs_titles(folder: Path) -> dict[str, str]:
    titles = {}
    with gzip.open(folder / PCS_CODES_FILE, "rt", encoding="utf-8") as lines:
        for line in lines:
            code, _, title = line.rstrip("\n").partition(" ")
            if code:
                titles[code] = title
    return titles
