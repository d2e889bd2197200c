"""The Python API: medcode.load, suggest, suggest_many (records and DataFrames), spaCy integration."""

import subprocess
import sys

import pandas as pd
import pytest

import medcode
from medcode.errors import InputError


def test_import_has_no_side_effects():
    code = ("import sys, medcode; heavy = {'spacy', 'sklearn', 'simple_icd_10_cm'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_load_and_suggest(tiny_model_dir):
    coder = medcode.load(tiny_model_dir)
    record = coder.suggest("Fever and a kidney stone.")
    assert {"N20.0", "R50.9"} <= {s["code"] for s in record["suggestions"]}
    with pytest.raises(InputError, match="note: note is empty"):
        coder.suggest("   ")


def test_predict_takes_strings_dicts_and_notes(tiny_model):
    from medcode.notes import Note

    rows = tiny_model.predict(["Fever.", {"id": "b", "text": "Chest pain."}, Note("c", "Pneumonia.")], top_k=3)
    assert [r["id"] for r in rows] == ["1", "b", "c"]
    with pytest.raises(InputError, match="note 1"):
        tiny_model.predict([42])


def test_suggest_many_returns_records_or_a_frame(tiny_model):
    frame = pd.DataFrame({"note_id": ["x", "y"], "body": ["Fever of 39 C.", "A kidney stone."]})
    out = tiny_model.suggest_many(frame, text_col="body", id_col="note_id", top_k=3)
    assert isinstance(out, pd.DataFrame) and set(out["id"]) == {"x", "y"}
    assert {"code", "system", "score", "rank", "evidence"} <= set(out.columns)
    assert "R50.9" in set(out[out["id"] == "x"]["code"]) and "N20.0" in set(out[out["id"] == "y"]["code"])
    records = tiny_model.suggest_many(["Fever.", "A kidney stone."], top_k=3)
    assert [r["id"] for r in records] == ["1", "2"]
    with pytest.raises(InputError, match="no column 'text'"):
        tiny_model.suggest_many(frame)
    with pytest.raises(InputError, match="y: note is empty"):
        tiny_model.suggest_many(pd.DataFrame({"text": ["Fever.", " "]}, index=["x", "y"]))


def test_spacy_load_of_a_model_pipeline_sets_the_suggestions(tiny_model_dir, tiny_model):
    """In a fresh interpreter, without importing medcode: spaCy finds the components by entry point."""
    code = ("import spacy, json, sys; nlp = spacy.load(sys.argv[1]); doc = nlp('Fever and a kidney stone.'); "
            "print(json.dumps(doc._.medcode_suggestions))")
    out = subprocess.run([sys.executable, "-c", code, str(tiny_model_dir / "nlp")], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    import json

    record = json.loads(out[0])
    assert {"N20.0", "R50.9"} <= {s["code"] for s in record["suggestions"]}
    expected = tiny_model.suggest("Fever and a kidney stone.")
    assert [s["code"] for s in record["suggestions"]] == [s["code"] for s in expected["suggestions"]]
