"""A laboratory value that is itself a finding a coder reports: an elevated INR (R79.1).

"INR 6.2 on warfarin, no bleeding" is coded R79.1, abnormal coagulation profile, with the adverse effect
(T45.515A) and the long-term anticoagulant (Z79.01): the value is a number, which no title word matches, and
"elevated INR" is seldom written beside it.
"""

from __future__ import annotations

import re

#: "INR 6.2", "INR of 4.5", "INR was 5", "INR: 3.9" (not "goal INR 2-3": a range's first value is low).
_INR = re.compile(r"\bINR\b(?:\s+(?:of|was|is|at|today|now|level|came\s+back))*\s*(?::|=|>)?\s*(\d{1,2}(?:\.\d+)?)(?!\s*-\s*\d)")
#: An INR above this is abnormal whatever the treatment: warfarin's target range is 2-3 (3.5 for a mechanical
#: mitral valve), and an untreated patient's INR is about 1.
ELEVATED_INR = 3.5


def lab_finding_codes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, code)``: R79.1 for a stated INR above :data:`ELEVATED_INR`."""
    if "INR" not in text:
        return []  # most notes: a substring test first
    for m in _INR.finditer(text):
        if float(m.group(1)) > ELEVATED_INR:
            return [(m.start(), m.end(), "R79.1")]
    return []
