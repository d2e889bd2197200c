"""The code sets as a small knowledge base (scispaCy style).

One record type, :class:`CodeEntry`, for ICD-10-CM and ICD-10-PCS alike, and two indexes:
``code_to_entry`` (``(system, code)`` to record) and ``alias_to_codes`` (alias key, see
:mod:`medcode.textnorm`, to the ``(system, code)`` pairs it names).

Codes are keyed by system *and* code because the two systems share strings: ``B20`` is HIV disease in
ICD-10-CM and the plain-radiography-of-the-heart prefix in ICD-10-PCS.

Sources:
    * ICD-10-CM: the tabular list shipped inside the ``simple-icd-10-cm`` package.
    * ICD-10-PCS: the CMS code-title file vendored in ``medcode/data`` (public domain).
"""

from __future__ import annotations

import functools
import gzip
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources

from medcode.about import CM, CM_RELEASE, PCS, PCS_RELEASE
from medcode.codesets.excludes import Excludes1Index
from medcode.textnorm import alias_key, content_words, loose_words, strip_encounter

logger = logging.getLogger(__name__)

PCS_FILE = "icd10pcs-codes-2026.txt.gz"
_DEFAULT_TAIL_RE = re.compile(r"\bunspecified\b|\bnot elsewhere classified\b|\bNOS\b", re.IGNORECASE)
_DEFAULT_CHILD_RE = re.compile(r"\bunspecified\b|\bwithout\b", re.IGNORECASE)
_PAREN_RE = re.compile(r"\([^)]*\)")
_PCS_TITLE_CUT_RE = re.compile(r",|\busing\b|\bwith\b", re.IGNORECASE)
_CM_CATEGORY_RE = re.compile(r"^[A-Z][0-9][0-9A-Z]$")

#: A code as the knowledge base keys it.
Key = tuple[str, str]


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
        parent: the code one level up in the same system, or ``None`` at the top.
        terms: the tabular's inclusion terms (ICD-10-CM), the other names a code is indexed under.
    """

    code: str
    system: str
    title: str
    aliases: tuple[str, ...] = ()
    billable: bool = True
    chapter: str | None = None
    parent: str | None = None
    terms: tuple[str, ...] = ()

    @property
    def key(self) -> Key:
        return (self.system, self.code)


def guess_system(code: str) -> str:
    """The code system of a code written without one, by its shape alone.

    A code with a dot, or a three-character category such as ``R52``, is ICD-10-CM; anything else is
    ICD-10-PCS (the rule the README documents for JSONL and CSV code lists). Where the shape is
    ambiguous and a knowledge base is at hand, :meth:`KnowledgeBase.resolve` asks it.
    """
    code = code.strip().upper()
    return CM if ("." in code or _CM_CATEGORY_RE.match(code)) else PCS


def normalize_code(raw: str, system: str | None = None) -> str:
    """Normalise a code as written by a person or a corpus.

    ICD-10-CM codes get upper case and a dot after the category (``n2889`` -> ``N28.89``);
    ICD-10-PCS codes get upper case.

    Args:
        raw: the code as written.
        system: the code system when known; otherwise :func:`guess_system`.

    Returns:
        The normalised code.
    """
    code = raw.strip().upper().replace(" ", "")
    system = system or guess_system(code)
    if system == CM and "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code


class KnowledgeBase:
    """ICD-10-CM and ICD-10-PCS codes with their titles and aliases, keyed by ``(system, code)``.

    Build it with :meth:`load` (cached per process); the constructor takes ready records so tests
    can build a tiny one.
    """

    def __init__(self, entries: Iterable[CodeEntry], excludes1: Excludes1Index | None = None,
                 releases: dict | None = None, cm=None):
        self.excludes1 = excludes1 or Excludes1Index({}, {})
        #: ``{system: Release}`` the entries come from (``None``: the bundled release).
        self.releases = releases
        self._cm = cm
        self.code_to_entry: dict[Key, CodeEntry] = {}
        alias_to_codes: dict[str, set[Key]] = defaultdict(set)
        for entry in entries:
            if entry.key in self.code_to_entry:
                raise ValueError(f"{entry.system} {entry.code} is listed twice")
            self.code_to_entry[entry.key] = entry
            for alias in entry.aliases:
                key = alias_key(content_words(alias))
                if key:
                    alias_to_codes[key].add(entry.key)
        self.alias_to_codes = dict(alias_to_codes)
        self._children: dict[Key, list[str]] | None = None

    def __len__(self) -> int:
        return len(self.code_to_entry)

    def get(self, code: str, system: str) -> CodeEntry | None:
        """The record of a normalised code of a system, or ``None`` if the release does not have it."""
        return self.code_to_entry.get((system, code))

    def title(self, code: str, system: str) -> str:
        """The title of a code, or an empty string for a code the release does not have."""
        entry = self.get(code, system)
        return entry.title if entry else ""

    def entries(self, system: str | None = None) -> Iterator[CodeEntry]:
        """Every record, or those of one system."""
        return (e for e in self.code_to_entry.values() if system is None or e.system == system)

    def resolve(self, raw: str) -> tuple[str, str]:
        """``(system, normalised code)`` for a code typed by a person.

        The shape decides (:func:`guess_system`) unless the code is not in that system and is in the
        other: ``S72001A`` typed without its dot is still the ICD-10-CM fracture code.
        """
        system = guess_system(raw)
        code = normalize_code(raw, system)
        if self.get(code, system) is None:
            other = PCS if system == CM else CM
            other_code = normalize_code(raw, other)
            if self.get(other_code, other) is not None:
                return other, other_code
        return system, code

    def children(self, code: str, system: str) -> list[str]:
        """The codes one level under ``code`` in its system, in code order (index built on first use)."""
        if self._children is None:
            children: dict[Key, list[str]] = defaultdict(list)
            for entry in self.code_to_entry.values():
                if entry.parent:
                    children[(entry.system, entry.parent)].append(entry.code)
            for kids in children.values():
                kids.sort()
            self._children = dict(children)
        return self._children.get((system, code), [])

    def billable_descendants(self, code: str, system: str) -> list[str]:
        """Every billable code under a header, in code order."""
        found, level = [], [code]
        while level:
            level = [c for parent in level for c in self.children(parent, system)]
            found += [c for c in level if self.code_to_entry[(system, c)].billable]
        return sorted(found)

    def default_children(self, code: str, limit: int = 3) -> list[str]:
        """Billable ICD-10-CM descendants a coder takes when the note says no more than the header does.

        Those whose title says "unspecified" or "without ..." (``E11`` -> ``E11.9``), nearest first.
        """
        found, level = [], [code]
        while level and len(found) < limit:
            # Codes ending in 9 are ICD's "unspecified" slot: try them first.
            level = [c for parent in level
                     for c in sorted(self.children(parent, CM), key=lambda c: (not c.endswith("9"), c))]
            for child in level:
                entry = self.code_to_entry[(CM, child)]
                if entry.billable and _DEFAULT_CHILD_RE.search(entry.title):
                    found.append(child)
        return found[:limit]

    @property
    def release(self) -> dict[str, str]:
        """The code-set releases this knowledge base holds."""
        if self.releases:
            return {s: self.releases[s].titles[s] for s in (CM, PCS)}
        return {CM: CM_RELEASE, PCS: PCS_RELEASE}

    @property
    def cm(self):
        """The ICD-10-CM tabular the entries come from: ``simple_icd_10_cm`` itself for the bundled release,
        else a :class:`medcode.codesets.cmtabular.CmTabular` (the same questions, the same names)."""
        return self._cm if self._cm is not None else _cm()

    @classmethod
    @functools.cache
    def load(cls) -> KnowledgeBase:
        """Build the full knowledge base (both code sets); cached, so later calls are free."""
        entries = list(_cm_entries()) + list(_pcs_entries())
        kb = cls(entries, Excludes1Index.from_code_set())
        logger.info("knowledge base: %d codes, %d alias keys", len(kb), len(kb.alias_to_codes))
        return kb

    @classmethod
    def for_release(cls, release) -> KnowledgeBase:
        """The knowledge base of a release (:class:`medcode.codesets.releases.Release`); a code set it
        does not hold comes from the bundled release."""
        from medcode.codesets.releases import bundled_release

        return cls.for_releases({s: release if s in release.titles else bundled_release() for s in (CM, PCS)})

    @classmethod
    def for_releases(cls, choice: dict) -> KnowledgeBase:
        """The knowledge base of ``{system: Release}`` (see :func:`medcode.codesets.releases.resolve_releases`);
        cached per choice. All bundled: :meth:`load` itself."""
        if all(choice[s].bundled for s in (CM, PCS)):
            return cls.load()
        return cls._for_releases(choice[CM], choice[PCS])

    @classmethod
    @functools.lru_cache(maxsize=2)
    def _for_releases(cls, cm_release, pcs_release) -> KnowledgeBase:
        from medcode.codesets.releases import cm_tabular, pcs_titles

        choice = {CM: cm_release, PCS: pcs_release}
        cm = cm_tabular(choice[CM])
        entries = list(_cm_entries(cm)) + list(_pcs_entries(pcs_titles(choice[PCS])))
        kb = cls(entries, Excludes1Index.from_code_set(cm), dict(choice), None if choice[CM].bundled else cm)
        logger.info("knowledge base of %s: %d codes", ", ".join(kb.release.values()), len(kb))
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


def _cm():
    import simple_icd_10_cm as cm  # imported on first use: it parses its XML on import

    return cm


def seven_chr_def(code: str, cm=None) -> dict[str, str]:
    """Return the valid 7th characters of an ICD-10-CM code (inherited from its ancestors).

    ``cm`` is the tabular to read (:attr:`KnowledgeBase.cm`; default: the bundled release).
    """
    cm = cm or _cm()
    for item in [code, *cm.get_ancestors(code)]:
        definition = cm.get_seven_chr_def(item)
        if definition:
            return definition
    return {}


def cm_tabular_codes(cm=None) -> list[str]:
    """Every ICD-10-CM category, subcategory and code of the tabular, each once, in tabular order.

    ``simple_icd_10_cm`` lists a category that forms a block of its own (``C50``, ``Z66``, ``B20``:
    block and category share the name) twice, once as each; such a name is a code, not only a block.
    """
    cm = cm or _cm()
    return list(dict.fromkeys(c for c in cm.get_all_codes(with_dots=True)
                              if not cm.is_chapter(c) and (cm.is_category(c) or not cm.is_block(c))))


def cm_parent(code: str, cm=None) -> str | None:
    """The ICD-10-CM code one level up, or ``None`` for a category (its block is not a code)."""
    if len(code) <= 3:
        return None
    parent = (cm or _cm()).get_parent(code)
    return parent if parent and parent != code else None


def _cm_entries(cm=None) -> Iterable[CodeEntry]:
    cm = cm or _cm()
    for code in cm_tabular_codes(cm):
        title = cm.get_description(code)
        ancestors = cm.get_ancestors(code)
        # A leaf under a category with 7th characters is billable only once it has its 7th.
        billable = cm.is_leaf(code) and (len(code) == 8 or not seven_chr_def(code, cm))
        terms = tuple(dict.fromkeys([*cm.get_inclusion_term(code), *cm.get_includes(code)]))
        yield CodeEntry(
            code=code,
            system=CM,
            title=title,
            aliases=cm_aliases(title, terms),
            billable=billable,
            chapter=ancestors[-1] if ancestors else None,
            parent=cm_parent(code, cm),
            terms=terms,
        )


def read_pcs_titles() -> dict[str, str]:
    """Read the vendored CMS ICD-10-PCS code-title file into ``{code: title}``."""
    path = resources.files("medcode.data").joinpath(PCS_FILE)
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


def _pcs_entries(titles: dict[str, str] | None = None) -> Iterable[CodeEntry]:
    titles = titles if titles is not None else read_pcs_titles()
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


#: How many characters make a code's grouping (:func:`category`), for hot loops that slice codes themselves.
CATEGORY_LENGTH = {CM: 3, PCS: 4}


def category(code: str, system: str) -> str:
    """The grouping a code belongs to: ICD-10-CM category (3 characters) or PCS body part (4)."""
    return code[:CATEGORY_LENGTH[system]]


@functools.lru_cache(maxsize=65536)
def ancestors(code: str, system: str) -> tuple[str, ...]:
    """Shorter forms of a code a coder may stop at: ``S72.001A`` -> ``S72.001``, ``S72.00``, ...``S72``."""
    if system == CM:
        body = code.replace(".", "")
        return tuple(normalize_code(body[:n], CM) for n in range(len(body) - 1, 2, -1))
    return tuple(code[:n] for n in (4, 3) if n < len(code))
