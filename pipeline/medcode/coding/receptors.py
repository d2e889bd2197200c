"""Hormone and HER2 receptor status of a breast (or other) cancer, as the note states it: Z17.

A coder adds the receptor status the pathology gives (Z17.0 estrogen receptor positive, Z17.1 negative; Z17.21 /
Z17.22 progesterone receptor; Z17.31 / Z17.32 HER2), with the neoplasm code first. Notes write them as "ER
positive", "ER+", "PR-", "HER2 negative", "HER-2/neu 3+": a sign or a word the engine's word reading cannot use
("negative" is a negation to it, "+" is punctuation), so the status is read here from the text.
"""

from __future__ import annotations

import re

#: The category of the receptor status codes.
RECEPTOR_CATEGORY = "Z17"
#: Receptor name -> (positive code, negative code).
_RECEPTORS = (
    (r"ER|estrogen\s+receptors?", ("Z17.0", "Z17.1")),
    (r"PR|PgR|progesterone\s+receptors?", ("Z17.21", "Z17.22")),
    (r"HER-?2(?:/neu)?", ("Z17.31", "Z17.32")),
)
_POSITIVE = r"(?:\+|[\s-]*(?:is\s+|was\s+|status\s+)?(?:positive|pos\b|amplified|3\+|overexpress\w*))"
_NEGATIVE = r"(?:-(?!\w)|[\s-]*(?:is\s+|was\s+|status\s+)?(?:negative|neg\b|not\s+amplified|non-?amplified|0\b|1\+))"
_PATTERNS = tuple((re.compile(rf"(?<![\w-])(?:{name})(?:{_POSITIVE}|({_NEGATIVE}))", re.IGNORECASE if len(name) > 4 else 0),
                   codes) for name, codes in _RECEPTORS)
#: Both hormone receptors with one status ("ER/PR+": the ER alone reads no sign; 1 of 120 fresh4 notes).
_BOTH_HORMONES = re.compile(rf"(?<![\w-])ER\s*/\s*(?:PR|PgR)(?:{_POSITIVE}|({_NEGATIVE}))")
#: A neoplasm must be named: "ER" alone is also the emergency room.
#: ("invasive ductal ca L breast ..., ER+" names one too: its Z17.0 was missed, 1 of 120 fresh5 notes read.)
_NEOPLASM_CUES = ("cancer", "carcinoma", "malignan", "tumo", "neoplasm", "idc", "ilc", "dcis", "ductal", "lobular", "ca")
_NEOPLASM = re.compile(r"\b(?:cancer|carcinoma|adenocarcinoma|malignan\w*|tumou?r|neoplasm|IDC|ILC|DCIS|ductal|lobular|"
                       r"ca)\b", re.IGNORECASE)


def receptor_codes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, code)`` for each receptor status the note states, in a note that names a neoplasm."""
    low = text.lower()
    if not any(w in low for w in _NEOPLASM_CUES) or not _NEOPLASM.search(text):
        return []  # most notes: a substring test first (the regular expressions cost ~0.1 ms on a long note)
    out = []
    if m := _BOTH_HORMONES.search(text):
        # "ER/PR+", "ER/PR negative": one status for both hormone receptors
        out += [(m.start(), m.end(), code[1 if m.group(1) else 0]) for code in (("Z17.0", "Z17.1"), ("Z17.21", "Z17.22"))]
    for pattern, (positive, negative) in _PATTERNS[2 if out else 0:]:
        if m := pattern.search(text):
            out.append((m.start(), m.end(), negative if m.group(1) else positive))
    return out
