"""Batch prediction: resume after a kill, worker processes, stdin, duplicate ids."""

import json

import pytest
from tests.conftest import synthetic_notes
from typer.testing import CliRunner

from medcode.batch.predict import predict_file
from medcode.cli import app
from medcode.coder import Medcoder


def write_jsonl(path, notes):
    path.write_text("".join(json.dumps({"id": n.id, "text": n.text}) + "\n" for n in notes))


def ids(path):
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


class Killed(BaseException):
    """Stands for a kill: raised from the progress callback, it stops a run between two notes."""


def kill_after(n):
    def progress(done):
        if done >= n:
            raise Killed
    return progress


def test_resume_after_a_torn_write_gives_every_note_once(tiny_model, tmp_path):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, synthetic_notes(9, seed=11))
    full = tmp_path / "full.jsonl"
    predict_file(src, full, tiny_model)
    killed = tmp_path / "killed.jsonl"
    with pytest.raises(Killed):
        predict_file(src, killed, tiny_model, progress=kill_after(3), batch_size=2)
    assert not killed.exists()  # nothing is in place until the run ends
    partial = tmp_path / ".killed.jsonl.partial"
    lines = partial.read_text().splitlines(keepends=True)
    assert len(lines) == 3
    # A run killed mid-write: two whole lines and half of the third.
    partial.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2])
    result = predict_file(src, killed, tiny_model, resume=True)
    assert result["resumed"] == 2 and result["scored"] == 7
    assert killed.read_text() == full.read_text()
    assert not partial.exists()


def mixed_input(path, n, seed):
    """Good notes with bad rows between them (empty text, broken JSON, no id)."""
    lines = [json.dumps({"id": note.id, "text": note.text}) for note in synthetic_notes(n, seed=seed)]
    lines.insert(3, json.dumps({"id": "blank", "text": "  "}))
    lines.insert(7, '{"id": "torn", "text": "half a ro')
    lines.insert(9, json.dumps({"text": "no id here"}))
    path.write_text("\n".join(lines) + "\n")


def test_workers_give_the_same_output_as_one_process(tiny_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    mixed_input(src, 12, seed=12)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    # the model as the workers load it: every output line names the model folder's id
    first = predict_file(src, one, Medcoder.load(tiny_model_dir), batch_size=3)
    second = predict_file(src, two, model_dir=tiny_model_dir, workers=2, batch_size=3)
    assert two.read_text() == one.read_text() and len(ids(one)) == 12
    assert (tmp_path / "two.errors.jsonl").read_text() == (tmp_path / "one.errors.jsonl").read_text()
    assert first["skipped"] == second["skipped"] == 3


def test_dask_engine_gives_the_same_output_as_local(tiny_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    mixed_input(src, 12, seed=15)
    local, dask = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    predict_file(src, local, Medcoder.load(tiny_model_dir), batch_size=4)
    result = predict_file(src, dask, model_dir=tiny_model_dir, workers=2, batch_size=4, engine="dask")
    assert dask.read_text() == local.read_text() and result["scored"] == 12 and result["skipped"] == 3
    errors = [json.loads(line) for line in (tmp_path / "dask.errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors][0] == "blank" and len(errors) == 3


def test_unknown_engine_is_refused(tiny_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, synthetic_notes(2, seed=16))
    result = CliRunner().invoke(app, ["predict", str(src), "-o", str(tmp_path / "o.jsonl"), "-m", str(tiny_model_dir),
                                      "--engine", "spark"])
    assert result.exit_code == 2 and "unknown engine" in result.output


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
    predict_file(src, out, tiny_model)
    releases = [json.loads(line)["release"] for line in out.read_text().splitlines()]
    assert len(releases) == 3 and all(r["ICD-10-PCS"] == "ICD-10-PCS FY2026" for r in releases)


def test_kill_9_mid_run_then_resume_gives_the_uninterrupted_output(tiny_model_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    src = tmp_path / "in.jsonl"
    write_jsonl(src, synthetic_notes(1500, seed=17))
    full = tmp_path / "full.jsonl"
    tiny_model = Medcoder.load(tiny_model_dir)  # the model the killed run loads (same id on every line)
    predict_file(src, full, tiny_model)
    out = tmp_path / "killed.jsonl"
    child = subprocess.Popen([sys.executable, "-m", "medcode", "predict", str(src), "-o", str(out),
                              "-m", str(tiny_model_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = tmp_path / ".killed.jsonl.partial"
    deadline = time.time() + 120
    while time.time() < deadline and (not partial.exists() or partial.stat().st_size == 0):
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    written = len(partial.read_text().splitlines()) if partial.exists() else 0
    assert 0 < written < 1500, "the run should have been killed part-way"
    assert not out.exists(), "OUT is only put in place when the run ends"
    result = predict_file(src, out, tiny_model, resume=True)
    assert result["resumed"] + result["scored"] == 1500
    assert out.read_text() == full.read_text()
