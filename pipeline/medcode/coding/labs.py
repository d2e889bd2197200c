"""A laboratory value that is itself a finding a coder reports: an elevated INR (R79.1), a low glucose (E16.2).

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


#: "BG 38", "glucose of 45", "FSBG 52 mg/dL", "blood sugar was 40" (not "glucose 45-60 overnight": a range).
_GLUCOSE = re.compile(r"\b(?:BG|FSBG|CBG|POC\s+glucose|fingerstick(?:\s+glucose)?|blood\s+(?:glucose|sugar)|glucose|sugar)"
                      r"(?:\s+(?:of|was|is|at|level|reading|down\s+to|dropped\s+to))*\s*[:=]?\s*(\d{2,3})\b(?!\s*-\s*\d)",
                      re.IGNORECASE)
#: A glucose below this (mg/dL) is hypoglycemia (level 1 starts under 70 in the ADA's classification).
LOW_GLUCOSE = 70


def lab_finding_codes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, code)``: R79.1 for a stated INR above :data:`ELEVATED_INR`, E16.2 for a glucose below
    :data:`LOW_GLUCOSE`."""
    out = []
    if "INR" in text:  # most notes: a substring test first
        m = next((m for m in _INR.finditer(text) if float(m.group(1)) > ELEVATED_INR), None)
        if m:
            out.append((m.start(), m.end(), "R79.1"))
    low = text.lower()
    if "bg" in low or "glucose" in low or "sugar" in low:
        m = next((m for m in _GLUCOSE.finditer(text) if int(m.group(1)) < LOW_GLUCOSE), None)
        if m:
            out.append((m.start(), m.end(), "E16.2"))
    return out
