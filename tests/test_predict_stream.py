"""Batch prediction: resume after a kill, worker processes, stdin, duplicate ids."""

import json

from typer.testing import CliRunner

from pipeline import api
from pipeline.cli import app
from tests.conftest import synthetic_notes


def write_jsonl(path, notes):
    path.write_text("".join(json.dumps({"id": n.id, "text": n.text}) + "\n" for n in notes))


def ids(path):
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_resume_after_a_torn_write_gives_every_note_once(tiny_model, tmp_path):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, synthetic_notes(9, seed=11))
    full = tmp_path / "full.jsonl"
    api.predict_file(src, full, tiny_model)
    # A run killed mid-write: two whole lines and half of the third.
    lines = full.read_text().splitlines(keepends=True)
    killed = tmp_path / "killed.jsonl"
    killed.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2])
    result = api.predict_file(src, killed, tiny_model, resume=True)
    assert result["resumed"] == 2 and result["scored"] == 7
    assert killed.read_text() == full.read_text()


def test_workers_give_the_same_output_as_one_process(tiny_model, tiny_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, synthetic_notes(12, seed=12))
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    api.predict_file(src, one, tiny_model)
    api.predict_file(src, two, model_dir=tiny_model_dir, workers=2)
    assert two.read_text() == one.read_text()


def test_stdin_and_duplicate_ids(tiny_model_dir, tmp_path):
    notes = synthetic_notes(3, seed=13)
    stdin = "".join(json.dumps({"id": n.id, "text": n.text}) + "\n" for n in notes + notes[:1])
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["predict", "-", "-o", str(out), "-m", str(tiny_model_dir)], input=stdin)
    assert result.exit_code == 3, result.output
    assert ids(out) == [n.id for n in notes]
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert errors == [{"id": notes[0].id, "error": "duplicate id: an earlier note has the same id"}]


def test_every_output_line_names_the_code_set_releases(tiny_model, tmp_path):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, synthetic_notes(3, seed=14))
    out = tmp_path / "out.jsonl"
    api.predict_file(src, out, tiny_model)
    releases = [json.loads(line)["release"] for line in out.read_text().splitlines()]
    assert len(releases) == 3 and all(r["ICD-10-PCS"] == "ICD-10-PCS FY2026" for r in releases)
