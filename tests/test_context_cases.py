"""The assertion-status suite: 165 one-sentence cases written for medcode (corpora/context/cases.tsv)."""

from devtools.context_eval import evaluate_context, read_cases


def test_suite_covers_every_status_with_enough_cases():
    cases = read_cases()
    assert len(cases) >= 150
    statuses = {c["status"] for c in cases}
    assert statuses == {"AFFIRMED", "NEGATED", "HISTORICAL", "FAMILY", "HYPOTHETICAL", "UNCERTAIN"}


def test_every_case_gets_its_status():
    result = evaluate_context()
    failures = "\n".join(f"{f['status']} != {f['found']}: {f['sentence']}" for f in result["failures"])
    assert result["accuracy"] == 1.0, failures


def test_a_wrong_expectation_is_reported():
    result = evaluate_context([{"status": "NEGATED", "target": "pneumonia", "sentence": "Pneumonia was diagnosed."}])
    assert result["accuracy"] == 0.0 and result["failures"][0]["found"] == "AFFIRMED"
