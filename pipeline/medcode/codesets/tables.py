"""The ICD-10-CM index tables: the Table of Neoplasms, the Table of Drugs and Chemicals, the External Cause Index.

Each table is vendored in ``medcode/data`` as gzipped JSON built by ``pipeline/devtools/build_tables.py``
from the CDC/NCHS XML (public domain). The file keeps the tables' own structure (term paths, titles as
printed, codes as printed, "see" references); everything that depends on how medcode normalises words
(stopwords, singulars, ``synonyms.json``) is done at load time, so a table always matches note
text the same way the rest of medcode does, whatever the synonyms say today.

A lookup takes the canonical content words of a sentence (what :func:`medcode.textnorm.content_words`
returns) and returns every entry all of whose path words are among them, most specific first::

    words = set(content_words("Adenocarcinoma of the right upper lobe of the lung."))
    NeoplasmTable.load().find(words)[0].path      # ("lung", "upper lobe")

How the tables' printing conventions are read is told in :mod:`medcode.codesets.index_titles`.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar, NamedTuple, Self

from medcode.codesets.index_titles import Level, canonical_words, parse_title
from medcode.errors import MedcodeError

logger = logging.getLogger(__name__)


#: Version of the vendored table files' layout; the build script writes it, :meth:`_IndexTable.load` checks it.
TABLE_FORMAT = 1


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
            modifier the text also has), after :data:`~medcode.codesets.index_titles.EXTRA_FORMS`.
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


class _Entry(NamedTuple):
    """One term of a table. Its path is its parents' titles and its own (``parent`` is -1 at the top).

    ``codes`` holds the codes of the table's columns joined by "|" ("" where a column has none, "" for
    a term without codes): a hit builds its dict, the other thousands of entries never need one.
    """

    parent: int
    title: str
    level: Level
    codes: str
    see: tuple[str, ...]
    see_also: tuple[str, ...]
    via: str


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
            titles.append((printed, parse_title(essential, tuple(optional))))
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
                returns them (:data:`~medcode.codesets.index_titles.EXTRA_FORMS` is applied here).
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
    "TABLES",
    "DrugTable",
    "ExternalCauseIndex",
    "NeoplasmTable",
    "TableError",
    "TableHit",
]
