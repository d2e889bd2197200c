"""Coding from the official index tables: neoplasms (site x behaviour), drugs (substance x intent), external causes.

A coder codes a neoplasm from the Table of Neoplasms (the site's row, the behaviour's column), a poisoning,
adverse effect or underdosing from the Table of Drugs and Chemicals (the substance's row, the intent's
column) and an injury's cause from the Index to External Causes. These functions read a sentence the same
way: the words that say which column, the words that find the row, then the code, completed by the
caller's ``refine`` (laterality, the 7th character) when the table gives a code that needs more characters.

Each finding is ``(columns of the words used, code or prefix)``; the engine turns it into a mention.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable

from medcode.codesets.tables import DrugTable, ExternalCauseIndex, NeoplasmTable
from medcode.coding.encounter import encounter_of
from medcode.coding.rules import rules_data
from medcode.coding.terms import drug_class_names
from medcode.textnorm import content_words

#: Words (canonical) that make a sentence about a neoplasm, by behaviour; ``malignant neoplasm`` is what
#: "cancer" and "carcinoma" become (see medcode/data/synonyms.json).
METASTASIS = frozenset({"metastasis", "metastas", "mets", "metastasize", "metastasized", "secondary", "spread"})
IN_SITU = frozenset({"situ", "cis", "dcis", "lcis"})
BENIGN = frozenset({"benign", "adenoma", "lipoma", "fibroma", "hemangioma", "leiomyoma", "papilloma", "polyp"})
UNCERTAIN = frozenset({"uncertain", "borderline"})
MALIGNANT = frozenset({"malignant", "sarcoma", "adenocarcinoma", "blastoma", "carcinoid", "melanoma"})
#: A sentence is about a neoplasm only with one of these ("secondary" alone is not: secondary polycythemia).
NEOPLASM = frozenset({"neoplasm", "metastasis", "metastas", "mets"}) | MALIGNANT | BENIGN | IN_SITU
UNKNOWN_PRIMARY = frozenset({"unknown", "unidentified", "occult"})

#: Words that make a sentence about a drug's harm, by the Table of Drugs' column.
UNDERDOSING = frozenset({"underdosing", "underdose", "missed", "missing", "skipped", "forgot", "ran",
                         "stopped", "noncompliance",
                         "noncompliant", "nonadherence", "nonadherent", "discontinued", "rationing", "unable"})
ADVERSE = frozenset({"adverse", "side", "reaction", "induced", "prescribed", "therapeutic", "correctly",
                     "allergic", "intolerance", "toxicity", "directed"})
#: A drug taken as prescribed is an adverse effect even when the note adds that the drug was then stopped or
#: discontinued ("hyponatremia due to HCTZ taken as prescribed; HCTZ stopped" is T50.2X5A, not underdosing
#: T50.2X6A); only words that say the patient took less ("missed", "skipped") still make it underdosing.
#: ("not as prescribed" never reaches here: the engine reads no words under a negation.)
TAKEN_AS_PRESCRIBED = frozenset({"prescribed", "directed", "induced", "adverse", "correctly"})
UNDERDOSING_STATED = frozenset({"underdosing", "underdose", "missed", "missing", "skipped", "forgot", "ran",
                                "noncompliance", "noncompliant", "nonadherence", "nonadherent", "rationing"})
INTENTIONAL = frozenset({"suicide", "suicidal", "intentional", "intentionally", "deliberate", "selfharm", "self"})
ASSAULT = frozenset({"assault", "homicidal"})
UNDETERMINED = frozenset({"undetermined", "unclear", "unknown"})
POISONING = frozenset({"overdose", "poisoning", "poisoned", "ingestion", "ingested", "toxic", "accidental", "accidentally",
                       "mistakenly", "mistake", "intoxication", "overdosed"})
DRUG_HARM = UNDERDOSING | ADVERSE | INTENTIONAL | POISONING

#: Words that make a sentence about an injury's cause.
INJURY = frozenset({"fall", "fell", "falling", "struck", "bitten", "bite", "collision", "crash", "accident", "burn",
                    "burned", "slipped", "tripped", "hit", "caught", "cut", "stung", "assault", "assaulted", "drowning",
                    "exposure", "motorcycle", "bicycle", "car", "vehicle", "pedestrian", "dog", "ladder", "stair",
                    "punched", "kicked", "fight", "fistfight", "stabbed", "shot", "gunshot", "injured", "injury",
                    "strained", "sprained", "lifting"})

#: An injury named by its kind, not its event ("traumatic Achilles tendon rupture; felt a pop playing tennis"): in such
#: a note the activity and status are read from any sentence, the place only from a sentence that tells the event.
INJURY_KINDS = frozenset({"fracture", "fx", "sprain", "strain", "rupture", "ruptured", "laceration", "lac", "dislocation",
                          "contusion", "concussion", "traumatic", "tear", "torn", "thrown",
                          # injuries by heat, cold and the skin's wounds (chapter 19 too): "heat exhaustion at mile 20 of a
                          # marathon" had no running activity (Y93.02; 2 of 505 fresh2/fresh3 notes)
                          "exhaustion", "heatstroke", "frostbite", "hypothermia", "abrasion", "avulsion",
                          "whiplash"})

#: Every word of an injury (its event or its kind).
_INJURY_WORDS = INJURY | INJURY_KINDS

#: The one main term the Index to External Causes codes by itself (W19).
DEFAULT_CAUSE = frozenset({"fall"})

Refine = Callable[[str, set[str]], str | None]
Finding = tuple[frozenset[str], str]


def _codes(hit, column: str) -> str | None:
    code = hit.codes.get(column)
    return code.rstrip("-").rstrip(".") if code else None


def neoplasm_codes(words: list[str], refine: Refine) -> list[Finding]:
    """Codes for the neoplasms a sentence (its canonical words, in order) names, by site and behaviour."""
    bag = set(words)
    if not bag & NEOPLASM:
        return []
    table = NeoplasmTable.load()
    out: list[Finding] = []
    # Words after a metastasis word (to its clause's end) and one word before it name secondary sites;
    # the rest name the primary.
    secondary: set[str] = set()
    for i, w in enumerate(words):
        if w in METASTASIS:
            secondary.update(words[max(i - 1, 0):i])
            secondary.update(words[i + 1:i + 7])
    primary = bag - secondary
    if bag & METASTASIS and secondary:
        out += _site_codes(table, secondary, "malignant_secondary", refine)
        if bag & UNKNOWN_PRIMARY:
            code = table.site_unspecified.get("malignant_primary")
            if code:
                out.append((frozenset(bag & (UNKNOWN_PRIMARY | {"primary"})), code))
    column = ("in_situ" if bag & IN_SITU else "uncertain" if bag & UNCERTAIN else
              "malignant_primary" if primary & (MALIGNANT | {"malignant"}) else
              "benign" if bag & BENIGN else "unspecified" if primary & {"neoplasm"} else None)
    if column:
        out += _site_codes(table, primary, column, refine)
    return out


def _site_codes(table, words: set[str], column: str, refine: Refine) -> list[Finding]:
    hits = [h for h in table.find(words, limit=5) if h.codes.get(column)]
    if not hits:
        return []
    best = max(h.specificity for h in hits)
    out = []
    for hit in (h for h in hits if h.specificity == best):
        code = _codes(hit, column)
        full = refine(code, words) if code else None
        if full:
            out.append((hit.matched, full))
    return out[:2]


def drug_column(bag: set[str]) -> str | None:
    """The Table of Drugs column a sentence's words ask for, or ``None`` if it names no harm by a drug."""
    if not bag & DRUG_HARM:
        return None
    if bag & UNDERDOSING and not (bag & TAKEN_AS_PRESCRIBED and not bag & UNDERDOSING_STATED):
        return "underdosing"
    if bag & INTENTIONAL:
        return "poisoning_intentional"
    if bag & ASSAULT:
        return "poisoning_assault"
    if bag & ADVERSE and not bag & {"overdose", "mistakenly", "mistake", "accidental", "accidentally"}:
        return "adverse_effect"
    if bag & UNDETERMINED and bag & {"intent"}:
        return "poisoning_undetermined"
    return "poisoning_accidental"


#: Why a patient took less than prescribed, by the noncompliance code Guidelines I.C.19.e.5.c pair with an
#: underdosing code "to indicate intent, if known": cost first (it is the reason the note gives), then a choice
#: of the patient's, then a lapse.
NONCOMPLIANCE = (
    (frozenset({"afford", "cost", "costs", "expensive", "financial", "insurance", "copay"}), "Z91.120"),
    (frozenset({"felt", "decided", "chose", "refused", "refuses", "intentionally", "wanted"}), "Z91.128"),
    (frozenset({"forgot", "forgets", "forgetful", "forgetting"}), "Z91.138"),
)


@functools.cache
def _class_table_rows() -> dict[str, str]:
    return rules_data().get("drug_table_classes", {}).get("rows", {})


def _class_rows(words: list[str]) -> list:
    """Table rows of the classes of the drugs a sentence names that the Table of Drugs does not list ("apixaban",
    "Eliquis": its class's row, Anticoagulant NEC), with the drug's own words as the match."""
    names = drug_class_names()
    rows = _class_table_rows()
    table = DrugTable.load()
    for i in range(len(words)):
        for j in range(min(i + 3, len(words)), i, -1):
            cls = names.get(tuple(words[i:j]))
            if cls:
                hits = table.find(set(content_words(rows.get(cls, cls))), limit=1)
                return [dataclasses.replace(h, matched=frozenset(words[i:j])) for h in hits]
    return []


def drug_codes(words: list[str], refine: Refine) -> list[Finding]:
    """Poisoning, adverse-effect or underdosing codes for the drugs a sentence names (an underdosing's
    noncompliance code with it, when the sentence says why)."""
    bag = set(words)
    column = drug_column(bag)
    if not column:
        return []
    out = []
    hits = DrugTable.load().find(bag, limit=4)
    # A drug the Table does not list goes first also beside one it lists: "overdose of sertraline and alprazolam"
    # had only alprazolam's T42.4X2A and near misses (T43.222A missed, 1 of 260 fresh8 notes).
    unlisted = [h for h in _class_rows(words) if not any(h.matched & hit.matched for hit in hits)]
    for hit in unlisted + hits:
        code = _codes(hit, column)
        full = refine(code, bag) if code else None
        if full:
            out.append((hit.matched, full))
    out = out[:2]
    if out and column == "underdosing":
        # The evidence spans the drug and the reason: "could not afford" alone reads as negated to the context rules.
        out += [(frozenset(bag & cue) | out[0][0], code) for cue, code in NONCOMPLIANCE if bag & cue][:1]
    return out


def external_cause_codes(words: list[str], refine: Refine) -> list[Finding]:
    """The external-cause code of an injury a sentence describes (the most specific index entry)."""
    bag = set(words)
    if not bag & INJURY:
        return []
    hits = ExternalCauseIndex.load().find(bag, limit=6)
    if not hits:
        return []
    best = max(h.specificity for h in hits)
    out = []
    # A main term alone is too vague to code ("struck", "exposure"), except a fall: the Index gives "Fall,
    # falling" its own code (W19, unspecified fall), which coders report when the note says no more.
    for hit in (h for h in hits if h.specificity == best and (h.specificity > 1 or h.matched == DEFAULT_CAUSE)):
        code = hit.codes.get("code")
        full = refine(code.rstrip("-").rstrip("."), bag) if code else None
        if full:
            out.append((hit.matched, full))
    return out[:1]


#: The Index to External Causes' main terms for where and doing what (their words, and the term's printed start).
_PLACE = (frozenset({"place", "occurrence"}), "Place of occurrence")
_ACTIVITY = (frozenset({"activity"}), "Activity")
#: A vehicle as the place (Y92.81-) is for a non-transport accident inside it; an occupant's collision is on the road.
_NOT_A_PLACE = ("Y92.81",)


@functools.cache
def circumstance_forms() -> dict:
    """The place and activity word forms and the Y99 status cues of ``coding_rules.json`` (canonical words)."""
    section = rules_data().get("circumstances", {})

    def forms(name: str) -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
        return tuple((frozenset(content_words(k)), frozenset(content_words(v))) for k, v in section.get(name, {}).items())

    status = tuple((frozenset(content_words(" ".join(r["words"]))), r["code"]) for r in section.get("status", ()))
    return {"place": forms("place_forms"), "activity": forms("activity_forms"), "status": status}


def circumstance_codes(words: list[str], note: set[str]) -> list[Finding]:
    """The place of occurrence (Y92), activity (Y93) and status (Y99) of an injury a sentence describes.

    Reported once, at the initial encounter (Guidelines I.C.20.b, c, k), so none for a later encounter. A
    place or activity is coded only from an entry below its main term: "Place of occurrence" alone is Y92.9,
    which a coder does not report (the unspecified place code is not used, I.C.20.b).
    """
    bag = set(words)
    event = bool(bag & INJURY)
    # Tested on the note and the sentence apart: their union, made for each sentence of every note, was 0.1 ms of a
    # CodiEsp dev note (most have no injury word).
    if not (event or not _INJURY_WORDS.isdisjoint(note) or not _INJURY_WORDS.isdisjoint(bag)):
        return []
    if encounter_of(note | bag) != "initial":
        return []
    forms = circumstance_forms()
    index = ExternalCauseIndex.load()
    out: list[Finding] = []
    for (lead, term), kind in ((_PLACE, "place"), (_ACTIVITY, "activity"))[0 if event else 1:]:
        extra, said = set(lead), set()
        for key, added in forms[kind]:
            if key <= bag:
                extra |= added
                said |= key
        hits = [h for h in index.find(bag | extra, limit=12) if h.path[0].startswith(term)
                and len(h.path) > 1 and not h.codes.get("code", "").startswith(_NOT_A_PLACE)]
        if hits:
            # Among equally specific entries, a code that names a place over the residence's unspecified one
            # (Y92.009 "home" ties with Y92.000 "kitchen" once "home" reads as the Index's "residence").
            best = max(hits, key=lambda h: (h.specificity, not h.codes["code"].endswith("9")))
            out.append((frozenset((best.matched & bag) | said), best.codes["code"]))
    out += [(cue, code) for cue, code in forms["status"] if cue <= bag][:1]
    return out


#: Words one of which a sentence needs for a table to say anything of it (or the note, an injury word: see
#: circumstance_codes): most sentences have none, and the four readers' own tests were 0.1 ms of a CodiEsp dev note.
_TABLE_WORDS = NEOPLASM | DRUG_HARM | _INJURY_WORDS


def table_codes(words: list[str], refine: Refine, note: set[str] = frozenset()) -> Iterable[Finding]:
    """Everything the three tables say about a sentence (``note``: the note's canonical words, for the encounter)."""
    if _TABLE_WORDS.isdisjoint(words) and _INJURY_WORDS.isdisjoint(note):
        return
    yield from neoplasm_codes(words, refine)
    yield from drug_codes(words, refine)
    yield from external_cause_codes(words, refine)
    yield from circumstance_codes(words, note)
