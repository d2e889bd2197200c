"""A newborn's birth record: the liveborn code (Z38) and prematurity and low birth weight (P07) from stated values.

A coder codes the birth episode of a baby born in the hospital with Z38 by plurality, place and mode of delivery
(Guidelines I.C.16.a.3 and I.C.21.c.12: "Z38.00 single liveborn, delivered vaginally"), never for a baby transferred
in, and never on the mother's record (hers is Z37, outcome of delivery). Prematurity and low birth weight are P07,
from the stated birth weight and completed weeks (I.C.16.d: both codes when both are stated, weight first). The
engine's word index cannot read "2100 g" or "34 0/7 wks" (a number is no title word), nor "male infant born here by
C-section" as "single liveborn infant, delivered by cesarean", so they are read here; the ranges and the Z38 codes
come from the release's own titles ("Other low birth weight newborn, 2000-2499 grams").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: The categories whose titles give the codes read here.
NEWBORN_CATEGORIES = ("P07", "Z38", "Z00.11")
#: The note is about a baby: its subject is an infant, newborn or neonate ("Term male delivered vaginally here").
_INFANT = re.compile(r"\b(?:newborns?|neonates?|neonatal|infants?|baby|nicu|nursery|preemies?|premies?|(?:term|preterm|premature)\s+"
                     r"(?:male|female|boy|girl)|twin\s+[ab12])\b", re.IGNORECASE)
_INFANT_CUES = ("newborn", "neonat", "infant", "baby", "nicu", "nursery", "term ", "twin", "preemie", "premie")
#: The birth itself, as a note writes it.
_BIRTH = re.compile(r"\b(?:born|delivered|delivery|birth|n?svd)\b", re.IGNORECASE)
#: Born in this hospital.
_HERE = re.compile(r"\b(?:here|inborn|in[- ]house|(?:this|our|the)\s+(?:hospital|facility)|in[- ]hospital)\b",
                   re.IGNORECASE)
#: Born before reaching any hospital.
_OUTSIDE = re.compile(r"\b(?:born|delivered)\s+(?:at\s+home|outside|en\s+route|in\s+the\s+(?:car|ambulance))|"
                      r"\bhome\s+birth\b", re.IGNORECASE)
#: Not the birth episode at this hospital: Z38 is the birth facility's code for the birth stay only.
_NOT_BIRTH_EPISODE = re.compile(r"\b(?:transfer(?:red)?|readmit\w*|re-?admission|day[- ]\d+|\d+[- ](?:days?|weeks?|"
                                r"months?)[- ]old)\b", re.IGNORECASE)
#: The mother's record (her delivery is Z37 and chapter 15; "delivery of a single liveborn infant" is hers).
_MATERNAL = re.compile(r"\b(?:labou?r|gravida|G\d+\s*P\d+|she|her|postpartum|delivery\s+of\s+(?:a|the|single|twin)\w*)\b",
                       re.IGNORECASE)
_CESAREAN = re.compile(r"\b(?:c-?section|cesarean|caesarean|c/s)\b", re.IGNORECASE)
_PLURALITY = (("quintuplet", re.compile(r"\bquintuplets?\b", re.I)),
              ("quadruplet", re.compile(r"\bquadruplets?\b", re.I)),
              ("triplet", re.compile(r"\btriplets?\b", re.I)), ("twin", re.compile(r"\btwins?\b", re.I)))
#: "birth weight 2,100 g", "BW 1380 grams", "birth weight of 1.6 kg".
_WEIGHT = re.compile(r"\b(?:birth\s*weight|BW)\b\D{0,12}?(\d{1,2}(?:[.,]\d{1,3})?|\d{3,4})\s*(kg|g|grams?)\b",
                     re.IGNORECASE)
#: "at 34 weeks", "30 wks", "34 0/7 weeks", "33+2 weeks": completed weeks.
_WEEKS = re.compile(r"\b(\d{2})(?:\s*\d/7|\s*\+\s*\d)?\s*(?:weeks?|wks?)\b", re.IGNORECASE)
#: A newborn's age in days ("5-day-old", "4 days old", "day of life 3", "DOL 10") and a well visit: the health
#: examination for a newborn is Z00.110 under 8 days old, Z00.111 8 to 28 days old, a number no title word can
#: match (the words had given Z00.111 to a "5-day-old newborn weight check", or no Z00.11- at all; 2 of 359 fresh2
#: and fresh5 notes read).
_AGE_DAYS = re.compile(r"\b(\d{1,2})[- ]?days?[- ]old\b|\bday\s+of\s+life\s+(\d{1,2})\b|\bDOL\s*#?\s*(\d{1,2})\b",
                       re.IGNORECASE)
_WELL_VISIT = re.compile(r"\b(?:visit|check|checkup|check-up|exam|examination|well[- ]baby|well[- ]child)\b", re.IGNORECASE)
_UNDER_DAYS_TITLE = re.compile(r"^Health examination for newborn under (\d+) days old$")
_DAYS_TITLE = re.compile(r"^Health examination for newborn (\d+) to (\d+) days old$")
_GRAMS_TITLE = re.compile(r"(\d+)-(\d+) grams$")
_LESS_GRAMS_TITLE = re.compile(r"less than (\d+) grams$")
_WEEKS_TITLE = re.compile(r"gestational age (\d+) completed weeks$")
_LESS_WEEKS_TITLE = re.compile(r"gestational age less than (\d+) completed weeks$")
#: A baby born at or after this many completed weeks is not preterm (no P07.2-/P07.3- code); fewer than
#: MIN_WEEKS is no gestational age at birth ("10 weeks" is an age or an interval).
TERM_WEEKS = 37
MIN_WEEKS = 20


@dataclass(frozen=True)
class NewbornCodes:
    """The P07 ranges and the Z38 codes of a release, from its titles.

    Attributes:
        grams: ``((low, high, code), ...)`` birth weight ranges (inclusive).
        weeks: ``((low, high, code), ...)`` completed weeks of gestation.
        liveborn: ``{(plurality, mode): code}``, mode ``vaginally``, ``cesarean`` or ``outside``.
        exams: ``((first day, last day, code), ...)`` of the newborn health examinations.
    """

    grams: tuple[tuple[int, int, str], ...]
    weeks: tuple[tuple[int, int, str], ...]
    liveborn: dict[tuple[str, str], str]
    exams: tuple[tuple[int, int, str], ...] = ()

    @classmethod
    def from_titles(cls, titles: Iterable[tuple[str, str]]) -> NewbornCodes:
        grams, weeks, liveborn, exams = [], [], {}, []
        for code, title in titles:
            if m := _UNDER_DAYS_TITLE.search(title):
                exams.append((0, int(m.group(1)) - 1, code))
            elif m := _DAYS_TITLE.search(title):
                exams.append((int(m.group(1)), int(m.group(2)), code))
            elif code.startswith("P07"):
                if m := _GRAMS_TITLE.search(title):
                    grams.append((int(m.group(1)), int(m.group(2)), code))
                elif m := _LESS_GRAMS_TITLE.search(title):
                    grams.append((0, int(m.group(1)) - 1, code))
                elif m := _WEEKS_TITLE.search(title):
                    weeks.append((int(m.group(1)), int(m.group(1)), code))
                elif m := _LESS_WEEKS_TITLE.search(title):
                    weeks.append((MIN_WEEKS, int(m.group(1)) - 1, code))
            elif code.startswith("Z38"):
                lower = title.lower()
                plurality = lower.split()[0]
                mode = ("cesarean" if "cesarean" in lower else "vaginally" if "vaginally" in lower
                        else "outside" if "outside hospital" in lower else "")
                if mode:
                    liveborn.setdefault((plurality, mode), code)
        return cls(tuple(sorted(grams)), tuple(sorted(weeks)), liveborn, tuple(sorted(exams)))

    def newborn_codes(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, code)`` (character offsets of the evidence) for a newborn's birth record."""
        low = text.lower()
        if not any(w in low for w in _INFANT_CUES):
            return []  # most notes: a substring test first
        infant = _INFANT.search(text)
        birth = _BIRTH.search(text)
        if not infant or _MATERNAL.search(text):
            return []
        out = []
        # The birth weight and weeks need no birth word ("NICU transfer-in: preemie 32 2/7 wks, BW 1620 g": P07.16, P07.35);
        # the liveborn code does.
        if birth and not _NOT_BIRTH_EPISODE.search(text):
            plurality = next((name for name, pattern in _PLURALITY if pattern.search(text)), "single")
            outside = _OUTSIDE.search(text)
            mode = "outside" if outside else "cesarean" if _CESAREAN.search(text) else "vaginally"
            here = outside or _HERE.search(text)
            code = self.liveborn.get((plurality, mode)) if here else None
            if code:
                out.append((birth.start(), birth.end(), code))
        if (m := _AGE_DAYS.search(text)) and _WELL_VISIT.search(text):
            days = int(next(g for g in m.groups() if g))
            code = next((c for low, high, c in self.exams if low <= days <= high), None)
            if code:
                out.append((m.start(), m.end(), code))
        if m := _WEIGHT.search(text):
            value, unit = m.group(1).replace(",", "" if m.group(2).lower() != "kg" else "."), m.group(2).lower()
            grams = round(float(value) * (1000 if unit == "kg" else 1))
            code = next((c for low, high, c in self.grams if low <= grams <= high), None)
            if code:
                out.append((m.start(), m.end(), code))
        if m := _WEEKS.search(text):
            week = int(m.group(1))
            code = next((c for low, high, c in self.weeks if low <= week <= high), None) if week < TERM_WEEKS else None
            if code:
                out.append((m.start(), m.end(), code))
        return out
