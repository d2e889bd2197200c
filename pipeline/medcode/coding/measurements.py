"""Codes read from a stated value: the adult body mass index (Z68.1-Z68.45) and weeks of gestation (Z3A).

A coder reads "BMI 42.3" as Z68.41 (40.0-44.9, adult) and "G2P1 at 28 weeks" as Z3A.28. Words cannot: a
title's number is no word a note shares, so the engine's word index would offer every Z68 or Z3A code alike
(those are dropped, see :data:`VALUE_CATEGORIES`). The ranges come from the codes' own titles ("Body mass
index [BMI] 40.0-44.9, adult", "... 19.9 or less, adult", "Less than 8 weeks gestation of pregnancy"), so a
new release's ranges are its own.

Guidelines: a BMI code is reported only with an associated reportable diagnosis (I.B.14: obesity,
overweight, underweight, malnutrition...), so a value is read only in a note that names one; the pediatric
codes (Z68.5-, percentiles for age) are not read from a value. Z3A is not assigned for pregnancies with an
abortive outcome (O00-O08) or an elective termination (I.C.15.b.4... "Codes from category Z3A"), so a note
about one gets none; a number of weeks is read as gestation only where it is said to be ("at 28 weeks",
"32 weeks pregnant", "GA 30+2 weeks", "28w3d"), not "cough for 3 weeks".
"""

from __future__ import annotations

import functools
import re

#: Categories coded from a value only: the engine's word matches of their codes are dropped.
VALUE_CATEGORIES = ("Z68", "Z3A")

#: Words of a note that name a diagnosis a BMI code goes with (canonical, as the engine spells them).
WEIGHT_DIAGNOSES = frozenset({
    "obesity", "obese", "overweight", "underweight", "malnutrition", "malnourished", "cachexia", "cachectic",
    "undernutrition", "emaciation", "anorexia", "bariatric",
})
#: Where a value sits after the BMI's name: "BMI 42", "BMI of 42.3", "BMI: 42", "BMI is 42 kg/m2".
_VALUE = re.compile(r"\b(?:bmi|body\s+mass\s+index)\b[^0-9\n]{0,12}?(\d{1,3}(?:\.\d+)?)", re.IGNORECASE)
_PERCENTILE = re.compile(r"\s*(?:st|nd|rd|th|%|percent)", re.IGNORECASE)
_RANGE = re.compile(r"(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?), adult$")
_BELOW = re.compile(r"(\d+(?:\.\d+)?) or less, adult$")
_ABOVE = re.compile(r"(\d+(?:\.\d+)?) or greater, adult$")
#: The highest value read as a BMI (a larger number after "BMI" is something else: a date, a weight).
MAX_BMI = 150.0


@functools.cache
def adult_bmi_ranges() -> tuple[tuple[float, float, str], ...]:
    """``((low, high, code), ...)`` of the adult BMI codes, from their FY2026 titles (``high`` inclusive,
    to one decimal, as the titles state it)."""
    import simple_icd_10_cm as cm

    out = []
    for code in cm.get_descendants("Z68"):
        if not cm.is_leaf(code):
            continue
        title = cm.get_description(code)
        if m := _RANGE.search(title):
            low, high = float(m.group(1)), float(m.group(2))
        elif m := _BELOW.search(title):
            low, high = 0.0, float(m.group(1))
        elif m := _ABOVE.search(title):
            low, high = float(m.group(1)), MAX_BMI
        else:
            continue  # pediatric (percentile) codes
        out.append((low, high, cm.add_dot(code) if "." not in code else code))
    return tuple(sorted(out))


def bmi_codes(text: str) -> list[tuple[int, int, str]]:
    """``(start char, end char, code)`` for each adult BMI value the text states.

    Values are rounded to one decimal before the range is chosen, as the titles' ranges are written
    ("44.96" is 45.0, Z68.42). A text that names no weight diagnosis gets none (Guidelines I.B.14).
    """
    lowered = text.lower()
    if not any(word in lowered for word in WEIGHT_DIAGNOSES):
        return []
    found = []
    for m in _VALUE.finditer(text):
        if _PERCENTILE.match(text, m.end(1)):
            continue  # "BMI 97th percentile", "BMI 120% of the 95th percentile": a child's, not a value
        value = round(float(m.group(1)), 1)
        if not 10.0 <= value <= MAX_BMI:
            continue
        code = next((c for low, high, c in adult_bmi_ranges() if low <= value <= high), None)
        if code:
            found.append((m.start(), m.end(1), code))
    return found


#: A note about a pregnancy; a note about an abortive outcome or termination gets no Z3A code.
_PREGNANCY = re.compile(r"pregnan|gestation|gravid|\bg\d+\s*p\d|deliver|cesarean|c-section|\blabou?r\b|"
                        r"intrauterine|\biup\b|\bn?svd\b|obstetric|antenatal|prenatal", re.IGNORECASE)
_ABORTIVE = re.compile(r"ectopic|miscarriage|abortion|molar pregnancy|termination|products of conception",
                       re.IGNORECASE)
_PART_WEEK = r"(?:\s*(?:\+|and)\s*\d(?:/7)?|\s+\d/7)?"
_WEEKS = (
    # "at 39 weeks", "GA 30+2 weeks", "EGA: 32 wks", "gestational age of 28 weeks"
    re.compile(r"(?:\bat|\bega|\bga|gestational age(?:\s+of)?|\biup)\s*[:=]?\s*(\d{1,2})" + _PART_WEEK
               + r"\s*(?:weeks?|wks?)\b", re.IGNORECASE),
    # "32 weeks pregnant", "28 weeks' gestation", "10 weeks of pregnancy", "32 weeks, gestational diabetes"
    re.compile(r"\b(\d{1,2})" + _PART_WEEK + r"\s*(?:weeks?|wks?)['’]?[,;]?\s*(?:of\s+)?(?:gestation|pregnan)",
               re.IGNORECASE),
    # "28w3d"
    re.compile(r"\b(\d{1,2})\s*w\s*\d\s*d\b", re.IGNORECASE),
)
_WEEKS_TITLE = re.compile(r"^(\d+) weeks gestation")
_FEWER_TITLE = re.compile(r"^Less than (\d+) weeks")
_MORE_TITLE = re.compile(r"^Greater than (\d+) weeks")


@functools.cache
def gestation_weeks() -> tuple[tuple[int, int, str], ...]:
    """``((first week, last week, code), ...)`` of the Z3A codes, from their FY2026 titles."""
    import simple_icd_10_cm as cm

    out = []
    for code in cm.get_descendants("Z3A"):
        if not cm.is_leaf(code):
            continue
        title = cm.get_description(code)
        if m := _WEEKS_TITLE.search(title):
            low = high = int(m.group(1))
        elif m := _FEWER_TITLE.search(title):
            low, high = 1, int(m.group(1)) - 1
        elif m := _MORE_TITLE.search(title):
            low, high = int(m.group(1)) + 1, 45
        else:
            continue  # "not specified"
        out.append((low, high, cm.add_dot(code) if "." not in code else code))
    return tuple(sorted(out))


def gestation_codes(text: str) -> list[tuple[int, int, str]]:
    """``(start char, end char, code)`` for each stated week of gestation in a note about a pregnancy."""
    if not _PREGNANCY.search(text) or _ABORTIVE.search(text):
        return []
    found = {}
    for pattern in _WEEKS:
        for m in pattern.finditer(text):
            week = int(m.group(1))
            code = next((c for low, high, c in gestation_weeks() if low <= week <= high), None)
            if code:
                found[(m.start(1), m.end())] = code
    return [(a, b, code) for (a, b), code in sorted(found.items())]


def value_codes(text: str) -> list[tuple[int, int, str]]:
    """Every code a note's stated values give: :func:`bmi_codes` and :func:`gestation_codes`."""
    return bmi_codes(text) + gestation_codes(text)
