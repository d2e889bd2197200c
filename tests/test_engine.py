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
    assert "Z68.41" in codes and any(c.startswith("E66") for c in codes)
    assert "Z68.21" in engine_codes(nlp, "Overweight, BMI 20.96.")  # 21.0 to one decimal, as the titles write ranges
    # No weight diagnosis in the note: no BMI code (Guidelines I.B.14); a child's percentile is no value.
    assert not any(c.startswith("Z68") for c in engine_codes(nlp, "BMI 31, otherwise healthy."))
    assert not any(c.startswith("Z68") for c in engine_codes(nlp, "Childhood obesity, BMI 97th percentile."))


def test_bmi_ranges_come_from_the_titles():
    from medcode.coding.measurements import adult_bmi_ranges, bmi_codes

    ranges = adult_bmi_ranges()
    assert ranges[0] == (0.0, 19.9, "Z68.1") and ranges[-1][2] == "Z68.45" and len(ranges) == 26
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))  # no overlap, in order
    assert [c for _, _, c in bmi_codes("Obesity. BMI 44.9")] == ["Z68.41"]
    assert [c for _, _, c in bmi_codes("Obesity. BMI 44.96")] == ["Z68.42"]  # 45.0 to one decimal
    assert [c for _, _, c in bmi_codes("Obesity. BMI: 70.")] == ["Z68.45"]


def test_a_bmi_is_the_patients_current_measured_value():
    from medcode.coding.measurements import bmi_codes

    def codes(text):
        return [c for _, _, c in bmi_codes(text)]

    # The weight diagnosis must be the patient's (Guidelines I.B.14): not denied, not a relative's.
    assert codes("Patient is not obese. BMI 24. Hypertension.") == []
    assert codes("Mother is obese with BMI 45. Patient is a healthy 30 year old man, BMI 22.") == []
    # Adult codes are for patients of 20 and over.
    assert codes("Obese 10-year-old boy, BMI 32, at the 99th percentile for age.") == []
    # No value: a pending BMI, another lab's number, a date, a range, a goal, an earlier value.
    for text in ("Obesity. BMI pending. 24 hour urine protein ordered.", "Obesity. BMI, LDL 130", "Obese. BMI 12/03/2024: 31.",
                 "Obesity, BMI 25-30", "Obesity, BMI 30s", "Obesity. Goal BMI 25", "Obesity; BMI was 45 in 2019, now 38"):
        assert codes(text) == [], text
    # One value per note: the current one ("last year" is not).
    assert codes("Overweight, BMI 27. Last year BMI 31.") == ["Z68.27"]
    assert codes("Obesity in a 45-year-old woman, BMI 16,5") == ["Z68.1"]  # decimal comma


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
    assert [c for _, _, c in gestation_codes("Primigravida 28w3d, headache.")] == ["Z3A.28"]
    assert [c for _, _, c in gestation_codes("Pregnant at 44 weeks, induction.")] == ["Z3A.49"]


def test_the_weeks_of_gestation_are_this_pregnancys_current_age():
    from medcode.coding.measurements import gestation_codes

    def codes(text):
        return [c for _, _, c in gestation_codes(text)]

    # A visit, a plan or a start is no gestational age; the one stated as the age is.
    assert codes("Pregnant woman, 33 weeks by dates, with gestational diabetes. Return visit at 2 weeks.") == ["Z3A.33"]
    assert codes("Pregnant woman at 20 weeks; glucose tolerance test planned at 28 weeks.") == ["Z3A.20"]
    assert codes("Pregnant, started prenatal vitamins at 8 weeks") == []
    # A past pregnancy's delivery is not this one's; the current one is.
    assert codes("G2P1, delivered at 38 weeks in 2019, now 12 weeks pregnant with nausea.") == ["Z3A.12"]
    assert codes("Postpartum visit 6 weeks after vaginal delivery at 39 weeks.") == []
    # A newborn's record gets no Z3A (its gestation is a P07 code); the delivery being coded does.
    assert codes("Baby girl born at 34 weeks gestation to a G2P1 mother; respiratory distress.") == []
    assert codes("Repeat cesarean delivery at 39 weeks for a prior low transverse incision.") == ["Z3A.39"]
    # A history of an abortive outcome does not take this pregnancy's weeks away.
    assert codes("Pregnant at 8 weeks with hyperemesis; history of ectopic pregnancy.") == ["Z3A.08"]


def test_laceration_site_after_without_foreign_body(nlp):
    # "Laceration without foreign body of scalp": the site is required, not forbidden (medcode.coding.index).
    codes = engine_codes(nlp, "Laceration of the scalp, repaired with staples.")
    assert codes["S01.01XA"][1] == 0 and codes.get("S01.02XA", (0, 99))[1] > 0


def test_not_specified_as_is_forbidden_not_required(nlp):
    codes = engine_codes(nlp, "C. diff colitis, first episode.")
    assert codes["A04.72"][1] < codes.get("A04.71", (0, 99))[1]


def test_breast_without_a_sex_is_coded_female(nlp):
    codes = engine_codes(nlp, "Invasive ductal carcinoma of the upper outer quadrant of the right breast.")
    assert "C50.411" in codes and "C50.421" not in codes


def test_hyphenated_words_match_spaced_keys_and_titles(nlp):
    assert "Z79.52" in engine_codes(nlp, "Long-term use of prednisone for polymyalgia rheumatica.")
    assert "G30.1" in engine_codes(nlp, "Late-onset Alzheimer disease.")


def test_each_condition_of_a_sentence_before_its_alternatives(nlp):
    # Without it the sentence's eight codes were N18.x and N17.x variants, and no E86.0.
    codes = engine_codes(nlp, "Acute kidney injury on chronic kidney disease stage 3b, prerenal from dehydration.")
    assert codes["E86.0"][1] < 3 and codes["N17.9"][1] < 3


def test_combination_codes_the_guidelines_presume(nlp):
    assert engine_codes(nlp, "Type 2 diabetes and stage 3a chronic kidney disease, also hypertension.")["I12.9"][1] == 0
    assert "I11.0" in engine_codes(nlp, "Acute on chronic systolic heart failure; history of hypertension.")
    assert "E11.621" in engine_codes(nlp, "Type 2 diabetes with an ulcer of the left heel, fat layer exposed.")
    assert "F02.80" in engine_codes(nlp, "Alzheimer's disease, late onset, with dementia.")
    # Negated: no combination.
    assert "I12.9" not in engine_codes(nlp, "Hypertension. No chronic kidney disease.")


def test_history_codes_from_the_conditions_code(nlp):
    codes = engine_codes(nlp, "Screening colonoscopy; family history of colon cancer in father.")
    assert "Z80.0" in codes and not demoting("Z80.0", CM, codes["Z80.0"][0])
    assert "Z85.46" in engine_codes(nlp, "Personal history of prostate cancer treated with radiation.")
    assert "I25.2" in engine_codes(nlp, "History of myocardial infarction 3 years ago.")


def test_unspecified_fall_and_missed_doses(nlp):
    assert "W19.XXXA" in engine_codes(nlp, "85-year-old fell at home and has a right intertrochanteric femur fracture.")
    assert "T38.3X6A" in engine_codes(nlp, "Diabetic ketoacidosis after missing insulin doses.")


def test_a_planned_follow_up_is_not_this_encounter(nlp):
    codes = engine_codes(nlp, "Closed Colles fracture of the left distal radius; orthopedic follow-up in one week.")
    assert "S52.532A" in codes and "S52.532D" not in codes


def test_trimester_and_burn_extent_from_stated_values(nlp):
    assert "O10.012" in engine_codes(nlp, "G3P2 at 22 weeks with pre-existing essential hypertension.")
    assert "Z3A.10" in engine_codes(nlp, "Routine prenatal visit, first pregnancy, 10 weeks, normal.")
    codes = engine_codes(nlp, "Third-degree burn of the left lower leg; total burn 12% TBSA, of which 4% third degree.")
    assert "T31.10" in codes
    assert not any(c.startswith("T31") for c in engine_codes(nlp, "Third-degree burn of the left hand, 5% TBSA."))


def test_underdosing_with_its_noncompliance_reason(nlp):
    codes = engine_codes(nlp, "Stopped taking lisinopril a month ago because of the cost.")
    assert "T46.4X6A" in codes and "Z91.120" in codes
    assert not any(c.startswith("Z91.12") for c in engine_codes(nlp, "Missed two doses of lisinopril."))


def test_a_condition_in_pregnancy_is_coded_by_chapter_15(nlp):
    codes = engine_codes(nlp, "30 weeks pregnant with iron deficiency anemia, Hgb 9.2.")
    assert "O99.013" in codes and "Z3A.30" in codes
    assert not any(c.startswith("O99.01") for c in engine_codes(nlp, "Iron deficiency anemia, Hgb 9.2."))


def test_learned_aliases_are_no_conditions_for_combinations_or_histories(nlp):
    # Training teaches correlates ("diabetes" -> I10, from notes that had both): evidence of nothing, so no
    # pregnancy-hypertension code for a note that names no hypertension.
    from medcode.codesets.kb import KnowledgeBase
    from medcode.lexicon import kb_lexicon
    from medcode.nlp import build_nlp

    lexicon = kb_lexicon(KnowledgeBase.load())
    lexicon["diabete"] = [*lexicon.get("diabete", []), ("I10", CM, "learned", 0.46)]
    learned = build_nlp(lexicon, index=nlp.get_pipe("medcode_engine").index)
    codes = engine_codes(learned, "G2P1 at 28 weeks with gestational diabetes.")
    assert "Z3A.28" in codes and not any(c.startswith("O10") for c in codes), codes
    assert "Z86.79" not in engine_codes(learned, "History of diabetes, now diet controlled.")


def test_place_activity_and_status_of_an_injury(nlp):
    # Y92/Y93/Y99 from the Index to External Causes' own main terms; "home" is its "residence".
    codes = engine_codes(nlp, "Cut her left thumb with a kitchen knife while slicing vegetables in her kitchen at home.")
    assert {"Y92.000", "Y93.G1"} <= set(codes)
    road = engine_codes(nlp, "Passenger in a car hit by a truck on the interstate. Closed fracture of the sternum.")
    assert "Y92.411" in road and not any(c.startswith("Y92.81") for c in road)  # the road, not the car
    assert "Y99.0" in engine_codes(nlp, "Warehouse worker strained his lower back lifting boxes at work.")
    # Reported at the initial encounter only, and never without an injury.
    assert not any(c.startswith("Y92") for c in engine_codes(nlp, "Follow-up of a healing wrist fracture after a fall at home."))
    assert not any(c.startswith("Y92") for c in engine_codes(nlp, "Diabetes, stable at home on metformin."))


def test_an_external_cause_title_needs_an_injury_event(nlp):
    # "healing well" / "well-child" is no fall into a well (W17.0), while a cut with a knife keeps its cause.
    assert not any(c.startswith("W17") for c in engine_codes(nlp, "Pathological fracture of the femur, healing well."))
    assert "W26.0XXA" in engine_codes(nlp, "Cut her finger with a kitchen knife.")


def test_side_letters_and_primary_osteoarthritis(nlp):
    assert engine_codes(nlp, "OA R ankle, stiffness.")["M19.071"][1] == 0  # R = right; osteoarthritis is primary
    assert engine_codes(nlp, "Osteoarthritis of both knees.")["M17.0"][1] == 0  # not M17.4 bilateral secondary
    assert "M17.5" in engine_codes(nlp, "Secondary osteoarthritis of the right knee.")
    assert not any(c.startswith("D") for c in engine_codes(nlp, "Removed 5 l of fluid."))


def test_newborn_birth_record_and_prematurity_from_values(nlp):
    codes = engine_codes(nlp, "Male infant born here by C-section at 34 0/7 wks, birth weight 2100 g.")
    assert {"Z38.01", "P07.18", "P07.37"} <= set(codes)
    assert "Z38.00" in engine_codes(nlp, "Term female delivered vaginally in this hospital, exam normal.")
    # Not the mother's record, nor a baby transferred in.
    newborn = nlp.get_pipe("medcode_engine")._newborn_codes()
    assert newborn.newborn_codes("Preterm labor at 33 weeks with vaginal delivery of a liveborn infant.") == []
    assert newborn.newborn_codes("Infant born here, transferred at 20 hours of life with jaundice.") == []
    assert [c for *_, c in newborn.newborn_codes("Newborn born here at 39 weeks, birth weight 3400 g.")] == ["Z38.00"]


def test_anemia_of_a_malignancy_is_d63_0_but_not_chemotherapys(nlp):
    assert "D63.0" in engine_codes(nlp, "Multiple myeloma with anemia due to the myeloma.")
    assert "D63.0" not in engine_codes(nlp, "Anemia due to chemotherapy for breast cancer.")


def test_past_resection_is_an_acquired_absence_and_a_follow_up_after_treatment(nlp):
    codes = engine_codes(nlp, "Onc f/u: hx R breast cancer s/p R mastectomy 2015, completed treatment; no evidence of recurrence.")
    assert {"Z90.11", "Z08"} <= set(codes)
    assert "Z09" in engine_codes(nlp, "F/u 6 wks after treatment for pneumonia; pneumonia resolved.")
    # A resection done now is a procedure; a planned follow-up is no follow-up visit.
    assert not any(c.startswith("Z90") for c in engine_codes(nlp, "Laparoscopic cholecystectomy for acute cholecystitis."))
    assert not {"Z08", "Z09"} & set(engine_codes(nlp, "Cough resolved. Follow-up in 2 weeks."))


def test_taken_as_prescribed_is_an_adverse_effect_even_when_stopped(nlp):
    codes = engine_codes(nlp, "Hyponatremia due to hydrochlorothiazide taken as prescribed; HCTZ stopped.")
    assert "T50.2X5A" in codes and "T50.2X6A" not in codes
    under = engine_codes(nlp, "Seizure; she stopped phenytoin because she could not afford the refill.")
    assert {"T42.0X6A", "Z91.120"} <= set(under)


def test_open_reduction_is_no_open_fracture(nlp):
    assert "S52.531A" in engine_codes(nlp, "Open reduction and internal fixation of a displaced right Colles fracture.")
    assert "S82.221B" in engine_codes(nlp, "Open displaced transverse fracture of the right tibial shaft, Gustilo type II.")


def test_organism_of_an_infection_coded_elsewhere(nlp):
    assert "B96.1" in engine_codes(nlp, "Pyelonephritis; urine culture grew Klebsiella pneumoniae.")


def test_pacemaker_generator_and_its_leads(nlp):
    codes = engine_codes(nlp, "Dual-chamber pacemaker implanted: leads to the right atrium and right ventricle, "
                              "generator in a left chest subcutaneous pocket.", PCS)
    assert {"0JH606Z", "02H63JZ", "02HK3JZ"} <= set(codes)
    assert not engine_codes(nlp, "Pacemaker interrogation: normal function.", PCS)


def test_receptor_status_and_pregnancy_or_newborn_chapters_need_their_record(nlp):
    codes = engine_codes(nlp, "Invasive ductal carcinoma of the right breast, ER positive, PR positive, HER2 negative.")
    assert {"Z17.0", "Z17.21", "Z17.32"} <= set(codes)
    assert not any(c.startswith("Z17") for c in engine_codes(nlp, "Seen in the ER for chest pain."))
    assert not any(c.startswith("O") for c in engine_codes(nlp, "Type 2 diabetes, diet controlled."))
    assert any(c.startswith("O24.41") for c in engine_codes(nlp, "32 weeks pregnant, gestational diabetes, diet controlled."))


def test_elevated_reading_stress_and_osteoporotic_fractures(nlp):
    assert "R03.0" in engine_codes(nlp, "BP 152/94 on two readings; no prior dx of HTN.")
    assert "R03.0" not in engine_codes(nlp, "BP 118/72. No history of hypertension.")
    stress = engine_codes(nlp, "Stress fracture of the left second metatarsal.")
    assert stress["M84.375A"][1] == 0 and not any(c.startswith("S92") and stress[c][1] == 0 for c in stress)
    assert "M80.08XA" in engine_codes(nlp, "New L1 compression fracture due to senile osteoporosis.")
    assert "M80.08XD" in engine_codes(nlp, "Follow-up of osteoporotic L1 compression fracture, healing as expected.")


def test_a_relatives_drug_the_patient_took_is_the_patients_poisoning(nlp):
    codes = engine_codes(nlp, "2-year-old found with his grandmother's metoprolol, ingested 2 tabs accidentally.")
    assert FAMILY not in codes["T44.7X1A"][0]
    assert FAMILY in engine_codes(nlp, "Mother had breast cancer.")["C50.919"][0]


def test_deficits_of_an_acute_stroke_are_not_its_sequelae(nlp):
    acute = engine_codes(nlp, "Acute ischemic stroke, embolic occlusion of the L MCA; residual R hemiparesis at discharge.")
    assert "G81.91" in acute  # right: dominant by default (I.C.6.a)
    late = engine_codes(nlp, "Residual left hemiparesis from a right MCA infarct 2 years ago.")
    assert not any(c.startswith("G81") for c in late)


def test_chemotherapy_encounter_and_its_neutropenia(nlp):
    assert "Z51.11" in engine_codes(nlp, "Infusion clinic: cycle 3 of FOLFOX given through the port for colon cancer.")
    from medcode.coding.rules import therapy_encounter_codes

    assert therapy_encounter_codes("Oncology consult for colon cancer: plan 4 cycles of chemotherapy.") == []
    assert therapy_encounter_codes("Brain metastases. Dexamethasone started; RT to follow.") == []
    codes = engine_codes(nlp, "Admitted with febrile neutropenia 10 days after chemotherapy for breast cancer.")
    assert {"D70.1", "T45.1X5A", "R50.81"} <= set(codes)
