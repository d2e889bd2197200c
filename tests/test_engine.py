"""The coding engine on one-line notes, with the full FY2026 code sets (built once per session)."""

import pytest

from medcode.about import CM, FAMILY, NEGATED, PCS
from medcode.candidates import demoting
from medcode.coding.encounter import encounter_stated, seventh_character
from medcode.mentions import doc_mentions


@pytest.fixture(scope="module")
def nlp():
    from medcode.codesets.kb import KnowledgeBase
    from medcode.coding.index import CodeIndex
    from medcode.lexicon import kb_lexicon
    from medcode.nlp import build_nlp

    kb = KnowledgeBase.load()
    return build_nlp(kb_lexicon(kb), index=CodeIndex.build(kb))


def engine_codes(nlp, text, system=CM):
    """``{code: (statuses, best rank)}`` of the engine's hits."""
    out = {}
    for m in doc_mentions(nlp(text)):
        for h in m.hits:
            if h.source == "engine" and h.system == system:
                status, rank = out.get(h.code, (frozenset(), 99))
                out[h.code] = (status | m.status, min(rank, h.rank))
    return out


def test_most_specific_code_with_side_and_encounter(nlp):
    codes = engine_codes(nlp, "Fracture of the right femoral neck.")
    assert codes["S72.001A"][1] == 0  # right side, initial encounter by default
    later = engine_codes(nlp, "Follow-up visit for a healing fracture of the right femoral neck.")
    assert "S72.001D" in later and "S72.001A" not in later


def test_without_in_the_note_fits_the_code_without(nlp):
    codes = engine_codes(nlp, "Acute calculous cholecystitis without obstruction.")
    assert codes["K80.00"][1] == 0 and codes.get("K80.01", (0, 99))[1] > 0


def test_neoplasm_table_primary_and_secondary(nlp):
    codes = engine_codes(nlp, "Adenocarcinoma of the sigmoid colon with metastases to the liver.")
    assert {"C18.7", "C78.7"} <= set(codes)


def test_drug_table_by_intent(nlp):
    assert "T39.1X1A" in engine_codes(nlp, "Accidental overdose of acetaminophen.")
    assert "T39.1X2A" in engine_codes(nlp, "Suicide attempt by acetaminophen overdose.")


def test_family_history_code_and_the_relatives_condition(nlp):
    codes = engine_codes(nlp, "Mother had breast cancer.")
    status, _ = codes["Z80.3"]
    assert FAMILY in status and not demoting("Z80.3", CM, status)
    breast = [c for c in codes if c.startswith("C50")]
    assert all(demoting(c, CM, codes[c][0]) for c in breast)


def test_a_negated_condition_gets_no_engine_code_and_its_mention_is_negated(nlp):
    assert not engine_codes(nlp, "Patient denies chest pain.")
    mentions = [m for m in doc_mentions(nlp("Patient denies chest pain.")) if m.text == "chest pain"]
    assert mentions and all(NEGATED in m.status for m in mentions)


def test_procedure_composed_from_the_tables(nlp):
    assert "0FT44ZZ" in engine_codes(nlp, "Laparoscopic cholecystectomy for acute cholecystitis.", PCS)


def test_seventh_character_choice():
    options = {"A": "initial encounter for closed fracture", "B": "initial encounter for open fracture type I or II",
               "D": "subsequent encounter for closed fracture with routine healing",
               "G": "subsequent encounter for closed fracture with delayed healing", "S": "sequela"}
    assert seventh_character(options, {"fracture"}) == "A"
    assert seventh_character(options, {"open", "fracture"}) == "B"
    assert seventh_character(options, {"followup", "delayed", "healing"}) == "G"
    assert seventh_character(options, {"late", "effect"}) == "S"
    assert not encounter_stated({"fracture", "femur"}) and encounter_stated({"followup"})


def test_adult_bmi_code_from_the_stated_value(nlp):
    codes = engine_codes(nlp, "Morbid obesity with a BMI of 42.3 kg/m2.")
    assert "Z68.41" in codes and "E66.01" in codes
    assert "Z68.21" in engine_codes(nlp, "Overweight, BMI 20.96.")  # 21.0 to one decimal, as the titles write ranges
    # No weight diagnosis in the note: no BMI code (Guidelines I.B.14); a child's percentile is no value.
    assert not any(c.startswith("Z68") for c in engine_codes(nlp, "BMI 31, otherwise healthy."))
    assert not any(c.startswith("Z68") for c in engine_codes(nlp, "Childhood obesity, BMI 97th percentile."))


def test_bmi_ranges_come_from_the_titles():
    from medcode.coding.measurements import adult_bmi_ranges, bmi_codes

    ranges = adult_bmi_ranges()
    assert ranges[0] == (0.0, 19.9, "Z68.1") and ranges[-1][2] == "Z68.45" and len(ranges) == 26
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))  # no overlap, in order
    assert [c for _, _, c in bmi_codes("Obesity. BMI 44.9; repeat BMI 45.0; BMI 70.")] == ["Z68.41", "Z68.42", "Z68.45"]


def test_weeks_of_gestation_from_the_stated_value(nlp):
    codes = engine_codes(nlp, "G2P1 at 28 weeks with gestational diabetes.")
    assert "Z3A.28" in codes and not any(c.startswith("Z3A") and c != "Z3A.28" for c in codes)
    # A duration is no gestational age; an abortive outcome gets no Z3A (Guidelines I.C.15).
    assert not any(c.startswith("Z3A") for c in engine_codes(nlp, "Pregnant, with a cough for 3 weeks."))
    assert not any(c.startswith("Z3A") for c in engine_codes(nlp, "Ruptured ectopic pregnancy at 7 weeks."))


def test_gestation_ranges_come_from_the_titles():
    from medcode.coding.measurements import gestation_codes, gestation_weeks

    weeks = gestation_weeks()
    assert weeks[0] == (1, 7, "Z3A.01") and weeks[-1][2] == "Z3A.49" and len(weeks) == 37
    found = gestation_codes("Primigravida 28w3d. Seen again at 44 weeks; 32 weeks' gestation by LMP.")
    assert [c for _, _, c in found] == ["Z3A.28", "Z3A.49", "Z3A.32"]
