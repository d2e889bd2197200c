"""Vendor the ICD-10-CM index tables into ``medcode/data`` as compact gzipped JSON.

Reads the CDC/NCHS FY2026 (April 1, 2026 update) XML of the Table of Neoplasms, the Table of Drugs and
Chemicals and the Index to External Causes, and writes ``neoplasm.json.gz``, ``drugs.json.gz`` and
``external_causes.json.gz`` for :mod:`medcode.codesets.tables`. Run it when a new release comes out::

    .venv/bin/python pipeline/devtools/build_tables.py            # the files in /work/shared/codesets
    .venv/bin/python pipeline/devtools/build_tables.py --neoplasm N.xml.gz --drug D.xml.gz --eindex E.xml.gz

The files keep the tables' structure and wording (titles as printed, with nonessential modifiers set
apart, codes as printed), and "see" references resolved where they point inside the same table. How a
title's words match a note is decided at load time by :mod:`medcode.codesets.tables`, so the files do
not depend on ``synonyms.json``. The output is deterministic: sorted keys, gzip with ``mtime=0``, so a
rebuild from the same sources is byte-identical.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from medcode.about import CM_RELEASE
from medcode.codesets.tables import TABLE_FORMAT, DrugTable, ExternalCauseIndex, NeoplasmTable

logger = logging.getLogger("medcode.build_tables")

SOURCE_DIR = Path("/work/shared/codesets")
DATA_DIR = Path(__file__).resolve().parents[1] / "medcode" / "data"
#: The release the sources must be (checked against each file's ``<version>``).
EXPECTED_VERSION = "2026"

#: Column headings each source must have, in order (a changed layout stops the build).
HEADINGS = {
    NeoplasmTable.TABLE: (
        "Neoplasm",
        "Malignant Primary",
        "Malignant Secondary",
        "Ca in situ",
        "Benign",
        "Uncertain Behavior",
        "Unspecified Behavior",
    ),
    DrugTable.TABLE: (
        "Substance",
        "Poisoning Accidental (unintentional)",
        "Poisoning Intentional self-harm",
        "Poisoning Assault",
        "Poisoning Undetermined",
        "Adverse effect",
        "Underdosing",
    ),
    ExternalCauseIndex.TABLE: (),
}

#: A nonessential modifier that is only a spelling variant glued to its word: "Benzin(e)", "machine(ry)".
_SUFFIX_RE = re.compile(r"^\((?:s|e|es|ry|ing|ly)\)$")
#: A code printed at the end of a title instead of in a ``<code>`` element ("outdoor, specified NEC Y93.L9").
_TITLE_CODE_RE = re.compile(r"\s+([A-Z][0-9]{2}\.[0-9A-Z]{1,4})$")
_NEC_NOS_RE = re.compile(r"\b(?:NEC|NOS)\b")
_COMMA_RE = re.compile(r",\s+")
_SPACES_RE = re.compile(r"\s+")


@dataclass
class Node:
    """One term of an index table, with its sub-terms."""

    printed: str
    essential: str
    optional: list[str]
    codes: dict[str, str] = field(default_factory=dict)
    see: list[str] = field(default_factory=list)
    see_also: list[str] = field(default_factory=list)
    via: str = ""
    children: list[Node] = field(default_factory=list)
    #: Sub-terms of other terms to make reachable under this one, and the reference that says so.
    graft: list[Node] = field(default_factory=list)
    graft_via: str = ""


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def normalize_code(raw: str) -> str | None:
    """A code as printed, upper case with its dot; ``None`` for the dashes that mean "no code".

    A trailing "." is printed for "more characters needed" in some releases: it becomes "-" as in
    "C34.1-", the form the rest of the table uses.
    """
    code = _SPACES_RE.sub("", raw).upper()
    if not code.strip("-"):
        return None
    tail = "-" if code.endswith(("-", ".")) else ""
    body = code.rstrip("-").rstrip(".")
    if "." not in body and len(body) > 3:
        body = f"{body[:3]}.{body[3:]}"
    if tail and len(body) == 3:
        body += "."
    return body + tail


def _clean(text: str) -> str:
    return _SPACES_RE.sub(" ", text).strip()


def read_title(title: ET.Element) -> tuple[str, str, list[str], list[str]]:
    """``(printed, essential, optional, see)`` of a ``<title>``: nonessential modifiers set apart.

    A modifier that is a "see" instruction ("(see Neoplasm, nerve, peripheral)") is a reference, not a
    word of the title; one glued to its word as a spelling variant ("Benzin(e)") is printed but dropped.
    """
    printed, essential, optional, see = [title.text or ""], [title.text or ""], [], []
    for child in title:
        text = _clean("".join(child.itertext()))
        glued = bool(_SUFFIX_RE.match(text))
        printed.append(text if glued else f" {text} ")
        if child.tag == "nemod" and text.lower().startswith("(see "):
            see.append(text[5:].rstrip(")").strip())
        elif child.tag == "nemod" and not glued:
            optional.append(text)
        essential.append(" ")
        printed.append(child.tail or "")
        essential.append(child.tail or "")
    return _clean("".join(printed)).replace(" ,", ","), _clean("".join(essential)).replace(" ,", ","), optional, see


def read_term(element: ET.Element, columns: tuple[str, ...]) -> Node | None:
    """A ``<mainTerm>`` or ``<term>`` and its sub-terms; ``None`` for an instructional "Note:"."""
    printed, essential, optional, see = read_title(element.find("title"))
    if printed.startswith("Note:"):
        return None
    node = Node(printed, essential, optional, see=see)
    for cell in element.findall("cell"):
        code = normalize_code(cell.text or "")
        if code:
            node.codes[columns[int(cell.get("col")) - 2]] = code
    for tag, prefix in (("code", ""), ("subcat", "subcategory "), ("seecat", "category ")):
        for item in element.findall(tag):
            code = normalize_code(item.text or "")
            if code and not prefix:
                node.codes["code"] = code
            elif code:
                node.see.append(prefix + code)
    if not node.codes and (match := _TITLE_CODE_RE.search(node.essential)) and columns == ("code",):
        node.codes["code"] = match.group(1)
        node.essential = node.essential[: match.start()]
    node.see += [_clean("".join(s.itertext())) for s in element.findall("see")]
    node.see_also += [_clean("".join(s.itertext())) for s in element.findall("seeAlso")]
    node.children = [c for c in (read_term(t, columns) for t in element.findall("term")) if c is not None]
    return node


def read_source(path: Path, table: str, columns: tuple[str, ...]) -> list[Node]:
    """The top-level terms of one index file, after checking its release and column headings."""
    root = ET.fromstring(gzip.decompress(path.read_bytes()))
    version = (root.findtext("version") or "").strip()
    if version != EXPECTED_VERSION:
        raise SystemExit(f"{path}: version {version!r}, expected {EXPECTED_VERSION}")
    headings = tuple(_clean(h.text or "") for h in root.iter("head"))
    if headings != HEADINGS[table]:
        raise SystemExit(f"{path}: column headings {headings} are not those of the {table} table")
    nodes = [read_term(main, columns) for main in root.iter("mainTerm")]
    return [n for n in nodes if n is not None]


def _name(text: str) -> str:
    """A term name as references and titles are compared: lower case, no modifiers, NEC or NOS, singular."""
    text = _NEC_NOS_RE.sub(" ", re.sub(r"\([^)]*\)", " ", text)).lower().replace("-", " ")
    return " ".join(w[:-1] if len(w) > 4 and w.endswith("s") and not w.endswith("ss") else w for w in text.split())


def _bag(text: str) -> str:
    """The words of a name in alphabetical order: "tap water" meets "water (tap)"."""
    return " ".join(sorted(_name(text.replace("(", " ").replace(")", " ")).split()))


def _keys(node: Node) -> set[str]:
    """The names a "see" reference may use for a term: its title, the first of its comma parts, its words."""
    return {_name(node.essential), _name(_COMMA_RE.split(node.essential)[0]), _bag(node.printed)}


def _step(level: list[Node], parts: list[str]) -> tuple[Node, list[str], bool] | None:
    """The child of ``level`` the next reference parts name, the parts left, and whether a part was split.

    Tried in turn: the longest run of parts that is a child's name ("Accident, transport"); a child whose
    name begins with the part ("aryepiglottic" -> "aryepiglottic fold"); a child named by the part's
    first words ("Carbon tetrachloride" -> "Carbon" then "tetrachloride").
    """
    for take in range(len(parts), 0, -1):
        name = ", ".join(parts[:take])
        for node in level:
            if name in _keys(node) or _bag(name) in _keys(node):
                return node, parts[take:], False
    for node in level:
        if any(key.startswith(parts[0] + " ") for key in _keys(node)):
            return node, parts[1:], False
    words = parts[0].split()
    for k in range(len(words) - 1, 0, -1):
        head = " ".join(words[:k])
        for node in level:
            if head in _keys(node):
                return node, [" ".join(words[k:])] + parts[1:], True
    return None


def find_target(roots: list[Node], reference: str, table: str) -> Node | None:
    """The term a "see" reference names in the same table, or ``None``.

    References are comma-separated paths ("Accident, transport, car occupant") whose parts may
    themselves contain commas. In the Table of Drugs, a reference that adds a salt the table does not
    list under the drug ("Diclofenac sodium") names the drug.
    """
    parts = [name for name in (_name(p) for p in reference.split(",")) if name]
    if table == NeoplasmTable.TABLE:
        if not parts or parts[0] != "neoplasm":
            return None
        parts = parts[1:]
    level, node, split = roots, None, False
    while parts:
        step = _step(level, parts)
        if step is None:
            return node if split and table == DrugTable.TABLE else None
        node, parts, split = step
        level = node.children
    return node


def _walk(nodes: list[Node]):
    for node in nodes:
        yield node
        yield from _walk(node.children)


def resolve_references(roots: list[Node], table: str) -> dict[str, int]:
    """Give code-less terms the codes of the term their "see" names; mark neoplasm sub-sites to graft.

    Returns:
        Counts of references followed, grafted and left as they are (for the build log).
    """
    counts = {"followed": 0, "grafted": 0, "kept": 0}
    for _ in range(2):  # a second pass follows a reference to a term that itself had one
        for node in _walk(roots):
            if node.codes or not node.see:
                continue
            target = find_target(roots, node.see[0], table)
            if target is not None and target.codes:
                node.codes, node.via = dict(target.codes), node.see[0]
                counts["followed"] += 1
    if table == NeoplasmTable.TABLE:
        counts["grafted"] = graft_sites(roots)
    counts["kept"] = sum(1 for n in _walk(roots) if n.see and not n.codes)
    return counts


def graft_sites(roots: list[Node]) -> int:
    """Make the sub-sites a neoplasm site's "see" or "see also" names reachable under it; return how many sites.

    "bowel" (see Neoplasm, intestine) gets the intestine's sub-sites ("bowel, small"); "colon" (see also
    Neoplasm, intestine, large) gets those of "intestine, large, colon" ("colon, ascending"), the
    target's own "colon" being the same site. Sub-sites the term already lists are not grafted, nor a
    reference into the term's own branch.
    """
    lineage: dict[int, set[int]] = {}

    def note_lineage(nodes: list[Node], above: set[int]) -> None:
        for node in nodes:
            lineage[id(node)] = above | {id(node)}
            note_lineage(node.children, lineage[id(node)])

    note_lineage(roots, set())
    grafted = 0
    for node in list(_walk(roots)):
        for reference in node.see[:1] + node.see_also:
            target = find_target(roots, reference, NeoplasmTable.TABLE)
            if target is None or id(target) in lineage[id(node)] or id(node) in lineage[id(target)]:
                continue
            same = [c for c in target.children if _keys(c) & _keys(node)]
            sites = same[0].children if same else target.children
            have = set().union(*(_keys(c) for c in node.children + node.graft))
            new = [site for site in sites if not _keys(site) & have]
            if new:
                node.graft += new
                node.graft_via = node.graft_via or reference
                grafted += 1
    return grafted


def encode(roots: list[Node], header: dict, columns: tuple[str, ...]) -> bytes:
    """The table file: header fields, unique titles, and one row per term in table order (parents first).

    ``titles`` holds each distinct title once: a string when it is printed as it reads (no modifiers),
    else ``[printed, essential, modifier, ...]``. Each row of ``entries`` is ``[title, parent, codes,
    see, see_also, via, graft, graft_via]`` with trailing empty fields left out: ``parent`` is a row
    number (-1: none), ``codes`` the codes of ``columns`` joined by "|" ("" where a column has none),
    ``graft`` the row numbers of terms whose branches are also reachable under this one (through the
    reference ``graft_via``).
    Rows and "|"-joined codes decode several times faster than objects, and loading time is what counts.
    """
    numbers = {id(node): number for number, node in enumerate(_walk(roots))}
    parents = {id(child): numbers[id(node)] for node in _walk(roots) for child in node.children}
    titles: dict[tuple, int] = {}
    entries: list[list] = []
    for node in _walk(roots):
        title = (node.printed, node.essential, *node.optional)
        codes = "|".join(node.codes.get(c, "") for c in columns) if node.codes else ""
        row = [
            titles.setdefault(title, len(titles)),
            parents.get(id(node), -1),
            codes,
            node.see,
            node.see_also,
            node.via,
            [numbers[id(n)] for n in node.graft],
            node.graft_via,
        ]
        while len(row) > 2 and row[-1] in ("", []):
            row.pop()
        entries.append(row)
    title_rows = [t[0] if t[0] == t[1] and len(t) == 2 else list(t) for t in titles]
    data = dict(header, titles=title_rows, entries=entries)
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def build(source: Path, table_class, out_dir: Path) -> Path:
    """Read one source and write its table file; return the file written."""
    columns = table_class.COLUMNS
    roots = read_source(source, table_class.TABLE, columns)
    header = {
        "format": TABLE_FORMAT,
        "table": table_class.TABLE,
        "release": CM_RELEASE,
        "source": {"file": source.name, "sha256": sha256(source), "publisher": "CDC/NCHS", "licence": "public domain"},
        "columns": list(columns),
    }
    if table_class is NeoplasmTable:
        # The main term "Neoplasm, neoplastic" is every entry's parent: its codes are the site-unspecified ones.
        (main,) = roots
        header["root_codes"], roots = "|".join(main.codes.get(c, "") for c in columns), main.children
    counts = resolve_references(roots, table_class.TABLE)
    out = out_dir / table_class.FILE
    out.write_bytes(encode(roots, header, columns))
    logger.info(
        "%s: %d terms, references %s -> %s (%d bytes)",
        source.name,
        sum(1 for _ in _walk(roots)),
        counts,
        out,
        out.stat().st_size,
    )
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: ``build_tables.py [--neoplasm F] [--drug F] [--eindex F] [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neoplasm", type=Path, default=SOURCE_DIR / "icd10cm-neoplasm-April-1-2026-XML.xml.gz")
    parser.add_argument("--drug", type=Path, default=SOURCE_DIR / "icd10cm-drug-April-1-2026-XML.xml.gz")
    parser.add_argument("--eindex", type=Path, default=SOURCE_DIR / "icd10cm-eindex-April-1-2026-XML.xml.gz")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="folder to write the table files to")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for source, table_class in (
        (args.neoplasm, NeoplasmTable),
        (args.drug, DrugTable),
        (args.eindex, ExternalCauseIndex),
    ):
        build(source, table_class, args.out)


if __name__ == "__main__":
    main()
