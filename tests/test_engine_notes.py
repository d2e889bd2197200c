"""The coding engine on one-line notes: title conventions, charting shorthand and note-level rules."""

import test_engine
from medcode.about import NEGATED
from medcode.coding.measurements import gestation_codes
from medcode.coding.rules import follow_up_codes
from medcode.coding.screening import screening_codes
from medcode.mentions import doc_mentions
from test_engine import engine_codes

nlp = test_engine.nlp  # the engine with the full code sets (a module fixture: built once here too)


def test_a_bracketed_synonym_is_not_required(nlp):
    # "Gestational [pregnancy-induced] hypertension ...": the note need not say "pregnancy-induced"
    codes = engine_codes(nlp, "Gestational hypertension at 35 weeks of pregnancy, no proteinuria.")
    assert "O13.3" in codes and "O10.013" not in codes
    assert "J05.0" in engine_codes(nlp, "Barking cough and stridor. Dx: croup.")


def test_spine_levels_name_their_region(nlp):
    assert engine_codes(nlp, "L4-L5 disc herniation with radiculopathy.")["M51.16"][1] == 0
    assert engine_codes(nlp, "L5-S1 disc herniation with radiculopathy.")["M51.17"][1] == 0
    assert "M50.122" in engine_codes(nlp, "C5-6 disc herniation with radiculopathy.")


def test_weeks_that_open_a_pregnancy_note_are_its_gestational_age():
    text = "28 wks, new-onset BP 146/94 x2, no proteinuria. Dx gestational hypertension."
    assert [code for _, _, code in gestation_codes(text)] == ["Z3A.28"]
    assert gestation_codes("3 weeks, cough and fever.") == []


def test_a_resolved_condition_is_history_not_negated(nlp):
    codes = engine_codes(nlp, "Type 2 diabetes with hypoglycemia, resolved with juice.")
    assert "E11.649" in codes and NEGATED not in codes["E11.649"][0]


def test_follow_up_after_completed_treatment_but_not_a_planned_one():
    assert [c for _, _, c in follow_up_codes("F/u after completed antibiotics for pneumonia, resolved.")] == ["Z09"]
    assert follow_up_codes("Follow-up after the MRI; pneumonia resolved.") == []


def test_charting_phrases_for_encounters_and_status(nlp):
    assert "Z01.818" in engine_codes(nlp, "Pre-op visit for repair of a reducible inguinal hernia.")
    assert "Z99.2" in engine_codes(nlp, "Hyperkalemia in ESRD on chronic hemodialysis.")
    assert "M05.731" in engine_codes(nlp, "Seropositive RA of the right wrist without organ involvement.")


def test_transport_accident_from_victim_counterpart_and_road(nlp):
    # the victim's vehicle and role, what it collided with, and traffic unless stated off the road
    assert "V43.52XA" in engine_codes(nlp, "Restrained driver of a car hit by another car on the highway. Neck strain.")
    assert "V47.5XXA" in engine_codes(nlp, "Driver crashed his car into a tree on a rural road; sternum fracture.")
    assert "V03.10XA" in engine_codes(nlp, "Pedestrian struck by a car while crossing the street; tibia fracture.")
    assert "V18.4XXA" in engine_codes(nlp, "Bicyclist lost control and fell on the street; clavicle fracture.")
    assert not any(c.startswith("V") for c in engine_codes(nlp, "Driver of the family, hit his head on a shelf."))


def test_external_causes_a_coder_adds_from_the_circumstances(nlp):
    # the source of heat or of a burn, overexertion, ice, and the activity of an injury named by its kind
    assert "X30.XXXA" in engine_codes(nlp, "Heat exhaustion while running on a hot summer day.")
    assert "X10.0XXA" in engine_codes(nlp, "Spilled hot coffee on the right forearm; second degree burn.")
    assert "X50.0XXA" in engine_codes(nlp, "Lumbar strain while lifting heavy boxes.")
    assert "W00.0XXA" in engine_codes(nlp, "Slipped on an icy sidewalk; fracture of the right radial styloid.")
    assert "Y93.73" in engine_codes(nlp, "Felt a pop playing tennis; traumatic Achilles tendon rupture.")
    assert "X30.XXXA" not in engine_codes(nlp, "Heat exhaustion working in a hot kitchen.")


def test_exposure_aftercare_and_typed_influenza(nlp):
    # another person's communicable disease is the patient's exposure (Z20); aftercare of a joint replacement
    assert "Z20.822" in engine_codes(nlp, "Coworker tested positive for COVID-19; patient asymptomatic.")
    assert "Z20.2" in engine_codes(nlp, "Partner diagnosed with gonorrhea; patient asymptomatic, here for testing.")
    assert "Z20.822" not in engine_codes(nlp, "COVID-19 pneumonia, on oxygen.")
    assert "Z47.1" in engine_codes(nlp, "Aftercare 3 weeks after right total knee arthroplasty.")
    assert engine_codes(nlp, "Influenza A with pneumonia.")["J10.00"][1] <= 1
    assert "J11.00" in engine_codes(nlp, "Influenza with pneumonia.")


def test_follow_up_after_a_malignancy_written_ca():
    text = "Surveillance colonoscopy, h/o colon ca s/p hemicolectomy 5 yrs ago, no evidence of disease."
    assert [code for _, _, code in follow_up_codes(text)] == ["Z08"]


def test_clause_ends_knife_cut_and_observation_after_an_accident(nlp):
    # "no GI symptoms, referred for screening colonoscopy": the negation ends where the referral starts
    codes = engine_codes(nlp, "Average risk, no GI symptoms, referred for screening colonoscopy.")
    assert NEGATED not in codes["Z12.11"][0]
    assert "W26.0XXA" in engine_codes(nlp, "Cut the left index finger with a kitchen knife; laceration.")
    assert "Z04.1" in engine_codes(nlp, "Passenger in an MVC, observed in the ED, no injury found.")
    assert "D63.1" in engine_codes(nlp, "Anemia of CKD stage 4.")


def test_a_seventh_character_that_states_a_stage_an_eye_or_a_tophus(nlp):
    assert "H40.1132" in engine_codes(nlp, "POAG bilat, moderate stage both eyes.")
    assert "E11.3293" in engine_codes(nlp, "T2DM w/ mild NPDR w/o macular edema, both eyes.")
    assert "E11.3299" in engine_codes(nlp, "T2DM with mild nonproliferative diabetic retinopathy.")
    assert "M1A.0411" in engine_codes(nlp, "Chronic tophaceous gout; tophi over the R hand MCP joints, idiopathic.")


def test_screening_encounters_and_a_suspicion_ruled_out(nlp):
    assert engine_codes(nlp, "58 yo former smoker, quit 6 yrs ago, for annual lung ca screening LDCT.")["Z12.2"][1] == 0
    assert "Z12.72" in engine_codes(nlp, "Vaginal cuff Pap for screening; s/p total hysterectomy for benign fibroids 2017.")
    # the screening stands under the note's negation ("no known exposure"): some mention of it is affirmed
    doc = nlp("Asymptomatic student, no known exposure, tested for COVID-19 as required; negative.")
    assert any(h.code == "Z11.52" and NEGATED not in m.status for m in doc_mentions(doc) for h in m.hits)
    assert "Z13.1" in engine_codes(nlp, "Overweight 45 yo, A1c drawn to screen for diabetes.")
    assert "Z03.6" in engine_codes(nlp, "2 yo, grandmother's pill bottle, suspected ingestion, observed 6 hr, tox neg.")
    assert "Z03.89" in engine_codes(nlp, "Possible ingestion of a foreign body while eating fish, XR neg, no FB found.")
    assert screening_codes("Fever and cough, tested for COVID-19: positive.") == []
    assert screening_codes("Declined lung cancer screening.") == []


def test_lung_lobes_and_breast_quadrants_written_short(nlp):
    assert "C34.11" in engine_codes(nlp, "Dx: adenocarcinoma of RUL of lung, stage IIB.")
    assert "C50.411" in engine_codes(nlp, "Invasive ductal ca of R breast UOQ.")


def test_a_condition_to_rule_out_is_no_diagnosis_and_hfpef_is_diastolic(nlp):
    codes = engine_codes(nlp, "Chest pain, r/o ACS; serial troponins and ECG neg, discharged home from ED.")
    assert codes["R07.9"][1] == 0 and "I25.119" not in codes
    assert "I50.32" in engine_codes(nlp, "HTN, CKD stage 3b, and chronic HFpEF, compensated.")


def test_hypertension_stated_beside_other_conditions_joins_the_combination(nlp):
    assert engine_codes(nlp, "T2DM w/ diabetic CKD stage 3a and HTN.")["I12.9"][1] == 0
    assert "I12.9" not in engine_codes(nlp, "Family history of HTN. T2DM w/ diabetic CKD stage 3a.")


def test_an_elevated_inr_and_the_circumstances_of_heat_and_work_injuries(nlp):
    assert "R79.1" in engine_codes(nlp, "INR 6.2 on warfarin for atrial fibrillation, no bleeding.")
    assert "R79.1" not in engine_codes(nlp, "INR 2.4 on warfarin, goal INR 2-3.")
    assert "Y93.02" in engine_codes(nlp, "Collapsed at mile 20 of a marathon on a hot day; heat exhaustion.")
    codes = engine_codes(nlp, "Construction worker fell from scaffolding at a building site; burst fx L1.")
    assert "Y92.61" in codes and "Y99.0" in codes


def test_a_joint_or_skin_site_read_as_its_region(nlp):
    # the tabular's site axes: a great toe is "ankle and foot", a forearm's skin "arm", the upper back "trunk"
    assert engine_codes(nlp, "Dx: acute gout flare, left great toe.")["M10.072"][1] == 0
    assert "D17.1" in engine_codes(nlp, "Soft mobile subcutaneous lipoma of the upper back, benign.")
    assert "D17.21" in engine_codes(nlp, "Subcutaneous lipoma of R forearm, 3 cm.")
    assert "L03.115" in engine_codes(nlp, "Admitted w/ cellulitis of R foot, wound cx grew MRSA.")
    assert "S92.402A" in engine_codes(nlp, "Fracture of the left great toe.")


def test_charting_shorthand_of_the_fresh4_kind(nlp):
    # slash-joined words, a drug in its own clause after a negated finding, a screening the result negates
    assert "Z47.1" in engine_codes(nlp, "PT/aftercare 3 wks s/p R THA for OA, incision healed.")
    alendronate = engine_codes(nlp, "Postmenopausal osteoporosis, no fx hx, on alendronate.")["Z79.83"]
    assert NEGATED not in alendronate[0]
    assert NEGATED in engine_codes(nlp, "No history of AF, not on warfarin.").get("Z79.01", ({NEGATED}, 0))[0]
    doc = nlp("PHQ-2 depression screening at visit, negative.")
    assert any(h.code == "Z13.31" and NEGATED not in m.status for m in doc_mentions(doc) for h in m.hits)
    assert "C50.412" in engine_codes(nlp, "L breast IDC, upper outer quadrant, ER/PR+, HER2-, female.")
    assert "S16.1XXA" in engine_codes(nlp, "Restrained driver, car vs car, neck strain, ambulatory at scene.")
    assert "L82.0" in engine_codes(nlp, "Irritated SK on back catching on bra strap.")
    assert "X50.0XXA" in engine_codes(nlp, "L ACL tear, noncontact, planting foot during soccer game.")


def test_a_preemie_weight_and_weeks_without_a_birth_word_and_weeks_before_iup(nlp):
    codes = engine_codes(nlp, "Transfer-in NICU: preemie 32 2/7 wks, BW 1620 g, RDS on CPAP.")
    assert "P07.16" in codes and "P07.35" in codes
    assert "Z3A.09" in engine_codes(nlp, "9 wks IUP, hyperemesis w/ ketonuria and dehydration, IVF.")
    assert "Z3A.39" in engine_codes(nlp, "SVD 39w, 2nd-degree perineal lac repaired.")


def test_external_causes_and_hydronephrosis_with_a_stone(nlp):
    assert "W25.XXXA" in engine_codes(nlp, "2 cm lac L forearm from broken glass, closed w/ 4 sutures.")
    assert "X15.3XXA" in engine_codes(nlp, "2nd deg burn R palm from grabbing hot pan handle, <1% TBSA.")
    assert "V00.321A" in engine_codes(nlp, "Displaced lateral tibial plateau fx L, closed, after ski fall.")
    assert engine_codes(nlp, "7 mm L UVJ stone, mild hydro, renal colic.")["N13.2"][1] == 0
    assert "Z71.3" in engine_codes(nlp, "Class 1 obesity, BMI 32.4, counseled on diet/exercise.")


def test_receptors_written_together_bph_symptoms_and_a_low_glucose(nlp):
    assert {"Z17.0", "Z17.21", "Z17.32"} <= set(engine_codes(nlp, "L breast IDC, ER/PR+, HER2-."))
    codes = engine_codes(nlp, "TURP for BPH with retention.")
    assert "N40.1" in codes and "R33.8" in codes
    codes = engine_codes(nlp, "T2DM on glipizide, found confused, BG 38, no LOC/coma, improved with D50.")
    assert codes["E11.649"][1] == 0 and "T38.3X5A" in codes
    assert "T38.3X5A" not in engine_codes(nlp, "T2DM on insulin; accidentally injected a double dose. BG 45.")
    assert "D32.0" in engine_codes(nlp, "Convexity meningioma on MRI, benign-appearing, incidental.")
    assert "Z91.013" in engine_codes(nlp, "Hives all over after eating shrimp, no airway involvement.")


def test_septic_shock_degrees_of_a_laceration_and_cancers_written_ca(nlp):
    assert "R65.21" in engine_codes(nlp, "Septic shock from MRSA pneumonia, on pressors.")
    assert "O70.1" in engine_codes(nlp, "SVD 39w, 2nd-degree perineal lac repaired.")
    assert "C73" in engine_codes(nlp, "Total thyroidectomy for papillary thyroid ca.")
    assert "P96.1" in engine_codes(nlp, "NAS from maternal opioid use, Finnegan scores up, morphine wean.")
    assert "Z53.31" in engine_codes(nlp, "Open cholecystectomy after conversion from lap due to dense adhesions.")


def test_a_current_smoker_and_encounters_for_an_examination(nlp):
    assert engine_codes(nlp, "Current smoker 1 ppd.")["F17.210"][1] == 0  # "uncomplicated" is the Index's default
    assert "Z02.5" in engine_codes(nlp, "Sports physical for high school football, normal exam.")
    assert "Z01.00" in engine_codes(nlp, "Routine eye exam, no abnormal findings.")
    assert "Z30.42" in engine_codes(nlp, "Depo-Provera injection visit, 12 wk interval.")


def test_potassium_and_blood_alcohol_values_and_anemia_of_a_neoplasm(nlp):
    assert "E87.5" in engine_codes(nlp, "Admitted w/ K 7.1 after missing dialysis; ESRD due to HTN.")
    assert "E87.6" not in engine_codes(nlp, "K 3.4, Na 138, creatinine 1.0.")
    assert "Y90.7" in engine_codes(nlp, "Acute alcohol intoxication, BAL 220 mg/dL; known alcohol dependence.")
    assert "D63.0" in engine_codes(nlp, "Multiple myeloma, not in remission, w/ anemia due to the myeloma.")
    assert "Z91.158" in engine_codes(nlp, "Admitted w/ hyperkalemia after missing dialysis.")
    assert "S71.142A" in engine_codes(nlp, "GSW L thigh in assault with handgun, bullet retained, no fx.")


def test_cardiology_and_electrolyte_shorthand(nlp):
    assert engine_codes(nlp, "Nonischemic DCM, EF 25%.")["I42.0"][1] == 0
    assert "E87.6" in engine_codes(nlp, "HypoK, repleted.")
