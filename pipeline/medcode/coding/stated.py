"""Conditions stated by a word, for the combination rules (``coding_rules.json`` ``stated_conditions``).

The engine codes a sentence by its best few descriptions; in "T2DM w/ diabetic CKD stage 3a and HTN" those are
diabetes and kidney codes, and the hypertension the sentence states joins no combination (I12.9, hypertensive
CKD, was missed). A coder reads every condition of the sentence; the words listed in the data name a condition
for the combination rules whatever the sentence's codes.
"""

from __future__ import annotations

import functools

from spacy.attrs import LOWER
from spacy.tokens import Doc

from medcode.coding.rules import rules_data


@functools.cache
def _stated() -> tuple[dict[str, str], frozenset[str]]:
    section = rules_data().get("stated_conditions", {})
    return dict(section.get("words", {})), frozenset(section.get("not_after", ()))


def stated_codes(doc: Doc) -> list[tuple[str, tuple[int, int]]]:
    """``(code, token extent)`` for each word of the note that states a listed condition."""
    words, not_after = _stated()
    strings = doc.vocab.strings
    wanted = {strings[w]: code for w, code in words.items() if w in strings}
    if not wanted or not len(doc):
        return []
    lowers = doc.to_array(LOWER).tolist()
    if wanted.keys().isdisjoint(lowers):
        return []  # most notes: one set test, not a dict look-up per token (0.1 ms of a CodiEsp dev note)
    out = []
    for i, lower in enumerate(lowers):
        code = wanted.get(lower)
        if code and not (i and strings[lowers[i - 1]] in not_after):
            out.append((code, (i, i + 1)))
    return out


#: Words that put a drug the patient takes in a clause of its own after a comma ("no fx hx, on alendronate").
_TAKING = frozenset({"on", "taking", "takes", "using", "uses"})


def taken_in_own_clause(doc: Doc, extent: tuple[int, int]) -> bool:
    """Whether a drug's mention opens its own clause (", on alendronate"): a negation before the comma ("no fx
    hx") is not the drug's, though the context rules' scope runs on past commas (lists of negated findings)."""
    start = extent[0]
    return start >= 2 and doc[start - 1].lower_ in _TAKING and doc[start - 2].text in (",", ";")
