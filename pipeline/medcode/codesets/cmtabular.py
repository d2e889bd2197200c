"""An ICD-10-CM tabular list as data: what medcode reads of a release other than the bundled one.

``simple_icd_10_cm`` parses the CDC tabular XML into a tree held in module globals, so it holds one
release per process; medcode's bundled release is that one. :class:`CmTabular` holds any other release
as plain records (one per chapter, block and code, with its notes and 7th characters) and answers the
same questions with the same names as the package (``get_description``, ``get_ancestors``,
``get_seven_chr_def``, ...), so the code that reads the bundled release reads an installed one unchanged.

:func:`read_tabular` builds one from a CDC tabular XML with ``simple_icd_10_cm``'s own parser (its
``change_version`` run on a private copy of the module, so the bundled release stays loaded), which
keeps the bundled and installed releases read by one parser: a release diffed against itself is empty.
"""

from __future__ import annotations

import importlib.util
import logging
import secrets
import sys
import tempfile
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

logger = logging.getLogger(__name__)

#: The list fields of a tabular node, and the string ones (notes joined by newlines), as the package names them.
LIST_FIELDS = ("excludes1", "excludes2", "includes", "inclusion_term")
TEXT_FIELDS = ("seven_chr_note", "use_additional_code", "code_first", "code_also", "notes")


class CmTabular:
    """An ICD-10-CM tabular list: chapters, blocks and codes with their notes, in tabular order.

    Args:
        version: the tabular's ``<version>`` (the fiscal year, e.g. ``"2027"``).
        nodes: ``[name, type, parent index or -1, description, fields]`` per node, in tabular (pre-)order;
            ``type`` is the package's (``chapter``, ``section``, ``category``, ``subcategory``,
            ``extended subcategory``), ``fields`` holds the non-empty notes and ``seven_chr_def``.
    """

    def __init__(self, version: str, nodes: list[list]):
        self.version = version
        self.nodes = nodes
        # A block named like its only category (C50, Z66): the category answers, as in the package.
        self._by_name = {node[0]: i for i, node in enumerate(nodes)}
        self._children: dict[int, list[int]] = {}
        for i, node in enumerate(nodes):
            self._children.setdefault(node[2], []).append(i)

    # ------------------------------------------------------------------ building and storing
    @classmethod
    def from_module(cls, module, version: str = "") -> CmTabular:
        """Copy the tree a ``simple_icd_10_cm`` module holds (its private ``_chapter_list``, pinned 1.5.0)."""
        # The package re-exports only public names; its tree is in the submodule of the same name.
        module = getattr(module, "simple_icd_10_cm", module)
        nodes: list[list] = []
        stack = [(chapter, -1) for chapter in reversed(module._chapter_list)]
        while stack:
            tree, parent = stack.pop()
            fields = {name: list(getattr(tree, name)) for name in LIST_FIELDS if getattr(tree, name)}
            fields.update({name: getattr(tree, name) for name in TEXT_FIELDS if getattr(tree, name)})
            if tree.seven_chr_def:
                fields["seven_chr_def"] = dict(tree.seven_chr_def)
            nodes.append([tree.name, tree.type, parent, tree.description, fields])
            index = len(nodes) - 1
            stack.extend((child, index) for child in reversed(tree.children))
        return cls(version, nodes)

    def to_dict(self) -> dict:
        return {"version": self.version, "nodes": self.nodes}

    @classmethod
    def from_dict(cls, data: dict) -> CmTabular:
        return cls(str(data["version"]), data["nodes"])

    # ------------------------------------------------------------------ the package's questions
    def _index(self, code: str) -> int:
        if code in self._by_name:
            return self._by_name[code]
        dotted = f"{code[:3]}.{code[3:]}" if len(code) >= 4 else code
        if dotted in self._by_name:
            return self._by_name[dotted]
        raise ValueError(f'The code "{code}" does not exist.')

    def _field(self, code: str, name: str, empty):
        return self.nodes[self._index(code)][4].get(name, empty)

    def is_valid_item(self, code: str) -> bool:
        return code in self._by_name or (len(code) >= 4 and f"{code[:3]}.{code[3:]}" in self._by_name)

    def get_description(self, code: str) -> str:
        return self.nodes[self._index(code)][3]

    def get_parent(self, code: str) -> str:
        parent = self.nodes[self._index(code)][2]
        return self.nodes[parent][0] if parent >= 0 else ""

    def get_children(self, code: str) -> list[str]:
        return [self.nodes[i][0] for i in self._children.get(self._index(code), [])]

    def is_leaf(self, code: str) -> bool:
        return not self._children.get(self._index(code))

    def get_ancestors(self, code: str) -> list[str]:
        out, parent = [], self.nodes[self._index(code)][2]
        while parent >= 0:
            out.append(self.nodes[parent][0])
            parent = self.nodes[parent][2]
        return out

    def _type(self, code: str) -> str:
        return self.nodes[self._by_name[code]][1] if code in self._by_name else ""

    def is_chapter(self, code: str) -> bool:
        return self._type(code) == "chapter"

    def is_category(self, code: str) -> bool:
        return self._type(code) == "category"

    def is_block(self, code: str) -> bool:
        if code not in self._by_name:
            return False
        node = self.nodes[self._by_name[code]]
        return node[1] == "section" or (node[2] >= 0 and self.nodes[node[2]][0] == code)

    def get_all_codes(self, with_dots: bool = True) -> list[str]:
        names = [node[0] for node in self.nodes]
        return names if with_dots else [n.replace(".", "") if len(n) > 4 and n[3] == "." else n for n in names]

    def get_seven_chr_def(self, code: str, search_in_ancestors: bool = False) -> dict[str, str]:
        for item in [code, *(self.get_ancestors(code) if search_in_ancestors else [])]:
            found = self._field(item, "seven_chr_def", {})
            if found:
                return dict(found)
        return {}

    def get_excludes1(self, code: str) -> list[str]:
        return list(self._field(code, "excludes1", []))

    def get_excludes2(self, code: str) -> list[str]:
        return list(self._field(code, "excludes2", []))

    def get_includes(self, code: str) -> list[str]:
        return list(self._field(code, "includes", []))

    def get_inclusion_term(self, code: str) -> list[str]:
        return list(self._field(code, "inclusion_term", []))

    def get_code_first(self, code: str) -> str:
        return self._field(code, "code_first", "")

    def get_use_additional_code(self, code: str) -> str:
        return self._field(code, "use_additional_code", "")

    def get_code_also(self, code: str) -> str:
        return self._field(code, "code_also", "")

    def get_notes(self, code: str) -> str:
        return self._field(code, "notes", "")


def extension_codes(root: ET.Element) -> set[str]:
    """Every code a tabular's 7th-character definitions allow (without dots), for a release given
    without its code file: each leaf under a ``sevenChrDef`` with each of its characters."""
    found: set[str] = set()

    def walk(node: ET.Element, inherited: list[str]) -> None:
        own = node.find("sevenChrDef")
        chars = [e.get("char") for e in own.findall("extension")] if own is not None else inherited
        kids = node.findall("diag")
        name = (node.findtext("name") or "").strip()
        if node.tag == "diag" and name:
            found.add(name.replace(".", ""))
            if not kids and chars:
                base = (name if len(name) > 3 else name + ".").ljust(7, "X")
                found.update(base[:3] + base[4:] + c for c in chars if c)
        for child in [*node.findall("section"), *kids]:
            walk(child, chars)

    for chapter in root.findall("chapter"):
        walk(chapter, [])
    return found


def read_tabular(xml_path: Path, codes: set[str], version: str) -> CmTabular:
    """Parse a CDC ICD-10-CM tabular XML with ``simple_icd_10_cm``'s parser, on a private module copy.

    Args:
        xml_path: the tabular XML (UTF-8).
        codes: the valid codes without dots (the release's code file, or :func:`extension_codes`): the
            package keeps a 7th-character code only when the list has it.
        version: the tabular's version, recorded with it.

    Raises:
        ValueError, xml.etree.ElementTree.ParseError: when the package cannot read the file.
    """
    spec = importlib.util.find_spec("simple_icd_10_cm.simple_icd_10_cm")
    name = f"simple_icd_10_cm._medcode_release_{secrets.token_hex(4)}"
    copy_spec = importlib.util.spec_from_file_location(name, spec.origin)
    module = importlib.util.module_from_spec(copy_spec)
    sys.modules[name] = module
    with tempfile.TemporaryDirectory(prefix="medcode-cm-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code_list = Path(tmp) / "codes.txt"
        code_list.write_text("\n".join(sorted(codes)) + "\n", encoding="utf-8")
        try:
            # Importing the copy parses the bundled tabular first (about 2 s): the package has no other way in.
            copy_spec.loader.exec_module(module)
            module.change_version(str(code_list), str(xml_path))
            tabular = CmTabular.from_module(module, version)
        finally:
            sys.modules.pop(name, None)
    logger.info("ICD-10-CM tabular %s: %d nodes", version, len(tabular.nodes))
    return tabular
