"""The bridge between a note's words and the code sets' words: clinical terms, abbreviations, drug classes.

Notes say "NSTEMI", "shingles" and "on apixaban" where titles say "non-ST elevation myocardial
infarction", "herpes zoster" and "long term (current) use of anticoagulants". The phrase table
(``medcode/data/clinical_terms.json``, written for medcode from coding knowledge, not from any test
notes) adds the title words to a sentence; the code sets' own bracketed abbreviations ("Human
immunodeficiency virus [HIV] disease") are matched as title words already.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from medcode.textnorm import content_words

TERMS_FILE = "clinical_terms.json"
#: Words that say a drug is taken over time (what Z79 "long term (current) use" needs).
#: ("long-term" is one token, "longterm", to the tokenizer.)
#: A dosing interval says it too: "controlled on weekly semaglutide" (Z79.85 missed, 1 of 260 fresh8 notes).
ONGOING = frozenset({"long", "term", "longterm", "chronic", "daily", "maintenance", "home", "current", "continue",
                     "chronically", "weekly", "monthly", "nightly"})


@dataclass(frozen=True)
class Terms:
    """Phrases (as canonical word tuples) and the canonical words they add; drugs and their Z79 codes."""

    phrases: dict[tuple[str, ...], tuple[str, ...]]
    longest: int
    drugs: dict[tuple[str, ...], str]

    @functools.cached_property
    def _first_words(self) -> tuple[frozenset[str], frozenset[str]]:
        """The words phrases and drug names start with (a sentence's other words start none: skipped)."""
        return frozenset(k[0] for k in self.phrases), frozenset(k[0] for k in self.drugs)

    def expand(self, words: list[str]) -> list[tuple[int, int, tuple[str, ...]]]:
        """``(first word, end word, title words)`` for each phrase of a sentence (its canonical words, in order)."""
        added = []
        n = len(words)
        firsts = self._first_words[0]
        for i in range(n):
            if words[i] not in firsts:
                continue
            for j in range(i + 1, min(i + self.longest, n) + 1):
                found = self.phrases.get(tuple(words[i:j]))
                if found:
                    added.append((i, j, found))
        return added

    def drug_codes(self, words: list[str]) -> list[tuple[int, int, str]]:
        """``(first word, end word, Z79 code)`` for each drug the sentence names."""
        out = []
        n = len(words)
        firsts = self._first_words[1]
        for i in range(n):
            if words[i] not in firsts:
                continue
            for j in range(min(i + 3, n), i, -1):
                code = self.drugs.get(tuple(words[i:j]))
                if code:
                    out.append((i, j, code))
                    break
        return out


@functools.cache
def load_terms() -> Terms:
    """The phrase and drug tables (read once, on first use; empty when the data file is absent)."""
    path = resources.files("medcode.data").joinpath(TERMS_FILE)
    data = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
    for phrase, title_words in data.get("phrases", {}).items():
        key = tuple(content_words(phrase))
        if key:
            phrases[key] = tuple(dict.fromkeys(phrases.get(key, ()) + tuple(content_words(title_words))))
    # A note hyphenates what a key spaces ("long-term steroid use", "follow-up"): the tokenizer keeps a
    # hyphenated word whole ("longterm"), so each key also matches with any two neighbouring words joined.
    for key, added in list(phrases.items()):
        for i in range(len(key) - 1):
            phrases.setdefault(key[:i] + (key[i] + key[i + 1],) + key[i + 2:], added)
    codes = data.get("drug_class_codes", {})
    drugs = {tuple(content_words(drug)): codes[cls] for drug, cls in data.get("drug_classes", {}).items()
             if cls in codes and content_words(drug)}
    return Terms(phrases, max((len(k) for k in phrases), default=1), drugs)



@functools.cache
def drug_class_names() -> dict[tuple[str, ...], str]:
    """Drug names (canonical words) -> their class phrase, from the phrase table's ``drug_classes``."""
    path = resources.files("medcode.data").joinpath(TERMS_FILE)
    data = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    return {tuple(content_words(name)): cls for name, cls in data.get("drug_classes", {}).items() if content_words(name)}
