"""A laboratory value that is itself a finding a coder reports: an elevated INR (R79.1), a low glucose (E16.2), a
potassium far out of range (E87.5, E87.6), a blood alcohol level (Y90), a stroke scale score (R29.7-).

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


#: "K 7.1", "K+ 2.8", "potassium of 6.4" (not "vitamin K 2.5 mg": a dose).
_POTASSIUM = re.compile(r"(?<![\w-])(?<![Vv]itamin\s)(?:K\+?|(?i:potassium))\s*(?:of|was|is|level|:|=|\s)*\s*(\d(?:\.\d)?)(?!\d|[.,]\d)")
#: Potassium values a coder reads as hyperkalemia or hypokalemia without the word (mmol/L): clear of the
#: reference range's edges (3.5-5.0), so a borderline value in a list of labs is not coded.
HIGH_POTASSIUM, LOW_POTASSIUM = 6.0, 3.0
#: "BAL 220 mg/dL", "blood alcohol level of 150", "EtOH 310".
_ALCOHOL = re.compile(r"\b(?:BAL|blood\s+alcohol(?:\s+(?:level|concentration|content))?|serum\s+(?:alcohol|ethanol)|"
                      r"ethanol(?:\s+level)?|EtOH(?:\s+level)?)\s*(?:of|was|is|:|=|\s)*\s*(\d{1,3})(?!\d|\.\d)", re.IGNORECASE)
#: Y90's blood alcohol ranges (mg/100 ml) as its titles give them: a level below the bound is the code.
ALCOHOL_LEVELS = ((20, "Y90.0"), (40, "Y90.1"), (60, "Y90.2"), (80, "Y90.3"), (100, "Y90.4"), (120, "Y90.5"),
                  (200, "Y90.6"), (240, "Y90.7"), (10_000, "Y90.8"))


#: "NIHSS 8", "NIHSS score of 14", "NIHSS: 3": the NIH stroke scale score, R29.700-R29.742 by its value, coded
#: with the stroke (Guidelines I.C.18.i; 1 of 260 fresh8 notes had I63.512 without it).
_NIHSS = re.compile(r"\bNIHSS\b(?:\s+(?:score|of|was|is|on\s+arrival))*\s*[:=]?\s*(\d{1,2})(?!\d|\.\d|\s*-\s*\d)", re.IGNORECASE)
NIHSS_MAX = 42

#: What every match of _POTASSIUM (beside "K", case-sensitive) or _ALCOHOL has in the note's lower-case text.
_VALUE_WORDS = ("potassium", "bal", "alcohol", "ethanol", "etoh")


def _value_codes(text: str) -> list[tuple[int, int, str]]:
    """Potassium and blood alcohol codes from their stated values."""
    out = []
    m = next((m for m in _POTASSIUM.finditer(text)
              if not LOW_POTASSIUM < float(m.group(1)) < HIGH_POTASSIUM), None)
    if m:
        out.append((m.start(), m.end(), "E87.5" if float(m.group(1)) >= HIGH_POTASSIUM else "E87.6"))
    if m := _ALCOHOL.search(text):
        level = int(m.group(1))
        out.append((m.start(), m.end(), next(code for bound, code in ALCOHOL_LEVELS if level < bound)))
    return out


def lab_finding_codes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, code)``: R79.1 for a stated INR above :data:`ELEVATED_INR`, E16.2 for a glucose below
    :data:`LOW_GLUCOSE`, R29.7NN for a stated NIHSS score."""
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
    # Substring tests first: most notes state neither (a regular expression over a CodiEsp note costs ~0.05 ms).
    # (A test narrower than the patterns lost "K7.1" and "bal 220": the patterns' own literals, no more.)
    if "K" in text or any(word in low for word in _VALUE_WORDS):
        out += _value_codes(text)
    if "nihss" in low and (m := _NIHSS.search(text)) and int(m.group(1)) <= NIHSS_MAX:
        out.append((m.start(), m.end(), f"R29.7{int(m.group(1)):02d}"))
    return out
