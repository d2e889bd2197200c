"""Encounters for screening (Z11-Z13) and for observation of a suspected condition ruled out (Z03).

"Low-dose CT for lung cancer screening" is Z12.2, "encounter for screening for malignant neoplasm of respiratory
organs": no word of its title but "screening" is the note's, while the note's "lung cancer" finds C34.90 and
the history codes. The screening's target is read here (vocabulary in ``coding_rules.json`` ``screening``), as a
coder reads it, and so is an observation after a suspected ingestion that did not happen (Z03.6: "may have
swallowed a pill, pill count complete, observed 6 hours") or a suspected foreign body not found (Z03.89).
"""

from __future__ import annotations

import functools
import re

from medcode.coding.rules import rules_data

#: Words around the screening word where its target is named ("screening for X", "X screening").
_WINDOW = 60
_SCREEN = re.compile(r"\bscreen(?:ing|ed|s)?\b", re.IGNORECASE)
_TESTED = re.compile(r"\b(?:tested|testing|test)\s+for\b", re.IGNORECASE)
#: A note with no sign of the infection tested for: a screening, not a diagnostic test.
_NO_SIGN = re.compile(r"\b(?:asymptomatic|no\s+(?:known\s+)?(?:exposure|symptoms|contact)|routine|required|pre-?employment|"
                      r"pre-?op\w*)\b", re.IGNORECASE)
#: A screening a note only plans or refuses is no encounter for it.
_NOT_DONE = re.compile(r"\b(?:due\s+for|overdue|declin\w*|refus\w*|recommend\w*|will\s+\w+|schedul\w*|next|defer\w*)\b",
                       re.IGNORECASE)

#: A suspected ingestion or foreign body that the note rules out, and the observation for it.
_SUSPECTED = re.compile(r"\b(?:suspected|possible|possibly|may\s+have|might\s+have|concern\s+for|questionable|\?)\s+", re.IGNORECASE)
_INGESTION = re.compile(r"\b(?:ingest\w*|swallow\w*|pills?|tablets?|poison\w*|overdose)\b",
                        re.IGNORECASE)
_FOREIGN_BODY = re.compile(r"\b(?:foreign\s+body|FB)\b")
_RULED_OUT = re.compile(r"\b(?:ruled\s+out|no\s+(?:ingestion|FB|foreign\s+body)\b|none\s+found|not\s+found|tox\w*\s+(?:screen\s+)?"
                        r"neg\w*|count\s+(?:turned\s+out\s+)?(?:to\s+be\s+)?complete|(?:XR|x-ray|imaging)\s+neg\w*)",
                        re.IGNORECASE)
_OBSERVED = re.compile(r"\bobserv\w*", re.IGNORECASE)


@functools.cache
def _targets() -> tuple[re.Pattern, dict[str, str], frozenset[str]]:
    """The targets as one pattern (longest phrase first), phrase -> code, and the infections' codes."""
    section = rules_data().get("screening", {})
    codes = {phrase.lower(): entry[0] for entry in section.get("targets", ()) for phrase in entry[1:]}
    order = {phrase: k for k, phrase in enumerate(codes)}
    alternatives = sorted(codes, key=lambda p: (-len(p), order[p]))
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(p) for p in alternatives) + r")(?![\w-])", re.IGNORECASE)
    return pattern, codes, frozenset(section.get("infections", ()))


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the sentence (or clause after a semicolon) around ``start:end``."""
    left = max(text.rfind(".", 0, start), text.rfind(";", 0, start)) + 1
    right = min((i for i in (text.find(". ", end), text.find(";", end)) if i >= 0), default=len(text))
    return left, right


def screening_codes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, code)`` of the screening each screening word (or infection test without signs) is for."""
    low = text.lower()
    if "screen" not in low and "tested" not in low and "test for" not in low:
        return []  # most notes: a substring test first
    pattern, codes, infections = _targets()
    rank = {code: k for k, code in enumerate(dict.fromkeys(codes.values()))}
    out = []
    cues = [(m, False) for m in _SCREEN.finditer(text)] + [(m, True) for m in _TESTED.finditer(text)]
    for cue, tested in cues:
        if tested and not _NO_SIGN.search(text):
            continue
        left, right = _sentence(text, cue.start(), cue.end())
        if _NOT_DONE.search(text, left, right):
            continue
        around = [m for m in pattern.finditer(text, max(left, cue.start() - _WINDOW), min(right, cue.end() + _WINDOW))
                  if not (tested and codes[m.group(0).lower()] not in infections)]
        if around:
            # The first target of the list (the more specific test: "vaginal cuff Pap" is no cervical screening);
            # the evidence is the cue, an extent of its own (the target's words are the disease's extent).
            m = min(around, key=lambda m: rank[codes[m.group(0).lower()]])
            out.append((cue.start(), cue.end(), codes[m.group(0).lower()]))
    return list({code: (s, e, code) for s, e, code in out}.values())


def observation_codes(text: str) -> list[tuple[int, int, str]]:
    """Z03.6 (suspected toxic ingestion) or Z03.89 (suspected foreign body) when the note rules it out."""
    if "?" not in text and not any(w in text.lower() for w in ("suspect", "possibl", "may have", "might have", "concern", "question")):
        return []  # most notes: a substring test first
    suspected = _SUSPECTED.search(text)
    if not suspected:
        return []
    ruled_out = _RULED_OUT.search(text)
    if not ruled_out:
        return []
    # The suspicion's own object, as for an ingestion: a foreign body anywhere in a long note ("no foreign body")
    # under an unrelated "suspected appendicitis" is no observation for a foreign body.
    if _FOREIGN_BODY.search(text, suspected.start(), suspected.end() + _WINDOW):
        return [(suspected.start(), ruled_out.end(), "Z03.89")]
    if _INGESTION.search(text, suspected.start(), suspected.end() + _WINDOW) and (_OBSERVED.search(text) or "ingestion" in ruled_out.group(0).lower()):
        return [(suspected.start(), ruled_out.end(), "Z03.6")]
    return []


#: Codes whose very meaning is that the patient lacks the condition named (a screening's target, a suspicion ruled
#: out): their evidence sits under the note's negations ("no known exposure, tested for COVID-19") or near a
#: relative ("grandmother's pill bottle"), which must not set them aside.
ABSENCE_CODES = ("Z03.", "Z11.", "Z12.", "Z13.")


def states_absence(codes) -> bool:
    """Whether every code of an extent is one of :data:`ABSENCE_CODES`."""
    return all(code.startswith(ABSENCE_CODES) for code in codes)
