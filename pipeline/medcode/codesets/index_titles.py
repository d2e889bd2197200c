"""How the ICD-10-CM index tables' printed titles are read into the words a note must have (see
:mod:`medcode.codesets.tables`).

* A sub-term inherits its parents: "lung" > "upper lobe" is the path ``("lung", "upper lobe")`` and needs
  both words. The Table of Neoplasms' main term ("Neoplasm, neoplastic") is left out of paths: every
  entry of that table is about a neoplasm, and its own codes are :attr:`medcode.codesets.tables.NeoplasmTable.site_unspecified`.
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
  then the target's, and :attr:`medcode.codesets.tables.TableHit.via` names the reference). For a neoplasm site, the sub-sites
  of the target of a "see" or "see also" are also reachable under the referring term: "bowel" > "small"
  through "see Neoplasm, intestine", "colon" > "ascending" through "see also Neoplasm, intestine,
  large". Other references ("see Melanoma", "see Table of Drugs and Chemicals", "see subcategory
  T75.0") are kept in :attr:`medcode.codesets.tables.TableHit.see`; ``find(..., with_refs=True)`` returns such code-less entries.
* Codes are kept as printed, with their dot: a trailing "-" ("C34.1-") means more characters are needed.
  A dash alone means the column has no code, and the column is left out. Table of Drugs codes such as
  ``T39.1X1`` still need the 7th (encounter) character, as in the printed table.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable
from typing import NamedTuple

from medcode.textnorm import content_words

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


class Level(NamedTuple):
    """How one title matches: one of ``alternatives`` (word sets) must be in the text, ``optional`` may be.

    ``always`` holds the words every alternative needs (none when the title may match no word at all).
    """

    alternatives: tuple[frozenset[str], ...]
    optional: frozenset[str]
    always: frozenset[str]


def make_level(alternatives: Iterable[frozenset[str]], optional: frozenset[str]) -> Level:
    alternatives = tuple(dict.fromkeys(alternatives)) or (frozenset(),)
    if len(alternatives) == 1:
        return Level(alternatives, optional, alternatives[0])
    always = frozenset.intersection(*alternatives) if all(alternatives) else frozenset()
    return Level(alternatives, optional, always)


@functools.cache
def title_words(text: str) -> frozenset[str]:
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
        return [title_words(part)]
    slots: list[list[frozenset[str]]] = []
    join_next = False
    for token in tokens:
        if token.lower() == "or":
            join_next = bool(slots)
            continue
        words = title_words(token)
        if not words:
            continue
        spellings = [words, title_words(token.replace("-", " "))] if "-" in token else [words]
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
    words = [t.lower() for t in part.split() if title_words(t)]
    if len(words) != 1 or len(words[0]) < _INFLECTION_PREFIX:
        return False
    prefix = words[0][:_INFLECTION_PREFIX]
    return any(t.lower().startswith(prefix) for t in lead.split() if len(t) >= _INFLECTION_PREFIX)


@functools.cache
def parse_title(essential: str, optional: tuple[str, ...]) -> Level:
    """Read one printed title (modifiers already set apart) into the words it needs and may use.

    Args:
        essential: the title without its nonessential modifiers, e.g. ``"Fall, falling"``.
        optional: its nonessential modifiers, e.g. ``("(accidental)",)``.

    Returns:
        The title's alternatives and optional words (see the module docstring for the conventions).
    """
    if not _SPECIAL_RE.search(essential):
        # Most titles are one plain phrase ("Acetaminophen", "upper lobe"): skip the general reading.
        words = title_words(essential)
        return Level((words,), frozenset().union(*map(title_words, optional)) if optional else frozenset(), words)
    parts = [_LEADING_CONJUNCTION_RE.sub("", p.strip()) for p in _COMMA_RE.split(_NEC_NOS_RE.sub(" ", essential))]
    parts = [p for p in parts if p]
    if not parts:
        return make_level((), frozenset())
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
        extra |= title_words(text)
    return make_level(alternatives, frozenset(extra))


__all__ = ["EXTRA_FORMS", "Level", "canonical_words", "make_level", "parse_title", "title_words"]
