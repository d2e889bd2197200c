"""End to end on the real default model (built by `make setup`)."""

import json

import pytest
from typer.testing import CliRunner

from medcode.api import default_model_dir
from medcode.cli import app

pytestmark = pytest.mark.e2e

# Written for this test: not a CodiEsp note.
NOTE = """A 58-year-old woman with a history of type 2 diabetes mellitus and arterial hypertension came to the
emergency department with fever of 39 C, productive cough and right pleuritic chest pain.
No evidence of pulmonary embolism.
Chest X-ray showed consolidation in the right lower lobe consistent with pneumonia.
Blood cultures were negative. She was treated with intravenous ceftriaxone and recovered.
"""


@pytest.fixture(scope="module")
def model_dir():
    path = default_model_dir()
    assert (path / "meta.json").exists(), f"no default model at {path}: run `make setup` first"
    return path


def test_suggest_on_a_new_note(model_dir):
    result = CliRunner().invoke(app, ["suggest", "-", "--json", "-k", "10"], input=NOTE)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    codes = [s["code"] for s in data["suggestions"]]
    assert {"J18.9", "R50.9", "BW03ZZZ"} <= set(codes)
    for sug in data["suggestions"]:
        assert sug["description"] and 0 <= sug["score"] <= 1
        for ev in sug["evidence"]:
            assert NOTE[ev["start"]:ev["end"]] == ev["text"]
    pneumonia = next(s for s in data["suggestions"] if s["code"] == "J18.9")
    assert any("pneumonia" in ev["text"].lower() for ev in pneumonia["evidence"])


def test_negated_pneumonia_is_not_at_the_top(model_dir):
    result = CliRunner().invoke(app, ["suggest", "-", "--json"], input="No evidence of pneumonia.")
    data = json.loads(result.stdout)
    assert data["suggestions"][0]["code"] != "J18.9"


def test_context_and_encounter_query_on_the_coder_example(model_dir):
    note = "Patient denies chest pain. Mother had breast cancer. Fracture of the right femoral neck."
    result = CliRunner().invoke(app, ["suggest", "-", "--json", "-k", "15"], input=note)
    data = json.loads(result.stdout)
    suggested = [s for s in data["suggestions"] if s["system"] == "ICD-10-CM"]
    codes = [s["code"] for s in suggested]
    # The fracture, with the encounter query, in the top three; the family history coded as such.
    fracture = [s for s in suggested[:3] if s["code"].startswith("S72.001")]
    assert fracture and fracture[0]["query"]["detail"] == "encounter", codes
    assert "S72.001A" in [o["code"] for o in fracture[0]["query"]["options"]]
    assert "Z80.3" in codes
    # Nothing for the patient from the relative's or the denied condition, and "denies" is no evidence.
    assert not [c for c in codes if c.startswith(("R07", "C50", "D24", "D05", "D49.3", "Z85"))], codes
    assert not [s for s in data["suggestions"] if any("denies" in e["text"].lower() for e in s["evidence"])]
    excluded = {s["code"]: s["demoted"] for s in data["excluded"]}
    assert "negated" in excluded["R07.9"] and any("family" in v for k, v in excluded.items() if k.startswith("C50"))


def test_readme_python_example_runs(model_dir):
    """The README's Python API example, run as written in a fresh interpreter."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    block = re.search(r"### Python API\n\n```python\n(.*?)```", readme, re.S).group(1)
    run = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert re.match(r"^[A-Z][0-9][0-9A-Z]\.?[0-9A-Z]* 0\.[0-9]+ ", lines[0]), lines
    assert "ICD-10-CM" in run.stdout and " a " in run.stdout


def test_spacy_load_of_the_default_pipeline_in_a_fresh_interpreter(model_dir):
    import subprocess
    import sys

    code = ("import spacy, sys; nlp = spacy.load(sys.argv[1]); doc = nlp('Fracture of the right femoral neck.'); "
            "print(doc._.medcode_suggestions['suggestions'][0]['code'])")
    run = subprocess.run([sys.executable, "-c", code, str(model_dir / "nlp")], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    import medcode

    expected = medcode.load(model_dir).suggest("Fracture of the right femoral neck.")["suggestions"][0]["code"]
    assert run.stdout.strip() == expected


def test_hiv_disease_is_not_a_radiography_code(model_dir):
    result = CliRunner().invoke(app, ["suggest", "-", "--json", "-k", "5"],
                                input="Patient with HIV disease, on antiretroviral therapy, seen for follow-up.")
    data = json.loads(result.stdout)
    assert not [s for s in data["suggestions"] if s["code"] == "B20" and s["system"] == "ICD-10-PCS"]
    shown = CliRunner().invoke(app, ["codes", "show", "B20"])
    assert shown.exit_code == 0 and "Human immunodeficiency virus" in shown.stdout


@pytest.mark.parametrize("note, expected", [
    ("Squamous cell carcinoma of the skin of the left cheek.", "C44.3"),
    ("Adenocarcinoma of the right upper lobe of the lung.", "C34.11"),
    ("Acute calculous cholecystitis.", "K80.0"),
    ("Iron deficiency anemia secondary to chronic blood loss.", "D50.0"),
    ("A 4-year-old boy is diagnosed with Kawasaki's disease.", "M30.3"),
])
def test_the_detail_in_the_note_reaches_the_code(model_dir, note, expected):
    """Examples from issue #11 where the code that carries the note's detail was missing."""
    result = CliRunner().invoke(app, ["suggest", "-", "--json", "-k", "5"], input=note)
    top = [s["code"] for s in json.loads(result.stdout)["suggestions"] if s["system"] == "ICD-10-CM"][:3]
    assert any(code.startswith(expected) for code in top), (note, top)


def test_a_negative_test_result_is_not_the_patients_disease(model_dir):
    result = CliRunner().invoke(app, ["suggest", "-", "--json", "-k", "5"],
                                input="Hepatitis C antibody test came back negative.")
    data = json.loads(result.stdout)
    top = [s for s in data["suggestions"] if s["system"] == "ICD-10-CM" and s["score"] >= 0.1]
    assert not [s["code"] for s in top if s["code"].startswith(("B17.1", "B18.2", "B19.2", "K75"))], top


def test_suggesting_needs_no_code_set_package_at_run_time(model_dir):
    # The model folder carries what prediction needs; simple_icd_10_cm parses the whole tabular (seconds and
    # hundreds of MB), so a note with a stated BMI and gestational age must not make it load.
    import subprocess
    import sys

    code = ("import sys, medcode; m = medcode.load(sys.argv[1]); "
            "r = m.suggest('G2P1 at 28 weeks, gestational diabetes. Morbid obesity, BMI 42. Burn of the hand, 12% TBSA.'); "
            "print(' '.join(s['code'] for s in r['suggestions'][:10])); print('simple_icd_10_cm' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code, str(model_dir)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    codes, imported = run.stdout.strip().splitlines()
    assert {"Z3A.28", "Z68.41"} <= set(codes.split()) and imported == "False", run.stdout
