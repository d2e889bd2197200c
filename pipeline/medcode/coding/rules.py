"""Coding conventions that join what a note says in different places: combination and history codes.

A coder does not code "hypertension" and "CKD stage 4" as two unrelated codes: the Official Guidelines
presume them linked (I.C.9.a.2: I12.9 with N18.4), as they presume "diabetes" linked to every condition the
Alphabetic Index lists under its "with" (I.A.15: a foot ulcer makes E11.621). And a relative's or a past
cancer is coded by the site's history code (Z80-/Z85-), found from the same Table of Neoplasms row as the
cancer. These rules are data (``medcode/data/coding_rules.json``); this module applies them to the codes the
engine found in one note.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from medcode.textnorm import content_words

RULES_FILE = "coding_rules.json"
#: A condition counts for a combination rule or a history code when the engine ranks its code this high in its
#: sentence (or the lexicon finds its title): lower ranks are a sentence's near misses ("CKD" also scores N18.1
#: ... N18.9); a lexicon term that names several codes gives each this rank.
COMBINATION_RANK = 2


@functools.cache
def rules_data() -> dict:
    """``coding_rules.json`` as one dict (read once, on first use; its sections are read by several modules)."""
    return json.loads(resources.files("medcode.data").joinpath(RULES_FILE).read_text("utf-8"))


@dataclass(frozen=True)
class Combination:
    """One combination rule (see the data file's ``about``)."""

    all: tuple[tuple[str, ...], ...]
    none: tuple[str, ...]
    words: tuple[frozenset[str], ...]
    add: str
    replace: tuple[tuple[str, str], ...]
    group: str
    none_words: tuple[frozenset[str], ...] = ()


def _canonical(words: list[str]) -> frozenset[str]:
    """A rule's words as the engine reads a note ("chemotherapy" is "antineoplastic", "malignancy" is "malignant
    neoplasm"), so the data can say them as a note does."""
    return frozenset(content_words(" ".join(words)))


@functools.cache
def combinations() -> tuple[Combination, ...]:
    """The combination rules, in file order."""
    data = rules_data()
    return tuple(Combination(tuple(tuple(g) for g in r["all"]), tuple(r.get("none", ())),
                             tuple(_canonical(w) for w in r.get("words", ())), r.get("add", ""),
                             tuple(sorted(r.get("replace", {}).items(), key=lambda kv: -len(kv[0]))),
                             r.get("group", ""), tuple(_canonical(w) for w in r.get("none_words", ())))
                 for r in data["combinations"])


@functools.cache
def history_codes(kind: str) -> tuple[tuple[str, str], ...]:
    """``((code prefix, history code), ...)`` for ``family`` or ``personal``, longest prefix first."""
    data = rules_data()
    return tuple(sorted(data["history"][kind].items(), key=lambda kv: -len(kv[0])))


@functools.lru_cache(maxsize=65536)
def history_code(kind: str, code: str) -> str | None:
    """The ``family`` or ``personal`` history code of a condition's code (``C18.7`` -> ``Z80.0``), or ``None``."""
    return next((z for prefix, z in history_codes(kind) if code.startswith(prefix)), None)


def combination_codes(found: Iterable[tuple[str, int, object]], words: set[str]) -> list[tuple[object, str]]:
    """The combination codes a note's conditions call for.

    Args:
        found: ``(code, rank, where)`` of the note's current (affirmed) conditions; ``rank`` orders the
            codes of one group (0: the engine's best for its sentence), ``where`` is returned with the code.
        words: the note's canonical words (for rules that read words, such as "poorly controlled").

    Returns:
        ``(where of the first group's code, combination code)`` per rule that applies; the caller checks
        that the code exists in its release.
    """
    # Only the codes some rule names can be a rule's (in their order: ties keep their first): scanning every code
    # of the note for each of the rules' lists was 0.2 ms of a CodiEsp dev note.
    prefixes, leading = _rule_prefixes(), _leading_prefixes()  # once, not per code
    found = [f for f in found if f[0].startswith(prefixes)]
    if not any(code.startswith(leading) for code, _, _ in found):
        return []  # no code any rule starts from: most notes
    out: list[tuple[object, str]] = []
    done: set[str] = set()
    for rule in combinations():
        if rule.group and rule.group in done:
            continue
        best = []
        for prefixes in rule.all:
            # The best-ranked code of the list; among equals, the list's order (E11 before E10: the Index's
            # default for "diabetes" is type 2).
            hit = min(((rank, next(k for k, p in enumerate(prefixes) if code.startswith(p)), code, where)
                       for code, rank, where in found if code.startswith(prefixes)), default=None)
            if hit is None:
                break
            best.append(hit)
        else:
            # A code found only as a near miss, or as one of a lexicon term's several codes ("septic": A41.2,
            # A41.50, A41.89 ...), names no condition that bars the rule (A41.9 for septic shock had been barred).
            if rule.none and any(code.startswith(rule.none) for code, rank, _ in found if rank < COMBINATION_RANK):
                continue
            if rule.words and not any(w <= words for w in rule.words):
                continue
            if any(w <= words for w in rule.none_words):
                continue
            code = _combined(rule, [code for _, _, code, _ in best])
            if code:
                out.append((best[0][3], code))
                if rule.group:
                    done.add(rule.group)
    return out


@functools.cache
def _leading_prefixes() -> tuple[str, ...]:
    """Every prefix of the rules' first lists (a note with none of them has no combination)."""
    return tuple(sorted({p for rule in combinations() for p in rule.all[0]}))


@functools.cache
def _rule_prefixes() -> tuple[str, ...]:
    """Every prefix a rule lists (in ``all`` or ``none``)."""
    return tuple(sorted({p for rule in combinations() for prefixes in (*rule.all, rule.none) for p in prefixes}))


def _combined(rule: Combination, codes: list[str]) -> str | None:
    if rule.replace:
        last = codes[-1]
        return next((new + last[len(old):] for old, new in rule.replace if last.startswith(old)), None)
    return rule.add.format(codes[0][:3])


#: A resection named as past: "s/p R hemicolectomy", "history of total hysterectomy", "mastectomy in 2015",
#: "splenectomy 10 years ago", "3 years after sigmoid colectomy" (the words between are the side and kind).
_PAST_BEFORE = re.compile(r"\b(?:s/p|status\s+post|history\s+of|hx\s+of|hx|h/o|prior|previous|remote|"
                          r"\d+\s*-?\s*(?:years?|yrs?|months?)\s+after)((?:\s+[\w-]+){0,3}?)"
                          r"\s+([a-z]+ectomy|whipple|enucleation)\b", re.IGNORECASE)
_PAST_AFTER = re.compile(r"\b([a-z]+ectomy|whipple)\b(?:\s+(?:in|on))?\s+(?:(?:19|20)\d\d\b|\d+\s+(?:years?|yrs?|months?)\s+ago)",
                         re.IGNORECASE)
_SIDES = (("bilateral", re.compile(r"\b(?:bilateral|both|b/l|double)\b", re.I)),
          ("right", re.compile(r"\b(?:right|r|rt)\b", re.I)), ("left", re.compile(r"\b(?:left|l|lt)\b", re.I)))


@functools.cache
def _absences() -> dict[str, object]:
    data = rules_data()
    return data.get("acquired_absence", {}).get("procedures", {})


def absence_codes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, code)`` of the acquired-absence (Z90) code of each resection a note names as past."""
    if "ectomy" not in text.lower() and "whipple" not in text.lower() and "enucleation" not in text.lower():
        return []  # most notes
    table = _absences()
    out = []
    for pattern, between_group, word_group in ((_PAST_BEFORE, 1, 2), (_PAST_AFTER, None, 1)):
        for m in pattern.finditer(text):
            word = m.group(word_group).lower()
            between = m.group(between_group) if between_group else ""
            entry = table.get(f"{between.strip().lower().split()[-1]} {word}" if between.strip() else "", table.get(word))
            if isinstance(entry, dict):
                side = next((name for name, p in _SIDES if p.search(between or text[max(m.start() - 20, 0):m.start()])), "")
                entry = entry.get(side)
            if entry:
                out.append((m.start(word_group), m.end(word_group), entry))
    return list({code: (s, e, code) for s, e, code in out}.values())


#: A follow-up visit ("f/u", "surveillance", "follow-up exam", "f/u after completed abx"; not a planned one:
#: "follow-up in 2 weeks", "follow-up after the MRI"), and a
#: note saying the treatment is over.
_FOLLOW_UP = re.compile(r"\b(?:follow[- ]?up|f/u|surveillance|post-?treatment\s+visit)\b(?!\s+(?:in|with|at|"
                        r"after(?!\s+(?:completed|completing|completion|finishing|treatment|therapy))|"
                        r"on|planned|scheduled|arranged)\b)", re.IGNORECASE)
_TREATMENT_OVER = re.compile(r"\b(?:no\s+(?:evidence\s+of\s+)?(?:recurrence|recurrent|residual|active|disease)|NED|completed|"
                             r"finished|resolved|cured|undetectable|in\s+remission)\b", re.IGNORECASE)
_MALIGNANCY = re.compile(r"\b(?:cancer|ca|carcinoma|adenocarcinoma|malignan\w*|lymphoma|melanoma|leukemia|sarcoma|"
                         r"myeloma|seminoma|glioma|blastoma)\b", re.IGNORECASE)
#: For Z09 the treatment of the condition itself is over ("annual follow-up" of Down syndrome, "no residual defect"
#: after a repair, is a visit for a current condition, not Z09).
_TREATED_AND_OVER = re.compile(r"\b(?:after\s+(?:completed\s+|completing\s+)?(?:treatment|therapy|antibiotics|course)|"
                               r"completed\s+(?:treatment|therapy|course|antibiotics)|resolved|cured|removed|excised|resected)\b", re.IGNORECASE)
#: Treatment still going on, or a recurrence: the condition is current, the visit is no Z08/Z09 follow-up.
_STILL_TREATED = re.compile(r"\b(?:recurrence\s+(?:found|confirmed|noted|of)|recurred|metasta\w*|progress\w*|"
                            r"on\s+(?:chemo\w*|tamoxifen|anastrozole|letrozole)|cycle\s+\d|continues?\s+\w*\s*treatment)\b",
                            re.IGNORECASE)


def follow_up_codes(text: str) -> list[tuple[int, int, str]]:
    """Z08 (or Z09) for a follow-up examination after completed treatment of a malignancy (or of another
    condition): Guidelines I.C.21.c.8, with the history code of what was treated (Z85-, Z86-, Z87-)."""
    low = text.lower()
    if not any(w in low for w in ("follow", "f/u", "surveillance", "treatment")):
        return []  # most notes: a substring test first
    visit = _FOLLOW_UP.search(text)
    if not visit or not _TREATMENT_OVER.search(text) or _STILL_TREATED.search(text):
        return []
    if _MALIGNANCY.search(text):
        return [(visit.start(), visit.end(), "Z08")]
    return [(visit.start(), visit.end(), "Z09")] if _TREATED_AND_OVER.search(text) else []


#: A blood pressure reading ("BP 152/94", "blood pressure of 150/92") and a statement that hypertension was never
#: diagnosed: R03.0, elevated blood-pressure reading without diagnosis of hypertension (Index: Elevated, blood
#: pressure, reading, no diagnosis of hypertension). The words cannot find it: the value is a number and the
#: statement a negation.
_BP = re.compile(r"\b(?:BP|blood\s+pressures?)\b(?:\s+(?:of|was|is|reading|readings|at|today))*\s*:?\s*(\d{2,3})\s*/\s*(\d{2,3})",
                 re.IGNORECASE)
_NO_HYPERTENSION = re.compile(r"\b(?:no|without|never|denies)\s+(?:\w+\s+){0,3}?(?:diagnosis|dx|history|hx)\s+(?:of\s+)?"
                              r"(?:hypertension|HTN)\b|\bnot\s+(?:been\s+)?diagnosed\s+with\s+(?:hypertension|HTN)\b",
                              re.IGNORECASE)
#: The reading is elevated at or above these (systolic, diastolic).
ELEVATED_BP = (130, 80)


def elevated_bp_codes(text: str) -> list[tuple[int, int, str]]:
    """R03.0 for an elevated blood-pressure reading in a note that says hypertension was not diagnosed."""
    low = text.lower()
    if "htn" not in low and "hypertension" not in low:
        return []  # most notes: a substring test first
    m = _BP.search(text)
    if not m or not _NO_HYPERTENSION.search(text):
        return []
    if int(m.group(1)) < ELEVATED_BP[0] and int(m.group(2)) < ELEVATED_BP[1]:
        return []
    return [(m.start(), m.end(), "R03.0")]


#: An encounter for the treatment itself (Guidelines I.C.2.e.2: Z51.0 radiotherapy, Z51.11 chemotherapy, Z51.12
#: immunotherapy, first): a cycle given, an infusion of the drug, a radiation fraction delivered. A plan ("RT to
#: follow", "will start chemotherapy") or a past course is no such encounter, nor is a complication of it. ("Daily XRT
#: session for prostate adenocarcinoma" had no Z51.0: 1 of 120 fresh5 notes read.)
_THERAPY_ENCOUNTER = (
    ("Z51.11", re.compile(r"\b(?:cycle\s+\d+|C\d+D\d+|infusion\s+clinic|(?:admitted|here|seen|presents?)\s+for\s+(?:\w+\s+){0,3}?"
                          r"chemo\w*|chemo\w*\s+(?:was\s+)?(?:infused|given|administered)|(?:infusion|administration)\s+of\s+"
                          r"(?:\w+\s+){0,3}?(?:FOLFOX|FOLFIRI|doxorubicin|cyclophosphamide|paclitaxel|docetaxel|carboplatin|"
                          r"cisplatin|oxaliplatin|gemcitabine|rituximab|chemo\w*))", re.IGNORECASE)),
    ("Z51.12", re.compile(r"\b(?:(?:infusion|dose|cycle)\s+(?:\d+\s+)?of\s+(?:pembrolizumab|nivolumab|atezolizumab|durvalumab|"
                          r"ipilimumab)|immunotherapy\s+(?:infusion|given|administered))", re.IGNORECASE)),
    ("Z51.0", re.compile(r"\b(?:external\s+beam|radiation\s+(?:therapy\s+)?(?:fraction|session|treatment)\s+\d+|fraction\s+\d+\s+of|"
                         r"(?:IMRT|SBRT|XRT|radiotherapy|radiation\s+therapy)\s+(?:was\s+)?(?:given|delivered|session|fraction)|"
                         r"(?:admitted|here|seen)\s+for\s+(?:\w+\s+){0,2}?(?:radiation|radiotherapy))", re.IGNORECASE)),
)
_PLANNED_THERAPY = re.compile(r"\b(?:plan(?:ned|s)?|will|to\s+follow|scheduled|referr\w*|consider\w*|discuss\w*|after\s+completing)\b",
                              re.IGNORECASE)


def therapy_encounter_codes(text: str) -> list[tuple[int, int, str]]:
    """Z51.0 / Z51.11 / Z51.12 for a visit at which the cancer treatment is given."""
    low = text.lower()
    if not any(w in low for w in ("chemo", "cycle", "infusion", "radiation", "radiotherapy", "beam", "fraction", "imrt",
                                  "sbrt", "xrt", "immunotherapy")):
        return []  # most notes: a substring test first
    out = []
    for code, pattern in _THERAPY_ENCOUNTER:
        for m in pattern.finditer(text):
            start = max(text.rfind(".", 0, m.start()), text.rfind(";", 0, m.start())) + 1
            end = min((i for i in (text.find(".", m.end()), text.find(";", m.end())) if i >= 0), default=len(text))
            if not _PLANNED_THERAPY.search(text[start:end]):
                out.append((m.start(), m.end(), code))
                break
    return out
