"""The code sets as a small knowledge base (scispaCy style).

One record type, :class:`CodeEntry`, for ICD-10-CM and ICD-10-PCS alike, and two indexes:
``code_to_entry`` (normalised code to record) and ``alias_to_codes`` (alias key, see
:mod:`pipeline.textnorm`, to the codes it names).

Sources:
    * ICD-10-CM: the tabular list shipped inside the ``simple-icd-10-cm`` package.
    * ICD-10-PCS: the CMS code-title file vendored in ``pipeline/data`` (public domain).
"""

from __future__ import annotations

import functools
import gzip
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources
from typing import Iterable

from pipeline.about import CM, CM_RELEASE, PCS, PCS_RELEASE
from pipeline.textnorm import alias_key, content_words, loose_words, strip_encounter

logger = logging.getLogger(__name__)

PCS_FILE = "icd10pcs-codes-2026.txt.gz"
#: Aliases longer than this (in content words) never match a note window, so are not indexed.
MAX_ALIAS_WORDS = 6
_DEFAULT_TAIL_RE = re.compile(r"\bunspecified\b|\bnot elsewhere classified\b|\bNOS\b", re.IGNORECASE)
_DEFAULT_CHILD_RE = re.compile(r"\bunspecified\b|\bwithout\b", re.IGNORECASE)
_PAREN_RE = re.compile(r"\([^)]*\)")
_PCS_TITLE_CUT_RE = re.compile(r",|\busing\b|\bwith\b", re.IGNORECASE)
#: A code reference inside an ICD-10-CM note: "(E08.-)", "(P70.2)", "(A00-A09)".
_REF_RE = re.compile(r"\b([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?)(?:\.?-)?(?:-([A-Z][0-9][0-9A-Z]))?")


@dataclass(frozen=True)
class CodeEntry:
    """One code of a code set.

    Attributes:
        code: normalised code (ICD-10-CM upper case with its dot, ICD-10-PCS upper case).
        system: ``"ICD-10-CM"`` or ``"ICD-10-PCS"``.
        title: the official long title.
        aliases: other names (inclusion terms, shortened titles), official title first.
        billable: whether the code may be reported as it is (a leaf that needs no 7th character).
        chapter: ICD-10-CM chapter number, or the PCS section character.
        parent: the code one level up, or ``None`` at the top.
    """

    code: str
    system: str
    title: str
    aliases: tuple[str, ...] = ()
    billable: bool = True
    chapter: str | None = None
    parent: str | None = None


def normalize_code(raw: str, system: str | None = None) -> str:
    """Normalise a code as written by a person or a corpus.

    ICD-10-CM codes get upper case and a dot after the category (``n2889`` -> ``N28.89``);
    ICD-10-PCS codes get upper case.

    Args:
        raw: the code as written.
        system: the code system when known; otherwise guessed from the shape (a dot or a
            leading letter followed by two digits means ICD-10-CM).

    Returns:
        The normalised code.
    """
    code = raw.strip().upper().replace(" ", "")
    if system is None:
        system = CM if ("." in code or re.match(r"^[A-Z][0-9]{2}", code) and len(code) < 7) else PCS
    if system == CM and "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code


def as_notes(value) -> list[str]:
    """simple-icd-10-cm gives some notes as a list and others as one multi-line string."""
    if isinstance(value, str):
        lines = [line.strip() for line in value.splitlines() if line.strip()]
        return ["; ".join(lines)] if lines else []
    return list(value)


@functools.lru_cache(maxsize=None)
def _references(note: str) -> tuple[tuple[str, str | None], ...]:
    """The codes a note names: ``(code or prefix, None)`` or ``(first, last)`` category of a range."""
    return tuple((match.group(1), match.group(2)) for match in _REF_RE.finditer(note))


def _names(references: tuple[tuple[str, str | None], ...], code: str) -> bool:
    """Whether references name ``code``, by itself, by a prefix (``E08.-``) or in a range (``A00-A09``)."""
    for start, end in references:
        if end:
            if start[:3] <= code[:3] <= end:
                return True
        elif code.startswith(start):
            return True
    return False


class Excludes1Index:
    """The Excludes1 notes of ICD-10-CM, small enough to ship in a model folder.

    A note written at a category, block or chapter applies to every code below it, so a code's
    notes are those of its dotted prefixes plus those of its category's ancestors. Only nodes
    that carry a note are stored (about 2,700 of the 98,000 in FY2026), which keeps the check
    free of the code-set package at prediction time.

    Attributes:
        notes: ``{node: [note, ...]}`` for the nodes that have Excludes1 notes.
        parents: ``{category: [block, chapter, ...]}`` for categories whose non-prefix ancestors
            have notes.
    """

    def __init__(self, notes: dict[str, list[str]], parents: dict[str, list[str]]):
        self.notes = notes
        self.parents = parents
        # Per code: its notes with their parsed references and the chapter letters they can name
        # (None when a range may span letters). Filled on first use: a prediction asks about a
        # few dozen codes, and the same codes again and again.
        self._checks: dict[str, list[tuple[str, tuple, frozenset | None]]] = {}

    @classmethod
    def from_code_set(cls) -> "Excludes1Index":
        """Build the index from the ICD-10-CM tabular (simple-icd-10-cm)."""
        import simple_icd_10_cm as cm  # parsing its XML takes seconds: only when building

        notes = {}
        for node in cm.get_all_codes(True):
            found = as_notes(cm.get_excludes1(node))
            if found:
                notes[node] = found
        parents = {}
        for node in cm.get_all_codes(True):
            if cm.is_category(node):
                above = [a for a in cm.get_ancestors(node) if a in notes]
                if above:
                    parents[node] = above
        return cls(notes, parents)

    def to_dict(self) -> dict:
        return {"notes": self.notes, "parents": self.parents}

    @classmethod
    def from_dict(cls, data: dict) -> "Excludes1Index":
        return cls(data["notes"], data["parents"])

    def notes_for(self, code: str) -> list[str]:
        """Excludes1 notes of a code and of every ancestor, nearest first."""
        nodes = [code[:i] for i in range(len(code), 2, -1) if code[i - 1] != "."]
        nodes += self.parents.get(code[:3], [])
        return [note for node in nodes for note in self.notes.get(node, [])]

    def conflicts(self, codes: list[str]) -> list[dict]:
        """Pairs of codes that an Excludes1 note says cannot be reported together.

        Args:
            codes: ICD-10-CM codes with dots (``E11.9``), in any order.

        Returns:
            ``[{"codes": [a, b], "note": note}]``, one entry per (code whose note it is, code it names).
        """
        out = []
        for a in codes:
            for note, references, letters in self._checks_of(a):
                for b in codes:
                    if b != a and (letters is None or b[0] in letters) and _names(references, b):
                        out.append({"codes": [a, b], "note": note})
        return out

    def _checks_of(self, code: str) -> list[tuple[str, tuple, frozenset | None]]:
        checks = self._checks.get(code)
        if checks is None:
            checks = []
            for note in self.notes_for(code):
                references = _references(note)
                if references:
                    spans_letters = any(end and end[0] != start[0] for start, end in references)
                    checks.append((note, references, None if spans_letters else frozenset(s[0] for s, _ in references)))
            self._checks[code] = checks
        return checks


class KnowledgeBase:
    """ICD-10-CM and ICD-10-PCS codes with their titles and aliases.

    Build it with :meth:`load` (cached per process); the constructor takes ready records so tests
    can build a tiny one.
    """

    def __init__(self, entries: Iterable[CodeEntry], excludes1: Excludes1Index | None = None):
        self.excludes1 = excludes1 or Excludes1Index({}, {})
        self.code_to_entry: dict[str, CodeEntry] = {}
        self.alias_to_codes: dict[str, set[str]] = defaultdict(set)
        for entry in entries:
            self.code_to_entry[entry.code] = entry
            for alias in entry.aliases:
                key = alias_key(content_words(alias))
                if key:
                    self.alias_to_codes[key].add(entry.code)
        self.alias_to_codes = dict(self.alias_to_codes)
        self._children: dict[str, list[str]] | None = None

    def children(self, code: str) -> list[str]:
        """The codes one level under ``code``, in code order (index built on first use)."""
        if self._children is None:
            self._children = defaultdict(list)
            for entry in self.code_to_entry.values():
                if entry.parent:
                    self._children[entry.parent].append(entry.code)
            for kids in self._children.values():
                kids.sort()
        return self._children.get(code, [])

    def default_children(self, code: str, limit: int = 3) -> list[str]:
        """Billable descendants a coder takes when the note says no more than the header does.

        Those whose title says "unspecified" or "without ..." (``E11`` -> ``E11.9``), nearest first.
        """
        found, level = [], [code]
        while level and len(found) < limit:
            # Codes ending in 9 are ICD's "unspecified" slot: try them first.
            level = [c for parent in level
                     for c in sorted(self.children(parent), key=lambda c: (not c.endswith("9"), c))]
            for child in level:
                entry = self.code_to_entry[child]
                if entry.billable and _DEFAULT_CHILD_RE.search(entry.title):
                    found.append(child)
        return found[:limit]

    @property
    def release(self) -> dict[str, str]:
        """The code-set releases this knowledge base holds."""
        return {CM: CM_RELEASE, PCS: PCS_RELEASE}

    def __len__(self) -> int:
        return len(self.code_to_entry)

    def __contains__(self, code: str) -> bool:
        return self.get(code) is not None

    def get(self, code: str) -> CodeEntry | None:
        """Return the record of a normalised code, or ``None`` if the release does not have it."""
        return self.code_to_entry.get(code)

    def system_of(self, code: str) -> str | None:
        """Return which code system a normalised code belongs to, or ``None`` if it is in neither."""
        entry = self.get(code)
        return entry.system if entry else None

    def title(self, code: str) -> str:
        """Return the title of a code, or an empty string for a code the release does not have."""
        entry = self.get(code)
        return entry.title if entry else ""

    @classmethod
    @functools.cache
    def load(cls) -> "KnowledgeBase":
        """Build the full knowledge base (both code sets); cached, so later calls are free."""
        entries = list(_cm_entries()) + list(_pcs_entries())
        kb = cls(entries, Excludes1Index.from_code_set())
        logger.info("knowledge base: %d codes, %d alias keys", len(kb), len(kb.alias_to_codes))
        return kb


def cm_aliases(title: str, inclusion_terms: Iterable[str]) -> tuple[str, ...]:
    """Return the aliases of an ICD-10-CM code: its title, shortened forms and inclusion terms."""
    aliases = [title]
    base = strip_encounter(title) if ("encounter" in title or "sequela" in title) else title
    head, comma, rest = base.partition(", ")
    if comma and _DEFAULT_TAIL_RE.search(rest):
        # "Pneumonia, unspecified organism" is what the index calls plain "Pneumonia".
        aliases.append(head)
    loose = " ".join(loose_words(content_words(base)))
    sided = " ".join(loose_words(content_words(base), keep_laterality=True))
    # Parenthesised words are "nonessential modifiers": the term holds with or without them.
    bare = [_PAREN_RE.sub(" ", term) for term in (base, *inclusion_terms) if "(" in term]
    for alias in (base, loose, sided, *inclusion_terms, *bare):
        if alias and alias not in aliases:
            aliases.append(alias)
    return tuple(aliases)


def pcs_aliases(title: str) -> tuple[str, ...]:
    """Return the aliases of an ICD-10-PCS code: its title and the title cut before its qualifiers."""
    head = _PCS_TITLE_CUT_RE.split(title, maxsplit=1)[0].strip()
    aliases = [title]
    # Notes say "chest X-ray", not "plain radiography of chest".
    for alias in (head, head.removeprefix("Plain ")):
        if alias and alias not in aliases:
            aliases.append(alias)
    return tuple(aliases)


def seven_chr_def(code: str) -> dict[str, str]:
    """Return the valid 7th characters of an ICD-10-CM code (inherited from its ancestors)."""
    import simple_icd_10_cm as cm

    for item in [code, *cm.get_ancestors(code)]:
        definition = cm.get_seven_chr_def(item)
        if definition:
            return definition
    return {}


def _cm_entries() -> Iterable[CodeEntry]:
    import simple_icd_10_cm as cm  # imported here: it parses its XML on import

    for code in cm.get_all_codes(with_dots=True):
        if cm.is_chapter_or_block(code):
            continue
        title = cm.get_description(code)
        ancestors = cm.get_ancestors(code)
        # A leaf under a category with 7th characters is billable only once it has its 7th.
        billable = cm.is_leaf(code) and (len(code) == 8 or not seven_chr_def(code))
        yield CodeEntry(
            code=code,
            system=CM,
            title=title,
            aliases=cm_aliases(title, [*cm.get_inclusion_term(code), *cm.get_includes(code)]),
            billable=billable,
            chapter=ancestors[-1] if ancestors else None,
            parent=cm.get_parent(code) or None,
        )


def read_pcs_titles() -> dict[str, str]:
    """Read the vendored CMS ICD-10-PCS code-title file into ``{code: title}``."""
    path = resources.files("pipeline.data").joinpath(PCS_FILE)
    titles = {}
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            code, _, title = line.rstrip("\n").partition(" ")
            if code:
                titles[code] = title.strip()
    return titles


def _common_title(titles: list[str]) -> str:
    """Longest common word prefix of several titles, trimmed of a dangling function word."""
    first = titles[0].split()
    n = len(first)
    for title in titles[1:]:
        words = title.split()
        n = min(n, len(words))
        for i in range(n):
            if words[i] != first[i]:
                n = i
                break
    words = first[:n]
    while words and words[-1].lower().strip(",") in {"of", "with", "to", "using", "and", "in", "for"}:
        words.pop()
    return " ".join(words).rstrip(",")


def _pcs_entries() -> Iterable[CodeEntry]:
    titles = read_pcs_titles()
    # ICD-10-PCS has no official titles for partial codes, but coders (and the CodiEsp gold) use
    # 3- and 4-character prefixes; give each the words its codes all share.
    children: dict[str, list[str]] = defaultdict(list)
    for code, title in titles.items():
        children[code[:3]].append(title)
        children[code[:4]].append(title)
    for prefix, kids in children.items():
        title = _common_title(kids) or kids[0]
        parent = prefix[:3] if len(prefix) == 4 else None
        yield CodeEntry(prefix, PCS, title, pcs_aliases(title), False, prefix[0], parent)
    for code, title in titles.items():
        yield CodeEntry(code, PCS, title, pcs_aliases(title), True, code[0], code[:4])
