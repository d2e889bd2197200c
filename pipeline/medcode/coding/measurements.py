"""Codes read from a stated value: the adult body mass index (Z68.1-Z68.45), weeks of gestation (Z3A, and
from them the trimester of pregnancy codes) and the burned body surface (T31).

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
from collections.abc import Iterable
from dataclasses import dataclass

#: Categories coded from a value only: the engine's word matches of their codes are dropped.
VALUE_CATEGORIES = ("Z68", "Z3A", "T31")

#: A diagnosis a BMI code goes with (Guidelines I.B.14), as a note writes it ("nonobese" is none).
_WEIGHT_DIAGNOSIS = re.compile(r"\b(?:obes(?:e|ity)|overweight|underweight|malnutrition|malnourished|cachexia|"
                               r"cachectic|undernutrition|emaciat\w*|bariatric)\b", re.IGNORECASE)
#: What every match of _WEIGHT_DIAGNOSIS has in a note's :func:`folded` text: a note with none has no weight
#: diagnosis (substring tests are 0.01 ms of a CodiEsp dev note, the case-blind search 0.2 ms).
_WEIGHT_CUES = ("obes", "weight", "nutrition", "malnourished", "cache", "emaciat", "bariatric")
#: Words before a weight diagnosis, in its sentence, that make it not the patient's own current one.
_NOT_PATIENTS = re.compile(r"\b(?:no|not|denies|denied|without|negative|never|mother|father|sister|brother|"
                           r"parent|parents|family|aunt|uncle|grand\w*|son|daughter|sibling|husband|wife)\b",
                           re.IGNORECASE)
#: A BMI and its value, with only a verb or a colon between: "BMI 42", "BMI of 42.3", "BMI: 42",
#: "BMI is 42 kg/m2", "body mass index was 31" (not "BMI pending. 24 hour urine", "BMI, LDL 130").
_VALUE = re.compile(r"\b(?:bmi|body\s+mass\s+index)\b(?:\s*(?:[:=]|\bof\b|\bis\b|\bwas\b|\bnow\b|\btoday\b|"
                    r"\bmeasured\b|\bcalculated\b|\bat\b))*\s*(\d{1,3}(?:[.,]\d+)?)\b(?![.,]?\d)", re.IGNORECASE)
#: What after a number makes it no BMI value: a percentile or per cent ("BMI 97th percentile": a child's),
#: a date ("12/03"), a range ("25-30", "25 to 30"), a decade ("30s").
_NOT_A_VALUE_AFTER = re.compile(r"\s*(?:st\b|nd\b|rd\b|th\b|%|percent|/|-\s*\d|\u2013|s\b|to\s+\d)", re.IGNORECASE)
#: What before "BMI" makes its value no measurement of the patient: a goal ("goal BMI 25").
_NOT_A_VALUE_BEFORE = re.compile(r"\b(?:goal|target|ideal|desired|expected|predicted)\b\W*$", re.IGNORECASE)
#: A clause about an earlier value: "BMI was 45 in 2019", "last year BMI 31", "BMI at diagnosis 40".
_EARLIER = re.compile(r"\b(?:in\s+(?:19|20)\d\d|last\s+(?:year|visit|month)|previous(?:ly)?|prior|ago|"
                      r"at\s+diagnosis|pre-?operative(?:ly)?|before\s+surgery|baseline)\b", re.IGNORECASE)
#: A patient under 20, for whom the adult codes are not (Z68.5-: percentiles for age).
_AGE = re.compile(r"\b(\d{1,3})[- ]?(?:years?|yrs?|y)[- ]?(?:old|o\b)|\b(\d{1,3})\s*y/?o\b", re.IGNORECASE)
_CHILD = re.compile(r"\b(?:child|boy|girl|adolescent|teen(?:ager)?|infant|toddler|pediatric|paediatric|"
                    r"months?[- ]old|for\s+age|percentile)\b", re.IGNORECASE)
#: The adult codes' titles: "... 40.0-44.9, adult", "... 19.9 or less, adult", "... 70 or greater, adult".
_RANGE = re.compile(r"(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?), adult$")
_BELOW = re.compile(r"(\d+(?:\.\d+)?) or less, adult$")
_ABOVE = re.compile(r"(\d+(?:\.\d+)?) or greater, adult$")
#: The highest value read as a BMI (a larger number after "BMI" is something else: a date, a weight).
MAX_BMI = 150.0


@dataclass(frozen=True)
class ValueRanges:
    """The ranges of the codes read from a value, from a release's titles.

    Attributes:
        bmi: ``((low, high, code), ...)`` of the adult BMI codes (``high`` inclusive, to one decimal, as the
            titles state it).
        weeks: ``((first week, last week, code), ...)`` of the weeks-of-gestation codes.
    """

    bmi: tuple[tuple[float, float, str], ...]
    weeks: tuple[tuple[int, int, str], ...]

    @classmethod
    def from_titles(cls, titles: Iterable[tuple[str, str]]) -> ValueRanges:
        """Ranges from ``(code, title)`` pairs (the engine's index gives the release it codes with)."""
        bmi, weeks = [], []
        for code, title in titles:
            if code.startswith("Z68"):
                if m := _RANGE.search(title):
                    bmi.append((float(m.group(1)), float(m.group(2)), code))
                elif m := _BELOW.search(title):
                    bmi.append((0.0, float(m.group(1)), code))
                elif m := _ABOVE.search(title):
                    bmi.append((float(m.group(1)), MAX_BMI, code))
                # else a pediatric (percentile) code
            elif code.startswith("Z3A"):
                if m := _WEEKS_TITLE.search(title):
                    weeks.append((int(m.group(1)), int(m.group(1)), code))
                elif m := _FEWER_TITLE.search(title):
                    weeks.append((1, int(m.group(1)) - 1, code))
                elif m := _MORE_TITLE.search(title):
                    weeks.append((int(m.group(1)) + 1, MAX_WEEKS, code))
                # else "not specified"
        return cls(tuple(sorted(bmi)), tuple(sorted(weeks)))

    def bmi_code(self, value: float) -> str | None:
        return next((c for low, high, c in self.bmi if low <= value <= high), None)

    def weeks_code(self, week: int) -> str | None:
        return next((c for low, high, c in self.weeks if low <= week <= high), None)


@functools.cache
def bundled_ranges() -> ValueRanges:
    """The ranges of the bundled FY2026 tabular, for callers without an engine index (tests, tools).

    It reads the whole tabular (seconds, and memory); the engine passes its own index's titles instead.
    """
    import simple_icd_10_cm as cm

    return ValueRanges.from_titles((code, cm.get_description(code)) for prefix in VALUE_CATEGORIES[:2]
                                   for code in cm.get_descendants(prefix) if cm.is_leaf(code))


def adult_bmi_ranges() -> tuple[tuple[float, float, str], ...]:
    """The bundled release's adult BMI ranges (see :class:`ValueRanges`)."""
    return bundled_ranges().bmi


def _clause(text: str, start: int, end: int) -> str:
    """The clause around ``text[start:end]``: from the last sentence end, comma or semicolon before it to
    the next after it."""
    left = max(text.rfind(ch, 0, start) for ch in ".;,\n")
    ends = [i for i in (text.find(ch, end) for ch in ".;,\n") if i >= 0]
    return text[left + 1:min(ends) if ends else len(text)]


def _sentence(text: str, at: int) -> str:
    """The sentence of ``text`` around position ``at``."""
    left = max(text.rfind(ch, 0, at) for ch in ".;\n")
    ends = [i for i in (text.find(ch, at) for ch in ".;\n") if i >= 0]
    return text[left + 1:min(ends) if ends else len(text)]


def _patient_has_weight_diagnosis(text: str) -> bool:
    """Whether a weight diagnosis is named of the patient: not denied, not a relative's (words before it
    in its sentence)."""
    low = _folded_note(text)
    if not any(cue in low for cue in _WEIGHT_CUES):
        return False  # most notes
    for m in _WEIGHT_DIAGNOSIS.finditer(text):
        sentence_start = max(text.rfind(ch, 0, m.start()) for ch in ".;\n") + 1
        if not _NOT_PATIENTS.search(text, sentence_start, m.start()):
            return True
    return False


def _is_adult(text: str) -> bool:
    """Whether nothing in the note says the patient is under 20 (the adult BMI codes are for 20 and over)."""
    if _CHILD.search(text):
        return False
    ages = [int(a or b) for a, b in _AGE.findall(text)]
    return not ages or ages[0] >= 20


def bmi_codes(text: str, ranges: ValueRanges | None = None) -> list[tuple[int, int, str]]:
    """``(start char, end char, code)`` of the adult BMI value the text states of the patient (at most one).

    Values are rounded to one decimal before the range is chosen, as the titles' ranges are written
    ("44.96" is 45.0, Z68.42). None without a weight diagnosis of the patient's (Guidelines I.B.14: not
    denied, not a relative's), for a patient under 20, for a goal or an earlier value, a range or a date.
    The first current value counts (a patient has one BMI).
    """
    if not _patient_has_weight_diagnosis(text) or not _is_adult(text):
        return []
    for m in _VALUE.finditer(text):
        if _NOT_A_VALUE_AFTER.match(text, m.end(1)) or _NOT_A_VALUE_BEFORE.search(text, 0, m.start()):
            continue
        if _EARLIER.search(_clause(text, m.start(), m.end())) or _NOT_PATIENTS.search(_sentence(text, m.start())):
            continue
        value = round(float(m.group(1).replace(",", ".")), 1)
        if not 10.0 <= value <= MAX_BMI:
            continue
        code = (ranges or bundled_ranges()).bmi_code(value)
        if code:
            return [(m.start(), m.end(1), code)]
    return []


#: A note about a pregnancy: its words (found inside others: "pregnancy", "delivered"), then its shorthand (both
#: read in the note's :func:`folded` text).
#: ("breech", "placenta", "hydramnios", "singleton": a note about them is a pregnancy's; "Breech presentation at 36 wks,
#: singleton" had no Z3A.36, 1 of 120 fresh5 notes read.)
_PREGNANCY_WORDS = ("pregnan", "gestation", "gravid", "deliver", "cesarean", "c-section", "intrauterine", "obstetric",
                    "antenatal", "antepartum", "prenatal", "eclampsia", "trimester", "fetal", "fetus", "hyperemesis",
                    "breech", "placent", "hydramnios", "singleton")
_PREGNANCY_SHORTHAND = re.compile(r"\bg\d+\s*p\d|\blabou?r\b|\biup\b|\bn?svd\b|\bg\d+\s+at\b|\bgdm\b")
#: What every match of _PREGNANCY_SHORTHAND has: the pattern, led by word boundaries, tries every position of the
#: note (0.11 ms of a CodiEsp dev note); these tests are 0.01 ms.
_SHORTHAND_CUES = ("labo", "iup", "svd", "gdm")
_G_NUMBER = re.compile(r"g\d")


def _shorthand(low: str) -> bool:
    """Whether a folded text has pregnancy shorthand (_PREGNANCY_SHORTHAND)."""
    if not (any(cue in low for cue in _SHORTHAND_CUES) or _G_NUMBER.search(low)):
        return False
    return bool(_PREGNANCY_SHORTHAND.search(low))
#: A note's :func:`folded` text is searched with patterns written in lower case and no case flag: they find what
#: the case-blind search finds in the text, at the same positions. A case-blind search with no literal to start
#: from tries each branch at every character: the pregnancy pattern (22 branches) was 0.42 ms of a 2,000-character
#: CodiEsp dev note; its words as substrings of the folded text and the shorthand pattern are 0.05 ms.
#: So is the fold: the characters other than ASCII letters that a case-blind search matches to an ASCII letter (all of them, by
#: Python's own case tables: "İ" and "ı" to "i", "ſ" to "s", the Kelvin sign to "k").
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
#: The characters _FOLD maps (a text without them lower-cases alone: translating a 2,000-character note that
#: is not ASCII was 0.1 ms; 62 of 250 CodiEsp dev notes are not).
_FOLDED_CHARS = tuple(chr(c) for c in _FOLD)


def folded(text: str) -> str:
    """``text`` lower-cased so that a lower-case pattern found in it is found case-blind in ``text`` and the
    reverse (same length, same positions: "İ".lower() alone is two characters)."""
    if text.isascii() or not any(c in text for c in _FOLDED_CHARS):
        return text.lower()
    return text.translate(_FOLD).lower()


#: The note's folded text, made once for the value readers that search it.
_folded_note = functools.lru_cache(maxsize=4)(folded)


#: An abortive outcome or termination: Z3A is not assigned with one (I.C.15.b.4) when it is the current one,
#: not a sentence of history ("history of ectopic pregnancy" leaves this pregnancy's weeks coded).
_ABORTIVE = re.compile(r"ectopic|miscarriage|abortion|molar pregnancy|termination|products of conception",
                       re.IGNORECASE)
_HISTORY = re.compile(r"\bhistory\b|\bhx\b|\bprior\b|\bprevious(?:ly)?\b|\bs/p\b|status post|\bg\d+\s*p\d+",
                      re.IGNORECASE)
#: A newborn's record: its gestation is a P07 code, not the mother's Z3A ("baby girl born at 34 weeks").
_NEWBORN = re.compile(r"\b(?:newborn|neonate|neonatal|baby\s+(?:boy|girl)|infant\s+(?:boy|girl)|born\s+at)\b",
                      re.IGNORECASE)
_MATERNAL = re.compile(r"\bpregnant\b|\bg\d+\s*p\d|gravida|primigravida|multigravida", re.IGNORECASE)
#: Words before the weeks, in their clause, or just after them that make them not this pregnancy's
#: current age: a visit or a plan ("return at 2 weeks", "glucose test planned at 28 weeks"), a start
#: ("started vitamins at 8 weeks"), a birth, a past pregnancy ("delivered at 38 weeks in 2019"), the time
#: since delivery or surgery ("3 weeks post-op"). Not "scheduled": a "scheduled cesarean at 39 weeks" is
#: the delivery being coded.
#: (A prenatal visit's weeks are the pregnancy's: "Prenatal visit 24 wks: pre-existing T2DM" had no Z3A.24 and so no
#: trimester for O24.11-, 1 of 260 fresh8 notes.)
_NOT_NOW_BEFORE = re.compile(r"\b(?:follow[- ]?up|return|revisit|recheck|(?<!prenatal )(?<!antenatal )(?<!ob )visit|"
                             r"appointment|planned|plan|"
                             r"started|begun|began|since|until|postpartum|after|born|prior|previous(?:ly)?|history|"
                             r"last)\b", re.IGNORECASE)
_NOT_NOW_AFTER = re.compile(r"^\W*(?:\w+\W+){0,2}?(?:in\s+(?:19|20)\d\d|ago|post[- ]?op\w*|postpartum|"
                            r"after)\b", re.IGNORECASE)
#: A clause that says it is the current age ("now 12 weeks pregnant").
_NOW = re.compile(r"\b(?:now|currently|current|today|presents?|admitted|ega|ga)\b", re.IGNORECASE)
_PART_WEEK = r"(?:\s*(?:\+|and)\s*\d(?:/7)?|\s+\d/7)?"
_WEEKS = (
    # "at 39 weeks", "GA 30+2 weeks", "EGA: 32 wks", "gestational age of 28 weeks"
    re.compile(r"(?:\bat|\bega|\bga|gestational age(?:\s+of)?|\biup)\s*[:=]?\s*(\d{1,2})" + _PART_WEEK
               + r"\s*(?:weeks?|wks?|w)\b", re.IGNORECASE),
    # "32 weeks pregnant", "28 weeks' gestation", "10 weeks of pregnancy", "32 weeks, gestational diabetes",
    # "33 weeks by dates"
    re.compile(r"\b(\d{1,2})" + _PART_WEEK + r"\s*(?:weeks?|wks?)['\u2019]?[,;]?\s*(?:of\s+|by\s+)?"
               r"(?:gestation|pregnan|dates\b|lmp\b|ultrasound\b|iup\b|intrauterine)", re.IGNORECASE),
    # "28w3d"
    re.compile(r"\b(\d{1,2})\s*w\s*\d\s*d\b", re.IGNORECASE),
    # "first pregnancy, 10 weeks", "G2P1, 24 wks", "SVD 39w", "prenatal visit 24 wks": a week count right after the pregnancy's name, nothing
    # between ("pregnant, cough 3 weeks" is a duration; so is "3 weeks ago")
    re.compile(r"(?:pregnan\w*|gravid\w*|\bg\d+\s*p\d+|\bn?svd|(?:prenatal|antenatal|\bob)\s+visit)[\s,:=-]{1,4}(\d{1,2})"
               + _PART_WEEK + r"\s*(?:weeks?|wks?|w)\b(?!\s*(?:ago|postpartum|post))", re.IGNORECASE),
    # "28 wks, new-onset BP 146/94": a pregnancy note that opens with the weeks names the gestational age first, as
    # an obstetric note's header does (a duration is said of something: "3 weeks of cough")
    re.compile(r"^\W*(\d{1,2})" + _PART_WEEK + r"\s*(?:weeks?|wks?)\s*[,;:.]", re.IGNORECASE),
    # "GDM, diet controlled, 28 wks.": the weeks as a clause of their own, after a comma, ending the sentence (a
    # duration is said of something, "cough x 3 weeks"; 1 of 120 fresh5 notes read had its Z3A.28 missed)
    re.compile(r"[,;]\s*(\d{1,2})" + _PART_WEEK + r"\s*(?:weeks?|wks?)\s*(?:[.;]|$)", re.IGNORECASE),
)
#: The weeks patterns for a note's folded text (see _FOLD; they are written in lower case).
_WEEKS_FOLDED = tuple(re.compile(pattern.pattern) for pattern in _WEEKS)
_WEEKS_TITLE = re.compile(r"^(\d+) weeks gestation")
_FEWER_TITLE = re.compile(r"^Less than (\d+) weeks")
_MORE_TITLE = re.compile(r"^Greater than (\d+) weeks")
#: The last week "Greater than 42 weeks" covers (a larger number is no gestational age).
MAX_WEEKS = 45


def gestation_weeks() -> tuple[tuple[int, int, str], ...]:
    """The bundled release's weeks-of-gestation ranges (see :class:`ValueRanges`)."""
    return bundled_ranges().weeks


def _current_abortive(text: str) -> bool:
    """Whether a sentence names an abortive outcome or termination that is not history."""
    if not _ABORTIVE.search(text):
        return False  # none in the note (no match crosses a sentence's end): one search, not one per sentence
    return any(_ABORTIVE.search(sentence) and not _HISTORY.search(sentence)
               for sentence in re.split(r"[.;\n]", text))


def gestation_codes(text: str, ranges: ValueRanges | None = None) -> list[tuple[int, int, str]]:
    """``(start char, end char, code)`` of the current week of gestation a pregnancy note states (at most one).

    None for a newborn's record (unless the note is also the mother's), with a current abortive outcome, or
    for weeks that are a visit, a plan, a start, the time since delivery or a past pregnancy's; of the rest,
    the one its clause calls current ("now 12 weeks"), else the first (a pregnancy has one age).
    """
    low = _folded_note(text)  # the patterns' matches at the same positions, faster (see _FOLD)
    if not (any(word in low for word in _PREGNANCY_WORDS) or _shorthand(low)) or _current_abortive(text):
        return []
    if _NEWBORN.search(text) and not _MATERNAL.search(text):
        return []
    found = {}
    for pattern in _WEEKS_FOLDED:
        for m in pattern.finditer(low):
            clause = _clause(text, m.start(1), m.end())
            before, after = clause.split(text[m.start(1):m.end()], 1) if text[m.start(1):m.end()] in clause \
                else (clause, "")
            if _NOT_NOW_BEFORE.search(before) or _NOT_NOW_AFTER.search(after):
                continue
            week = int(m.group(1))
            code = (ranges or bundled_ranges()).weeks_code(week)
            if code:
                found.setdefault(m.start(1), (m.end(), code, bool(_NOW.search(clause))))
    if not found:
        return []
    start = next((at for at, (_, _, now) in sorted(found.items()) if now), min(found))
    end, code, _ = found[start]
    return [(start, end, code)]


def trimester(week_code: str) -> str:
    """The trimester (``first``, ``second``, ``third``) of a Z3A weeks-of-gestation code, as the Guidelines
    count it (I.C.15.a.3: first, under 14 weeks 0 days; second, to under 28 weeks 0 days); Z3A.01 is "less
    than 8 weeks", Z3A.49 "greater than 42 weeks"."""
    week = int(week_code[4:6])
    return "first" if week < 14 else "second" if week < 28 else "third"


#: "12% TBSA", "burns over 12% of the total body surface"; and the share of it that is third degree. A bound before
#: the number ("<10% TBSA", "less than 10%") puts the extent below it: T31.0, not T31.10 (1 of 120 fresh5 notes read).
_TBSA = re.compile(r"(<|\bless\s+than\s+|\bunder\s+)?(\d{1,3}(?:\.\d+)?)\s*%\s*(?:of\s+)?(?:the\s+)?(?:tbsa|bsa|total\s+body\s+surface|"
                   r"body\s+surface)", re.IGNORECASE)
#: How far below a bound ("<10%") the extent is read.
_BELOW_BOUND = 0.01
_THIRD = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%\s*(?:\w+\s+){0,2}?(?:third[- ]degree|full[- ]thickness)|"
                    r"(?:third[- ]degree|full[- ]thickness)[^.;\d]{0,20}?(\d{1,3}(?:\.\d+)?)\s*%", re.IGNORECASE)
_BURN = re.compile(r"\bburn", re.IGNORECASE)


def burn_extent_codes(text: str) -> list[tuple[int, int, str]]:
    """The T31 code (burns classified by extent of body surface) of a stated total burn surface.

    T31.xy: x the tens of the total percentage, y the tens of its third-degree part (T31.0 under 10%).
    Guidelines I.C.19.d.6: T31 is reported with the burn codes when the site is specified. A note that
    names a third-degree burn without its share gets none (y unknown).
    """
    if "burn" not in _folded_note(text) or not _BURN.search(text):
        return []  # most notes: a substring test first
    m = _TBSA.search(text)
    if not m:
        return []
    total = float(m.group(2)) - (_BELOW_BOUND if m.group(1) else 0.0)
    if not 0 < total <= 100:
        return []
    third = _THIRD.search(text)
    if third:
        part = float(third.group(1) or third.group(2))
    elif re.search(r"third[- ]degree|full[- ]thickness", text, re.IGNORECASE):
        return []
    else:
        part = 0.0
    tens, third_tens = min(int(total // 10), 9), min(int(part // 10), 9)
    code = "T31.0" if tens == 0 else f"T31.{tens}{min(third_tens, tens)}"
    return [(m.start(), m.end(), code)]


def value_codes(text: str, ranges: ValueRanges | None = None) -> list[tuple[int, int, str]]:
    """Every code a note's stated values give: :func:`bmi_codes`, :func:`gestation_codes` and
    :func:`burn_extent_codes`."""
    return bmi_codes(text, ranges) + gestation_codes(text, ranges) + burn_extent_codes(text)
