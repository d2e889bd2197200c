"""The coding engine on one-line notes: title conventions, charting shorthand and note-level rules."""

import pytest

import test_engine
from medcode.about import HISTORICAL, NEGATED
from medcode.coding.labs import lab_finding_codes
from medcode.coding.measurements import gestation_codes
from medcode.coding.rules import follow_up_codes
from medcode.coding.screening import observation_codes, screening_codes
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



#: One-line notes and a code each must get, one row per rule of session 6 (the rule's module or data in brackets).
CODED = [
    ("POAG bilat, moderate stage both eyes.", "H40.1132"),  # a 7th character's meaning (coding/seventh.py)
    ("T2DM w/ mild NPDR w/o macular edema, both eyes.", "E11.3293"),
    ("T2DM with mild nonproliferative diabetic retinopathy.", "E11.3299"),
    ("Chronic tophaceous gout; tophi over the R hand MCP joints, idiopathic.", "M1A.0411"),
    ("Vaginal cuff Pap for screening; s/p total hysterectomy for benign fibroids 2017.", "Z12.72"),  # screening
    ("Overweight 45 yo, A1c drawn to screen for diabetes.", "Z13.1"),
    ("2 yo, grandmother's pill bottle, suspected ingestion, observed 6 hr, tox neg.", "Z03.6"),  # observation
    ("Possible ingestion of a foreign body while eating fish, XR neg, no FB found.", "Z03.89"),
    ("Dx: adenocarcinoma of RUL of lung, stage IIB.", "C34.11"),  # lobes and quadrants written short
    ("Invasive ductal ca of R breast UOQ.", "C50.411"),
    ("L breast IDC, upper outer quadrant, ER/PR+, HER2-, female.", "C50.412"),
    ("HTN, CKD stage 3b, and chronic HFpEF, compensated.", "I50.32"),  # HFpEF is diastolic
    ("INR 6.2 on warfarin for atrial fibrillation, no bleeding.", "R79.1"),  # values (coding/labs.py)
    ("Admitted w/ K 7.1 after missing dialysis; ESRD due to HTN.", "E87.5"),
    ("HypoK, repleted.", "E87.6"),
    ("Acute alcohol intoxication, BAL 220 mg/dL; known alcohol dependence.", "Y90.7"),
    ("T2DM on glipizide, found confused, BG 38, no LOC/coma, improved with D50.", "T38.3X5A"),
    ("Collapsed at mile 20 of a marathon on a hot day; heat exhaustion.", "Y93.02"),  # circumstances
    ("Construction worker fell from scaffolding at a building site; burst fx L1.", "Y92.61"),
    ("Construction worker fell from scaffolding at a building site; burst fx L1.", "Y99.0"),
    ("L ACL tear, noncontact, planting foot during soccer game.", "X50.0XXA"),
    ("2 cm lac L forearm from broken glass, closed w/ 4 sutures.", "W25.XXXA"),
    ("2nd deg burn R palm from grabbing hot pan handle, <1% TBSA.", "X15.3XXA"),
    ("Displaced lateral tibial plateau fx L, closed, after ski fall.", "V00.321A"),
    ("Soft mobile subcutaneous lipoma of the upper back, benign.", "D17.1"),  # site regions
    ("Subcutaneous lipoma of R forearm, 3 cm.", "D17.21"),
    ("Admitted w/ cellulitis of R foot, wound cx grew MRSA.", "L03.115"),
    ("Fracture of the left great toe.", "S92.402A"),
    ("PT/aftercare 3 wks s/p R THA for OA, incision healed.", "Z47.1"),  # slash-joined words
    ("Class 1 obesity, BMI 32.4, counseled on diet/exercise.", "Z71.3"),
    ("Restrained driver, car vs car, neck strain, ambulatory at scene.", "S16.1XXA"),  # phrases
    ("Irritated SK on back catching on bra strap.", "L82.0"),
    ("GSW L thigh in assault with handgun, bullet retained, no fx.", "S71.142A"),
    ("Convexity meningioma on MRI, benign-appearing, incidental.", "D32.0"),
    ("Hives all over after eating shrimp, no airway involvement.", "Z91.013"),
    ("Septic shock from MRSA pneumonia, on pressors.", "R65.21"),
    ("Total thyroidectomy for papillary thyroid ca.", "C73"),
    ("NAS from maternal opioid use, Finnegan scores up, morphine wean.", "P96.1"),
    ("Open cholecystectomy after conversion from lap due to dense adhesions.", "Z53.31"),
    ("Sports physical for high school football, normal exam.", "Z02.5"),
    ("Routine eye exam, no abnormal findings.", "Z01.00"),
    ("Depo-Provera injection visit, 12 wk interval.", "Z30.42"),
    ("L breast IDC, ER/PR+, HER2-.", "Z17.21"),  # receptors written together
    ("TURP for BPH with retention.", "N40.1"),  # combination rules
    ("TURP for BPH with retention.", "R33.8"),
    ("Multiple myeloma, not in remission, w/ anemia due to the myeloma.", "D63.0"),
    ("Admitted w/ hyperkalemia after missing dialysis.", "Z91.158"),
    ("Transfer-in NICU: preemie 32 2/7 wks, BW 1620 g, RDS on CPAP.", "P07.16"),  # newborn, gestation
    ("Transfer-in NICU: preemie 32 2/7 wks, BW 1620 g, RDS on CPAP.", "P07.35"),
    ("9 wks IUP, hyperemesis w/ ketonuria and dehydration, IVF.", "Z3A.09"),
    ("SVD 39w, 2nd-degree perineal lac repaired.", "Z3A.39"),
    ("SVD 39w, 2nd-degree perineal lac repaired.", "O70.1"),
    ("Exudative AMD of the left eye with active CNV.", "H35.3221"),  # session 7: 7th characters per subcategory
    ("Malunion of a Colles fracture of the right radius.", "S52.531P"),  # a malunion is a subsequent encounter
    ("T2DM, on insulin lispro plus metformin.", "Z79.84"),  # a drug listed after a taken one
    ("Hx healed osteoporotic fracture of the R hip, on alendronate.", "Z87.310"),  # "hx", history of M80
    ("GDM, diet controlled, 31 wks.", "Z3A.31"),  # weeks as a clause of their own
    ("Breech presentation at 37 wks.", "Z3A.37"),  # a breech is a pregnancy's
    ("Intentional overdose of escitalopram.", "T43.222A"),  # an SSRI not in the Table of Drugs, by its class row
    ("Scald burn of the L hand, 2nd degree, <10% TBSA.", "T31.0"),  # a bound before the extent
    ("Invasive lobular ca of the L breast, ER+.", "Z17.0"),  # "ca" names the neoplasm
    ("XRT session today for rectal adenocarcinoma.", "Z51.0"),  # XRT, the radiation given
    ("Hx of falls, uses a walker.", "Z91.81"),
    ("Pre-existing essential HTN w/ superimposed pre-eclampsia at 36 wks.", "O10.013"),  # O11: O10 for the type
    ("Scalp laceration w/o FB after striking head on a shelf.", "W22.8XXA"),  # "after" ends the negation
    ("CAD s/p CABG x3 (2019) and DES to LCx (2022), no angina.", "Z95.5"),  # clinical_terms.json phrases
    ("Nonunion of displaced fx of waist of L scaphoid, 6 mo after injury.", "S62.022K"),
    ("Felty's syndrome (RA w/ splenomegaly and neutropenia), polyarticular involvement.", "M05.09"),
    ("Post-traumatic arthritis of the right ankle after a trimalleolar fracture.", "M12.571"),
    ("HS football player, helmet-to-helmet hit during a game; concussion w/o LOC.", "W21.81XA"),  # external causes
    ("Closed nasal bone fx from elbow to face during pickup basketball.", "W50.0XXA"),
    ("Felt a pop in R heel playing tennis; traumatic Achilles tendon rupture.", "X50.0XXA"),
    ("Punched in the face during a fistfight at a bar. Closed fracture of the L mandible angle.", "Y04.0XXA"),
    ("4 yo put a plastic bead in L ear canal, removed w/ forceps.", "W44.B1XA"),
    ("Primary classical C-section at 38 wks for breech presentation, single liveborn.", "O32.1XX0"),  # maternal care
    ("Acute ischemic stroke due to occlusion of L MCA; NIHSS 8; tPA given.", "R29.708"),  # session 9: NIHSS (labs.py)
    ("Intentional overdose of sertraline and alprazolam.", "T43.222A"),  # a class row beside a listed drug
    ("T2DM without complications, controlled on weekly semaglutide injections.", "Z79.85"),  # a dosing interval
    ("Prenatal visit 24 wks: pre-existing T2DM on insulin, no complications.", "Z3A.24"),  # a prenatal visit's weeks
    ("Discharge dx: hypertensive heart and CKD with heart failure; CKD stage 3b.", "I50.9"),  # the HF's type
    ("Heme f/u: multiple myeloma in remission after ASCT.", "Z94.84"),  # clinical_terms.json phrases
    ("Nephrology: SLE with lupus nephritis, class IV on bx.", "M32.14"),
    ("Sickle cell disease Hb SS w/ vaso-occlusive pain crisis.", "D57.00"),
    ("T1DM w/ diabetic nephropathy; insulin pump.", "Z96.41"),
    ("HFrEF from ischemic cardiomyopathy; MI 2 yrs ago.", "I25.2"),  # "yrs ago" is history
    ("FOOSH on ice; closed Colles fx of the L distal radius.", "W00.0XXA"),  # circumstances (coding_rules.json)
    ("Assaulted w/ fists; nasal bone fx.", "Y04.0XXA"),
    ("Homeless, slept outdoors; frostbite of L toes.", "X31.XXXA"),
    ("Asymptomatic, screening ECG ordered.", "Z13.6"),
    ("Inverted R ankle stepping off a curb; sprain of the R ATFL.", "W18.43XA"),  # "without X due to Y" (index.py)
    ("Bitten on the hand by a rattlesnake while hiking.", "T63.011A"),  # clinical_terms.json phrases
    ("Schizophrenia, non-adherent to meds.", "Z91.148"),
    ("Adjustment of R below-knee prosthesis.", "Z44.121"),
    ("Adjustment disorder after job loss.", "Z56.0"),
    ("Gastroenteritis, vomited x3.", "R11.10"),
    ("Irritated seborrheic keratoses on the back.", "L82.0"),
]


@pytest.mark.parametrize(("note", "code"), CODED)
def test_a_one_line_note_gets_the_code_a_coder_gives(nlp, note, code):
    assert code in engine_codes(nlp, note)


#: Notes whose code comes first in its sentence (rank 0).
FIRST = [
    ("58 yo former smoker, quit 6 yrs ago, for annual lung ca screening LDCT.", "Z12.2"),
    ("Chest pain, r/o ACS; serial troponins and ECG neg, discharged home from ED.", "R07.9"),  # "r/o" negates
    ("T2DM w/ diabetic CKD stage 3a and HTN.", "I12.9"),  # stated hypertension (coding/stated.py)
    ("Dx: acute gout flare, left great toe.", "M10.072"),
    ("7 mm L UVJ stone, mild hydro, renal colic.", "N13.2"),
    ("T2DM on glipizide, found confused, BG 38, no LOC/coma, improved with D50.", "E11.649"),
    ("Current smoker 1 ppd.", "F17.210"),  # "uncomplicated" is the Index's default
    ("Nonischemic DCM, EF 25%.", "I42.0"),
    ("Alzheimer's disease, late onset, with moderate dementia and agitation.", "F02.B11"),  # F03.B11's severity
    ("Descending colon diverticulitis, no perforation, abscess or bleeding.", "K57.32"),  # a negated list
    ("Newborn visit, 6 days old, feeding well.", "Z00.110"),  # a newborn's age in days
    ("Seropositive RA of both wrists, no organ involvement.", "M05.731"),  # both sides, no bilateral code
    ("Seropositive RA of both wrists, no organ involvement.", "M05.732"),
    ("PEG tube change.", "Z43.1"),  # a tube change is the attention to its opening
    ("Septic shock from pneumonia, vented 6 days.", "A41.9"),  # "septic" names several A41 codes: none bars A41.9
    ("PCI w/ DES to RCA and to circumflex; stable angina, native CAD.", "I25.118"),  # I.C.9.b, with the angina
    ("L5 radiculopathy due to herniated nucleus pulposus at L4-L5.", "M51.16"),  # HNP is a disc disorder
    ("Metastases to both adrenal glands from colon cancer.", "C79.71"),  # a table's site of both sides
    ("Metastases to both adrenal glands from colon cancer.", "C79.72"),
]


@pytest.mark.parametrize(("note", "code"), FIRST)
def test_a_one_line_note_gets_the_code_first(nlp, note, code):
    assert engine_codes(nlp, note)[code][1] == 0


def test_what_the_session_6_rules_leave_alone(nlp):
    assert "I25.119" not in engine_codes(nlp, "Chest pain, r/o ACS; troponins neg.")
    assert "I12.9" not in engine_codes(nlp, "Family history of HTN. T2DM w/ diabetic CKD stage 3a.")
    assert "R79.1" not in engine_codes(nlp, "INR 2.4 on warfarin, goal INR 2-3.")
    assert "E87.6" not in engine_codes(nlp, "K 3.4, Na 138, creatinine 1.0.")
    assert "E87.6" not in engine_codes(nlp, "Given vitamin K 2.5 mg PO for INR 9.1.")  # a dose, not a potassium
    assert observation_codes("Suspected appendicitis. CT ruled out perforation. Wound explored: no foreign body.") == []
    assert "T38.3X5A" not in engine_codes(nlp, "T2DM on insulin; accidentally injected a double dose. BG 45.")
    assert "Z17.0" in engine_codes(nlp, "L breast IDC, ER/PR+, HER2-.")
    assert screening_codes("Fever and cough, tested for COVID-19: positive.") == []
    assert screening_codes("Declined lung cancer screening.") == []
    assert NEGATED in engine_codes(nlp, "No history of AF, not on warfarin.").get("Z79.01", ({NEGATED}, 0))[0]


@pytest.mark.parametrize(("note", "code"), [("Labs: K7.1, Cr 2.3.", "E87.5"), ("K\n2.6 on BMP.", "E87.6"),
                                            ("Intoxicated, bal 220 mg/dL.", "Y90.7"), ("Bal 90 on arrival.", "Y90.4")])
def test_a_stated_value_is_read_however_it_is_written(note, code):
    # The test before the patterns must let through every note a pattern matches (no space after "K", "bal"
    # in lower case: the alcohol pattern is case-blind).
    assert code in [found for _, _, found in lab_finding_codes(note)]


def test_a_screening_or_a_drug_in_its_own_clause_stands_under_a_negation(nlp):
    # "no known exposure ... tested for COVID-19", "PHQ-2 screening, negative", "no fx hx, on alendronate"
    for note, code in (("Asymptomatic student, no known exposure, tested for COVID-19 as required; negative.", "Z11.52"),
                       ("PHQ-2 depression screening at visit, negative.", "Z13.31"),
                       ("Postmenopausal osteoporosis, no fx hx, on alendronate.", "Z79.83")):
        doc = nlp(note)
        assert any(h.code == code and NEGATED not in m.status for m in doc_mentions(doc) for h in m.hits), note


def test_a_relatives_cancer_gives_the_history_of_its_site_not_of_a_near_miss(nlp):
    # "breast cancer" also ranks C44.501 (skin of breast) 4th in its sentence; its Z80.8 ("other organs") had
    # come out beside Z80.3 at the same score.
    codes = engine_codes(nlp, "Mother had breast cancer.")
    assert "Z80.3" in codes
    assert "Z80.8" not in codes


def test_a_receptor_status_is_not_negated_by_the_next_ones_negative(nlp):
    # "ER positive, PR positive, HER2 negative": the "negative" of HER2 had negated the two statuses before it, and
    # a receptor's "negative" the cancer after it
    codes = engine_codes(nlp, "Breast carcinoma, ER positive, PR positive, HER2 negative.")
    assert NEGATED not in codes["Z17.0"][0] and NEGATED not in codes["Z17.21"][0]
    codes = engine_codes(nlp, "ER negative, PR negative, HER2 positive carcinoma of the right breast.")
    assert NEGATED not in codes["C50.911"][0]


def test_now_ends_the_scope_of_a_history(nlp):
    codes = engine_codes(nlp, "Hx of kidney stones, now with flank pain.")
    assert HISTORICAL not in codes["R10.A0"][0] and HISTORICAL in codes["N20.0"][0]


def test_a_history_names_what_the_sentence_says_not_the_added_words_alone(nlp):
    # the history matcher reads a sentence with "personal history" added: those words alone had given Z85.6 and
    # Z87.898 to "hx depression"
    codes = engine_codes(nlp, "Overdose of citalopram; hx depression.")
    assert "Z85.6" not in codes and "Z87.898" not in codes


def test_a_condition_written_after_a_history_word_gives_its_own_history_code(nlp):
    # the sentence's history codes, found by their title words, filled its places (Z80.9, Z85.9): the condition is
    # matched again without the history words (medcode.nlp.histories)
    assert "Z80.0" in engine_codes(nlp, "Screening colonoscopy in 52 yo F w/ FHx colon ca in father.")
    assert "Z85.038" in engine_codes(nlp, "Surveillance colonoscopy, h/o colon ca.")


def test_a_side_word_goes_with_the_words_after_it_when_a_sentence_names_both(nlp):
    # medcode.coding.laterality.SidePairs.nearest: a left artery and a right hemiparesis; the left eye's wet AMD
    codes = engine_codes(nlp, "Acute ischemic stroke, embolic occlusion of the L MCA; residual R hemiparesis.")
    assert "I63.412" in codes and "I63.411" not in codes and "G81.91" in codes
    codes = engine_codes(nlp, "Exudative AMD of the left eye with active CNV; right eye shows early dry AMD.")
    assert "H35.3221" in codes and "H35.3211" not in codes


def test_after_ends_the_scope_of_a_negation(nlp):
    # context_rules.json terminators: "no LOC, after fall down stairs" had negated the fall
    codes = engine_codes(nlp, "Evacuation of acute traumatic subdural hematoma, no LOC, after fall down stairs at home.")
    assert NEGATED not in codes["W10.9XXA"][0]


def test_no_angina_gives_no_combination_with_angina(nlp):
    codes = engine_codes(nlp, "Coronary artery disease of native vessels without angina. Stable on aspirin.")
    assert codes["I25.118"][1] > 0 and codes["I25.10"][1] == 0  # a near miss, not the rule's combination


def test_a_diagnosis_ends_a_negation_but_not_a_relatives_condition(nlp):
    # context_rules.json negation_terminators: "no LOC, dx concussion" had set the concussion aside as negated
    codes = engine_codes(nlp, "16 yo struck in head by soccer ball during game; no LOC, dx concussion.")
    assert NEGATED not in codes["S06.0X0A"][0]
    codes = engine_codes(nlp, "Pancreatitis without necrosis or infection, complicated by systemic inflammatory response syndrome.")
    assert NEGATED not in codes["R65.10"][0]
    assert "Z80.3" in engine_codes(nlp, "Mother diagnosed with breast cancer at 50.")
    mentions = [m for m in doc_mentions(nlp("Never diagnosed with diabetes.")) if m.hits]
    assert mentions and all(NEGATED in m.status for m in mentions)
