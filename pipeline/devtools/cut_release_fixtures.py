"""Cut the small release files the tests install (``tests/data/releases/``).

Usage::

    python pipeline/devtools/cut_release_fixtures.py [--out tests/data/releases]

Writes, gzipped (mtime 0, so a rebuild is byte-identical):

* ``icd10cm_tabular_2026_cut.xml.gz``: the FY2026 (April 2026) tabular shipped in ``simple-icd-10-cm``, cut to
  the categories the tiny test model codes (J18, R50, I10, E11, R07, C50, N20) and S72 (7th characters),
  within their blocks and chapters, notes untouched.
* ``icd10cm_tabular_2027_cut.xml.gz``: the same cut, as a made-up FY2027 with the kinds of edit a real
  release makes: J18.9 expanded (J18.91, J18.92, J18.99: J18.9 becomes a header), R50.9's title revised,
  R07.9 deleted (replaced by R07.89 in the conversion table below), N20.0 deleted (no replacement), a new
  Excludes1 note at R50.9 and a new "code first" note at N20.
* ``icd10cm_conversion_2027.txt``: the conversion table of that FY2027, as CDC lays it out (tab-separated).

The FY2025 and FY2026 ICD-10-PCS tables the tests use are CMS's own files, copied as they are.
"""

from __future__ import annotations

import argparse
import gzip
import xml.etree.ElementTree as ET
from pathlib import Path

import simple_icd_10_cm

TABULAR = Path(simple_icd_10_cm.__file__).parent / "data" / "icd10c-tabular-April-1-2026.xml"
OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "releases"
KEEP = {"J18", "R50", "I10", "E11", "R07", "C50", "N20", "S72"}


def cut(root: ET.Element, version: str) -> ET.Element:
    """A tabular of the kept categories only (their chapters and blocks, with their notes)."""
    out = ET.Element(root.tag)
    ET.SubElement(out, "version").text = version
    out.append(root.find("introduction"))
    for chapter in root.findall("chapter"):
        sections = [s for s in chapter.findall("section") if any(d.findtext("name") in KEEP for d in s.findall("diag"))]
        if not sections:
            continue
        for section in sections:
            for diag in section.findall("diag"):
                if diag.findtext("name") not in KEEP:
                    section.remove(diag)
        for child in list(chapter):
            if (child.tag == "section" and child not in sections) or child.tag == "sectionIndex":
                chapter.remove(child)
        out.append(chapter)
    return out


def _diag(root: ET.Element, name: str) -> tuple[ET.Element, ET.Element]:
    """A diag and its parent element."""
    for parent in root.iter():
        for child in parent.findall("diag"):
            if child.findtext("name") == name:
                return child, parent
    raise KeyError(name)


def edit_2027(root: ET.Element) -> None:
    """The made-up FY2027 changes (see the module docstring)."""
    j189, _ = _diag(root, "J18.9")
    for code, title in (("J18.91", "Pneumonia, unspecified organism, community-acquired"),
                        ("J18.92", "Pneumonia, unspecified organism, hospital-acquired"),
                        ("J18.99", "Pneumonia, unspecified organism, unspecified where acquired")):
        child = ET.SubElement(j189, "diag")
        ET.SubElement(child, "name").text = code
        ET.SubElement(child, "desc").text = title
    r509, _ = _diag(root, "R50.9")
    r509.find("desc").text = "Fever, unspecified cause"
    note = ET.SubElement(ET.SubElement(r509, "excludes1"), "note")
    note.text = "fever of newborn (P81.9)"
    for code in ("R07.9", "N20.0"):
        node, parent = _diag(root, code)
        parent.remove(node)
    n20, _ = _diag(root, "N20")
    ET.SubElement(ET.SubElement(n20, "codeFirst"), "note").text = "any associated hyperparathyroidism (E21.-)"


def write(root: ET.Element, path: Path) -> None:
    ET.indent(root)
    data = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"
    path.write_bytes(gzip.compress(data, mtime=0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write(cut(ET.parse(TABULAR).getroot(), "2026"), args.out / "icd10cm_tabular_2026_cut.xml.gz")
    edited = cut(ET.parse(TABULAR).getroot(), "2027")
    edit_2027(edited)
    write(edited, args.out / "icd10cm_tabular_2027_cut.xml.gz")
    (args.out / "icd10cm_conversion_2027.txt").write_text(
        "Current Code Assignment\tEffective Date\tPrevious Code(s) Assignment\nR07.89\t10/1/2026\tR07.9\n",
        encoding="utf-8")


if __name__ == "__main__":
    main()
