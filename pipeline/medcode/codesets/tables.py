"""The ICD-10-CM index tables: the Table of Neoplasms, the Table of Drugs and Chemicals, the External Cause Index.

Each table is vendored in ``medcode/data`` as gzipped JSON built by ``pipeline/devtools/build_tables.py``
from the CDC/NCHS XML (public domain). The file keeps the tables' own structure (term paths, titles as
printed, codes as printed, "see" references); everything that depends on how medcode normalises words
(stopwords, singulars, ``synonyms.json``) is done here, at load time, so a table always matches note
text the same way the rest of medcode does, whatever the synonyms say today.

A lookup takes the canonical content words of a sentence (what :func:`medcode.textnorm.content_words`
returns) and returns every entry all of whose path words are among them, most specific first::

    words = set(content_words("Adenocarcinoma of the right upper lobe of the lung."))
    NeoplasmTable.load().find(words)[0].path      # ("lung", "upper lobe")

How the tables' printing conventions are read:

* A sub-term inherits its parents: "lung" > "upper lobe" is the path ``("lung", "upper lobe")`` and needs
  both words. The Table of Neoplasms' main term ("Neoplasm, neoplastic") is left out of paths: every
  entry of that table is about a neoplasm, and its own codes are :attr:`NeoplasmTable.site_unspecified`.
* Nonessential modifiers, the parenthesised words of a title ("bladder (urinary)"), are optional: the
  entry matches without them, and each one the text also has counts towards the match.
* "NEC" and "NOS" are dropped: notes do not write them.
* Commas (followed by a space: "2,4-D" is one name): the first part of a title is required. A later
  part is an alternative to it when it is an inflection of it ("Fall, falling", "abdomen, abdominal",
  "Bite, bitten by"), nothing at all when it is only function words ("from, off, out of"), and
  otherwise an optional qualifier ("lingula, lung", "cable car, not on rails"). "or" makes the words on
  either side alternatives ("bile or biliary", "alimentary canal or tract"); a hyphenated word also
  matches written as two ("upper-outer quadrant").
* A few word forms notes use and the tables do not ("fell" for "Fall") are mapped on both sides by
  :data:`EXTRA_FORMS`.
* "see" references without codes are followed where the target exists in the same table (the codes are
  then the target's, and :attr:`TableHit.via` names the reference). For a neoplasm site, the sub-sites
  of the target of a "see" or "see also" are also reachable under the referring term: "bowel" > "small"
  through "see Neoplasm, intestine", "colon" > "ascending" through "see also Neoplasm, intestine,
  large". Other references ("see Melanoma", "see Table of Drugs and Chemicals", "see subcategory
  T75.0") are kept in :attr:`TableHit.see`; ``find(..., with_refs=True)`` returns such code-less entries.
* Codes are kept as printed, with their dot: a trailing "-" ("C34.1-") means more characters are needed.
  A dash alone means the column has no code, and the column is left out. Table of Drugs codes such as
  ``T39.1X1`` still need the 7th (encounter) character, as in the printed table.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar, NamedTuple, Self

from medcode.errors import MedcodeError
from medcode.textnorm import content_words

logger = logging.getLogger(__name__)

#: Version of the vendored table files' layout; the build script writes it, :meth:`_IndexTable.load` checks it.
TABLE_FORMAT = 1

#: Word forms the index lookups apply on top of ``synonyms.json``, to the words of the text and of the
#: table alike. External-cause terms are verbs or gerunds ("Fall, falling", "Slipping", "Tripping") that a
#: note writes in the past tense ("fell", "slipped", "tripped"); a few site adjectives of the Table of
#: Neoplasms are missing from the synonyms. Kept here, not in ``synonyms.json``, because the knowledge
#: base's aliases would change with it. "Struck by" and "Striking against" (and "Kicked by" / "Kicking")
#: are different external causes, so those verbs are left alone.
EXTRA_FORMS: dict[str, str] = {
    # External causes: what a note writes -> the form of the index's term. Forms the index prints
    # itself ("Fall, falling", "Bite, bitten by", "Jumped, jumping") need no entry.
    "fell": "fall",
    "slipped": "slipping",
    "slip": "slipping",
    "tripped": "tripping",
    "trip": "tripping",
    "stumbled": "stumbling",
    "burnt": "burn",
    "scalded": "scald",
    "stabbed": "stab",
    "drowned": "drowning",
    "stung": "sting",
    "crashed": "crash",
    "collided": "collision",
    "assaulted": "assault",
    "overdosed": "overdose",
    "electrocuted": "electrocution",
    "ingested": "ingestion",
    "inhaled": "inhalation",
    # A site adjective of the Table of Neoplasms that synonyms.json lacks and "anus, anal" cannot
    # show as an inflection (two letters in common).
    "anal": "anus",
}

#: Alternatives one title may expand to through "or"; beyond it the first alternative of each slot is kept.
_MAX_VARIANTS = 32
#: Letters an inflection shares with the word it inflects ("bite" / "bitten", "abdomen" / "abdominal").
_INFLECTION_PREFIX = 3
_NEC_NOS_RE = re.compile(r"\b(?:NEC|NOS)\b")
#: What makes a title more than one plain phrase.
_SPECIAL_RE = re.compile(r", |-|\bor\b|\bNEC\b|\bNOS\b", re.IGNORECASE)
#: A comma that separates the parts of a title; one without a space is part of a name ("2,4-D").
_COMMA_RE = re.compile(r",\s+")
_LEADING_CONJUNCTION_RE = re.compile(r"^(?:or|and)\s+", re.IGNORECASE)


class TableError(MedcodeError):
    """A vendored index table cannot be read (missing, damaged, or of another layout)."""


@dataclass(frozen=True)
class TableHit:
    """One index-table entry whose path words are all in the text.

    Attributes:
        table: ``"neoplasm"``, ``"drug"`` or ``"external_cause"``.
        path: the entry's term path as printed, parents first: ``("lung", "upper lobe")``,
            ``("Fall, falling (accidental)", "from, off, out of", "ladder")``.
        matched: the canonical words of the path found in the text (required ones and any nonessential
            modifier the text also has), after :data:`EXTRA_FORMS`.
        specificity: how many canonical path words the match uses (``len(matched)``): more is more specific.
        codes: column -> code as printed, with its dot; may end in "-" (more characters needed). Columns
            without a code are absent; the dict is empty for a reference-only entry (see ``see``).
        see: the entry's "see" references as printed ("Neoplasm, intestine", "Melanoma",
            "subcategory T75.0").
        see_also: its "see also" references as printed.
        via: the reference the entry was reached through: the "see" its codes were taken from when it has
            none of its own, or the "see" / "see also" that makes a neoplasm sub-site reachable under
            another term (("colon", "ascending") via "Neoplasm, intestine, large"). Empty for a term as
            printed.
    """

    table: str
    path: tuple[str, ...]
    matched: frozenset[str]
    specificity: int
    codes: dict[str, str]
    see: tuple[str, ...] = ()
    see_also: tuple[str, ...] = ()
    via: str = ""


class _Level(NamedTuple):
    """How one title matches: one of ``alternatives`` (word sets) must be in the text, ``optional`` may be.

    ``always`` holds the words every alternative needs (none when the title may match no word at all).
    """

    alternatives: tuple[frozenset[str], ...]
    optional: frozenset[str]
    always: frozenset[str]


def _level(alternatives: Iterable[frozenset[str]], optional: frozenset[str]) -> _Level:
    alternatives = tuple(dict.fromkeys(alternatives)) or (frozenset(),)
    if len(alternatives) == 1:
        return _Level(alternatives, optional, alternatives[0])
    always = frozenset.intersection(*alternatives) if all(alternatives) else frozenset()
    return _Level(alternatives, optional, always)


class _Entry(NamedTuple):
    """One term of a table. Its path is its parents' titles and its own (``parent`` is -1 at the top).

    ``codes`` holds the codes of the table's columns joined by "|" ("" where a column has none, "" for
    a term without codes): a hit builds its dict, the other thousands of entries never need one.
    """

    parent: int
    title: str
    level: _Level
    codes: str
    see: tuple[str, ...]
    see_also: tuple[str, ...]
    via: str


@functools.cache
def _words(text: str) -> frozenset[str]:
    """Canonical words of a stretch of title, as note text gets them, plus :data:`EXTRA_FORMS`."""
    return frozenset(EXTRA_FORMS.get(w, w) for w in content_words(text))


def canonical_words(words: Iterable[str]) -> set[str]:
    """Apply :data:`EXTRA_FORMS` to words from :func:`medcode.textnorm.content_words`."""
    return {EXTRA_FORMS.get(w, w) for w in words}


def _variants(part: str) -> list[frozenset[str]]:
    """Word sets a comma-free stretch of title may be written as.

    "or" makes its neighbours alternatives ("alimentary canal or tract" -> {alimentary, canal},
    {alimentary, tract}); a hyphenated word may also be written as two ("upper-outer quadrant" ->
    {upperouter, quadrant}, {upper, outer, quadrant}). An empty set means the part is only function
    words and asks nothing of the text.
    """
    tokens = part.split()
    if "-" not in part and not any(t.lower() == "or" for t in tokens):
        return [_words(part)]
    slots: list[list[frozenset[str]]] = []
    join_next = False
    for token in tokens:
        if token.lower() == "or":
            join_next = bool(slots)
            continue
        words = _words(token)
        if not words:
            continue
        spellings = [words, _words(token.replace("-", " "))] if "-" in token else [words]
        if join_next:
            slots[-1].extend(spellings)
        else:
            slots.append(spellings)
        join_next = False
    combos = itertools.islice(itertools.product(*slots), _MAX_VARIANTS)
    variants = {frozenset().union(*combo) for combo in combos}
    return sorted(variants, key=lambda v: (-len(v), sorted(v)))


def _is_inflection(part: str, lead: str) -> bool:
    """Whether a later comma part is one word inflecting a word of the first ("Bite, bitten by")."""
    words = [t.lower() for t in part.split() if _words(t)]
    if len(words) != 1 or len(words[0]) < _INFLECTION_PREFIX:
        return False
    prefix = words[0][:_INFLECTION_PREFIX]
    return any(t.lower().startswith(prefix) for t in lead.split() if len(t) >= _INFLECTION_PREFIX)


@functools.cache
def _parse_title(essential: str, optional: tuple[str, ...]) -> _Level:
    """Read one printed title (modifiers already set apart) into the words it needs and may use.

    Args:
        essential: the title without its nonessential modifiers, e.g. ``"Fall, falling"``.
        optional: its nonessential modifiers, e.g. ``("(accidental)",)``.

    Returns:
        The title's alternatives and optional words (see the module docstring for the conventions).
    """
    if not _SPECIAL_RE.search(essential):
        # Most titles are one plain phrase ("Acetaminophen", "upper lobe"): skip the general reading.
        words = _words(essential)
        return _Level((words,), frozenset().union(*map(_words, optional)) if optional else frozenset(), words)
    parts = [_LEADING_CONJUNCTION_RE.sub("", p.strip()) for p in _COMMA_RE.split(_NEC_NOS_RE.sub(" ", essential))]
    parts = [p for p in parts if p]
    if not parts:
        return _level((), frozenset())
    alternatives = _variants(parts[0])
    extra: set[str] = set()
    for part in parts[1:]:
        variants = _variants(part)
        if not any(variants):
            alternatives.append(frozenset())
        elif _is_inflection(part, parts[0]):
            alternatives.extend(variants)
        else:
            extra.update(w for v in variants for w in v)
    for text in optional:
        extra |= _words(text)
    return _level(alternatives, frozenset(extra))


#: A table row's fields after ``[title, parent]`` when the row leaves them out (see ``_build_entries``).
_ROW_DEFAULTS = [0, -1, "", [], [], "", [], ""]


def _grafted(entries: list[_Entry], source: int, roots: list[int], reference: str, end: int) -> list[_Entry]:
    """Copies of the branches at ``roots`` under ``entries[source]``, which names them in ``reference``.

    Entries are in table order, parents first, so a term's branch is the term and the run of entries
    after it whose chain of parents reaches it; only the first ``end`` entries are the table's own.
    The copies are numbered from ``len(entries)`` on.
    """
    copies: list[_Entry] = []
    for root in roots:
        renumbered = {entries[root].parent: source}
        for number in range(root, end):
            entry = entries[number]
            if entry.parent not in renumbered or (number > root and entry.parent == entries[root].parent):
                break
            renumbered[number] = len(entries) + len(copies)
            copies.append(entry._replace(parent=renumbered[entry.parent], via=entry.via or reference))
    return copies


def _index_key(entries: list[_Entry], number: int, frequency: Counter) -> list[str]:
    """The words to file an entry under, so that every text it matches has one of them.

    The rarest word any title of its path needs: "skin" > "cheek" > "basal cell carcinoma" is filed
    under "cheek", not under "basal", which a hundred skin sites share. A path whose titles only offer
    alternatives ("bile or biliary") is filed under the rarest word of each alternative of its nearest
    such title. No key: the entry needs no word at all and is never returned.
    """
    best: tuple[int, str] | None = None
    keys: list[str] = []
    while number >= 0:
        level = entries[number].level
        for word in level.always:
            if best is None or (frequency[word], word) < best:
                best = (frequency[word], word)
        if not level.always and all(level.alternatives) and not keys:
            keys = sorted({min(alt, key=lambda w: (frequency[w], w)) for alt in level.alternatives})
        number = entries[number].parent
    return [best[1]] if best else keys


def _read(file_name: str, table: str) -> dict:
    """The decoded JSON of a vendored table file, checked to be the table and layout this code reads."""
    try:
        raw = resources.files("medcode.data").joinpath(file_name).read_bytes()
        data = json.loads(gzip.decompress(raw))
    except (OSError, ValueError) as exc:
        raise TableError(f"cannot read the vendored table medcode/data/{file_name}: {exc}") from exc
    if data.get("format") != TABLE_FORMAT or data.get("table") != table:
        raise TableError(
            f"medcode/data/{file_name} is not a format-{TABLE_FORMAT} {table} table: "
            "rebuild it with pipeline/devtools/build_tables.py"
        )
    return data


class _IndexTable:
    """An index table loaded from its vendored file, with a rarest-word index over its entries."""

    TABLE: ClassVar[str] = ""
    FILE: ClassVar[str] = ""
    COLUMNS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, data: dict):
        self.release: str = data["release"]
        self.source: dict[str, str] = data["source"]
        self._entries = self._build_entries(data)
        # How many entries need each word, through their own title or a parent's: a word many need
        # ("basal" of every skin site's "basal cell carcinoma", "occupant" of a thousand transport
        # accidents) makes a poor key. Children follow their parents, so one pass backwards sizes
        # every branch.
        branch = [1] * len(self._entries)
        for number in range(len(self._entries) - 1, -1, -1):
            if self._entries[number].parent >= 0:
                branch[self._entries[number].parent] += branch[number]
        frequency: Counter = Counter()
        for entry, size in zip(self._entries, branch):
            for word in entry.level.always:
                frequency[word] += size
        index: dict[str, list[int]] = {}
        for number, entry in enumerate(self._entries):
            if entry.codes or entry.see:  # a bare heading ("from, off, out of") is never returned
                for key in _index_key(self._entries, number, frequency):
                    index.setdefault(key, []).append(number)
        self._index = {word: tuple(numbers) for word, numbers in index.items()}

    @staticmethod
    def _build_entries(data: dict) -> list[_Entry]:
        """Entries in table order, parents first; grafted sub-sites (see ``_grafted``) come last.

        Rows are ``[title, parent, codes, see, see_also, via, graft, graft_via]``, trailing empty fields left out
        (the layout ``pipeline/devtools/build_tables.py`` documents).
        """
        titles = []
        for title in data["titles"]:
            printed, essential, *optional = [title, title] if isinstance(title, str) else title
            titles.append((printed, _parse_title(essential, tuple(optional))))
        entries: list[_Entry] = []
        grafts: list[tuple[int, list[int], str]] = []
        for number, row in enumerate(data["entries"]):
            title, parent, codes, see, see_also, via, graft, graft_via = row + _ROW_DEFAULTS[len(row) :]
            printed, level = titles[title]
            entries.append(
                _Entry(
                    parent, printed, level, codes, tuple(see) if see else (), tuple(see_also) if see_also else (), via
                )
            )
            if graft:
                grafts.append((number, graft, graft_via))
        end = len(entries)
        for source, roots, reference in grafts:
            entries.extend(_grafted(entries, source, roots, reference, end))
        return entries

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    @functools.cache
    def load(cls) -> Self:
        """The table from its vendored file, read and indexed on first use; later calls return the same object."""
        return cls(_read(cls.FILE, cls.TABLE))

    def _match(self, number: int, words: set[str]) -> frozenset[str] | None:
        """The path words of an entry found in ``words``, or ``None`` if a required word is missing.

        Each title of the path takes its largest alternative in ``words``, and its optional words there.
        """
        matched: set[str] = set()
        while number >= 0:
            entry = self._entries[number]
            best = None
            for alternative in entry.level.alternatives:
                if alternative <= words and (best is None or len(alternative) > len(best)):
                    best = alternative
            if best is None:
                return None
            matched |= best
            matched |= entry.level.optional & words
            number = entry.parent
        return frozenset(matched)

    def find(self, words: set[str] | frozenset[str], limit: int = 10, *, with_refs: bool = False) -> list[TableHit]:
        """Entries all of whose path words are in ``words``, most specific first.

        Args:
            words: canonical content words of a sentence, as :func:`medcode.textnorm.content_words`
                returns them (:data:`EXTRA_FORMS` is applied here).
            limit: the most hits to return.
            with_refs: also return entries that have no codes, only a "see" reference.

        Returns:
            Hits sorted by specificity (descending), then terms printed in the table before terms
            reached through a "see" reference, then table order. A term reached through a "see" that
            says what a printed term already says (same words, same codes) is left out.
        """
        words = canonical_words(words)
        candidates = {number for word in words for number in self._index.get(word, ())}
        found = []
        for number in candidates:
            entry = self._entries[number]
            if entry.codes or with_refs:
                matched = self._match(number, words)
                if matched is not None:
                    found.append((-len(matched), bool(entry.via), number, matched))
        found.sort(key=lambda item: item[:3])
        hits: list[TableHit] = []
        seen: set[tuple] = set()
        for _, _, number, matched in found:
            entry = self._entries[number]
            # "cutaneous" > "cheek" (through "see Neoplasm, skin") is "skin" > "cheek" again.
            key = (matched, entry.codes)
            if entry.via and key in seen:
                continue
            seen.add(key)
            hits.append(self._hit(number, matched))
            if len(hits) >= limit:
                break
        return hits

    def path(self, number: int) -> tuple[str, ...]:
        """The titles from the top of the table down to entry ``number``."""
        titles = []
        while number >= 0:
            titles.append(self._entries[number].title)
            number = self._entries[number].parent
        return tuple(reversed(titles))

    def _hit(self, number: int, matched: frozenset[str]) -> TableHit:
        entry = self._entries[number]
        return TableHit(
            table=self.TABLE,
            path=self.path(number),
            matched=matched,
            specificity=len(matched),
            codes={column: code for column, code in zip(self.COLUMNS, entry.codes.split("|")) if code},
            see=entry.see,
            see_also=entry.see_also,
            via=entry.via,
        )


class NeoplasmTable(_IndexTable):
    """The Table of Neoplasms: anatomical site -> codes by behaviour.

    Attributes:
        site_unspecified: the codes of the main term itself ("Neoplasm, neoplastic": site not stated).
    """

    TABLE = "neoplasm"
    FILE = "neoplasm.json.gz"
    COLUMNS = ("malignant_primary", "malignant_secondary", "in_situ", "benign", "uncertain", "unspecified")

    def __init__(self, data: dict):
        super().__init__(data)
        codes = data.get("root_codes", "").split("|")
        self.site_unspecified: dict[str, str] = {column: code for column, code in zip(self.COLUMNS, codes) if code}


class DrugTable(_IndexTable):
    """The Table of Drugs and Chemicals: substance -> poisoning, adverse-effect and underdosing codes.

    The codes are printed without their 7th (encounter) character (``T39.1X1`` -> ``T39.1X1A``).
    """

    TABLE = "drug"
    FILE = "drugs.json.gz"
    COLUMNS = (
        "poisoning_accidental",
        "poisoning_intentional",
        "poisoning_assault",
        "poisoning_undetermined",
        "adverse_effect",
        "underdosing",
    )


class ExternalCauseIndex(_IndexTable):
    """The Index to External Causes: lead term and sub-terms -> one V00-Y99 code (column ``"code"``)."""

    TABLE = "external_cause"
    FILE = "external_causes.json.gz"
    COLUMNS = ("code",)


#: Every index table, by the name its hits carry.
TABLES: dict[str, type[_IndexTable]] = {t.TABLE: t for t in (NeoplasmTable, DrugTable, ExternalCauseIndex)}

__all__ = [
    "EXTRA_FORMS",
    "TABLES",
    "DrugTable",
    "ExternalCauseIndex",
    "NeoplasmTable",
    "TableError",
    "TableHit",
    "canonical_words",
]
