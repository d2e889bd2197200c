"""Coding guidelines applied to a note's suggestions (medcode.coding.guidelines), on hand-made records."""

from medcode.about import CM, PCS
from medcode.coding.guidelines import BELOW_DIAGNOSIS, apply_guidelines


def sug(code, score, system=CM, billable=True, evidence=()):
    return {"code": code, "system": system, "score": score, "billable": billable,
            "evidence": [{"start": 0, "end": len(t), "text": t} for t in evidence]}


def test_an_integral_symptom_goes_below_its_diagnosis():
    # Guidelines I.B.5: signs and symptoms routinely associated with a disease are not coded besides it.
    diagnosis, symptom = sug("J18.9", 0.5, evidence=["pneumonia"]), sug("R05.9", 0.8, evidence=["cough"])
    apply_guidelines([diagnosis, symptom])
    assert symptom["integral_to"] == ["J18.9"] and symptom["score"] <= 0.5 * BELOW_DIAGNOSIS + 1e-9


def test_a_full_code_goes_before_its_header_only_when_the_note_supports_it_about_as_well():
    header, full = sug("0DT6", 0.6, PCS, billable=False), sug("0DT60ZZ", 0.4, PCS)
    apply_guidelines([header, full])
    assert full["score"] > header["score"]
    header, weak = sug("0DT6", 0.6, PCS, billable=False), sug("0DT60ZZ", 0.1, PCS)
    apply_guidelines([header, weak])
    assert header["score"] > weak["score"]  # the header keeps its question for the missing axis


def test_a_diagnosis_the_model_doubts_does_not_push_its_symptom_down():
    # Guideline I.B.5 applies to an established diagnosis: an engine's near miss ("orthostatic hypotension" for
    # a note that states syncope) is not one, and the symptom the note states keeps its place.
    doubted, symptom = sug("I95.1", 0.003, evidence=["lightheaded on standing"]), sug("R55", 0.5, evidence=["syncope"])
    apply_guidelines([doubted, symptom])
    assert symptom["score"] == 0.5 and "integral_to" not in symptom
