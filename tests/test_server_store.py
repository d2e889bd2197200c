"""The decisions database (schema, migrations, SQLite WAL, several writers), feedback export, decision audits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the server extra is not installed (pip install -e '.[server]')")

from typer.testing import CliRunner  # noqa: E402

from medcode.decisions.export import export_feedback  # noqa: E402
from medcode.decisions.schema import MIGRATIONS, StoreError, decisions  # noqa: E402
from medcode.decisions.state import feedback_line, final_codes, latest_by_code  # noqa: E402
from medcode.decisions.store import DecisionStore, default_url, normalize_url, note_hash  # noqa: E402

CM_RELEASE = "ICD-10-CM FY2026 (April 1, 2026 update)"


def row(note_id, code, action, text="note text", **extra):
    system = "ICD-10-PCS" if "." not in code and len(code) == 7 else "ICD-10-CM"
    return {"note_id": note_id, "note_hash": note_hash(text), "code": code, "system": system, "action": action,
            "coder": extra.pop("coder", "ana"), "model_id": extra.pop("model_id", "m1"), "code_release": CM_RELEASE,
            **extra}


@pytest.fixture()
def store(tmp_path):
    s = DecisionStore(str(tmp_path / "d.sqlite"))
    yield s
    s.close()


def test_sqlite_file_in_wal_mode_beside_the_worklist(tmp_path):
    (tmp_path / "dev").mkdir()
    assert default_url(tmp_path / "dev") == f"sqlite:///{tmp_path / 'dev.decisions.sqlite'}"
    (tmp_path / "notes.jsonl").write_text("")
    assert default_url(tmp_path / "notes.jsonl") == f"sqlite:///{tmp_path / 'notes.decisions.sqlite'}"
    store = DecisionStore(default_url(tmp_path / "dev"))
    assert store.journal_mode() == "wal" and store.migrated == [1]
    assert (tmp_path / "dev.decisions.sqlite").exists()
    store.close()
    assert DecisionStore(default_url(tmp_path / "dev")).migrated == []  # already current


def test_urls():
    assert normalize_url("postgresql://u:secret@db/medcode").drivername == "postgresql+psycopg"
    assert "secret" not in normalize_url("postgresql://u:secret@db/medcode").render_as_string(hide_password=True)
    assert normalize_url("rel/path.sqlite").database.endswith("rel/path.sqlite")
    with pytest.raises(StoreError, match="does not exist"):
        DecisionStore("sqlite:////no/such/folder/d.sqlite")


def test_migrations_apply_in_order_and_a_newer_database_is_refused(tmp_path):
    from sqlalchemy import text

    url = str(tmp_path / "m.sqlite")
    DecisionStore(url).close()

    def add_comment(conn):
        conn.execute(text("ALTER TABLE medcode_decisions ADD COLUMN comment TEXT"))

    upgraded = DecisionStore(url, migrations={**MIGRATIONS, 2: ("decision comments", add_comment)})
    assert upgraded.migrated == [2]
    with upgraded.engine.connect() as conn:
        columns = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(medcode_decisions)")]
        versions = [r[0] for r in conn.exec_driver_sql("SELECT version FROM medcode_schema ORDER BY version")]
    assert "comment" in columns and versions == [1, 2]
    upgraded.close()
    with pytest.raises(StoreError, match="schema version 2, newer than this medcode"):
        DecisionStore(url)


def test_record_is_idempotent_and_validates(store):
    first = store.record([row("n1", "J18.9", "accept", decision_id="d-000001"), row("n1", "I10", "reject")])
    assert len(first) == 2
    assert store.record([row("n1", "J18.9", "accept", decision_id="d-000001")]) == []
    assert store.count() == 2
    with pytest.raises(StoreError, match="unknown action 'approve'"):
        store.record([row("n1", "I10", "approve")])
    with pytest.raises(StoreError, match="missing coder"):
        store.record([row("n1", "I10", "accept", coder="")])
    with pytest.raises(StoreError, match="needs the chosen code"):
        store.record([row("n1", "J18.9", "answer")])
    assert "note_text" not in store.decisions()[0]  # text is not kept unless asked
    keeping = DecisionStore(str(Path(store.url.database).with_name("k.sqlite")), keep_text=True)
    keeping.record([row("n1", "I10", "accept", note_text="Hypertension.")])
    assert keeping.decisions()[0]["note_text"] == "Hypertension."
    keeping.close()


def test_state_final_list_and_feedback_line():
    rows = [row("n", "J18.9", "accept"), row("n", "I10", "accept"), row("n", "I10", "reject"),
            row("n", "E11.9", "accept"), row("n", "E11.9", "undo"), row("n", "R50.9", "add"),
            row("n", "J18.9", "answer", query_answer="J18.0"), row("n", "N20.0", "query")]
    state = latest_by_code(rows)
    assert {c: r["action"] for c, r in state.items()} == {"I10": "reject", "R50.9": "add", "J18.9": "answer",
                                                          "N20.0": "query"}
    assert final_codes(state) == ["R50.9", "J18.0"]
    assert feedback_line("n", state) == {"id": "n", "accepted": [], "rejected": ["I10", "J18.9"],
                                         "added": ["R50.9", "J18.0"]}
    same = latest_by_code([row("n", "J18.9", "answer", query_answer="J18.9")])
    assert feedback_line("n", same, "text")["accepted"] == ["J18.9"] and feedback_line("n", same, "t")["text"] == "t"


def test_export_is_what_training_reads(store, tmp_path):
    from medcode.notes import Note
    from medcode.training import apply_feedback

    store.record([row("a", "J18.9", "accept"), row("a", "I10", "reject"), row("a", "N20.0", "add"),
                  row("b", "E11.9", "accept", text="old text"), row("b", "I10", "accept", text="new text"),
                  row("c", "R07.9", "undo")])
    out = tmp_path / "feedback.jsonl"
    result = export_feedback(store, out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [{"id": "a", "accepted": ["J18.9"], "rejected": ["I10"], "added": ["N20.0"]},
                     {"id": "b", "accepted": ["I10"], "rejected": [], "added": []}]
    assert result["notes"] == 2 and result["superseded"] == 1
    notes = [Note("a", "x", {"ICD-10-CM": ["I10", "R50.9"]}), Note("b", "y", {})]
    counts = apply_feedback(notes, out)
    assert notes[0].codes["ICD-10-CM"] == ["R50.9", "J18.9", "N20.0"] and notes[1].codes["ICD-10-CM"] == ["I10"]
    assert counts["notes_updated"] == 2 and counts["lines_ignored"] == 0
    only_ana = export_feedback(store, tmp_path / "none.jsonl", coder="nobody")
    assert only_ana["notes"] == 0
    keeping = DecisionStore(str(tmp_path / "kept.sqlite"), keep_text=True)
    keeping.record([row("new", "N20.0", "accept", text="Kidney stone.", note_text="Kidney stone.")])
    export_feedback(keeping, tmp_path / "with-text.jsonl")
    line = json.loads((tmp_path / "with-text.jsonl").read_text())
    assert line["text"] == "Kidney stone."  # training can add a note it lacks
    notes = []
    assert apply_feedback(notes, tmp_path / "with-text.jsonl")["notes_added"] == 1 and notes[0].text == "Kidney stone."
    keeping.close()


def test_decisions_export_command(store, tmp_path):
    from medcode.cli import app

    store.record([row("a", "J18.9", "accept")])
    out = tmp_path / "fb.jsonl"
    result = CliRunner().invoke(app, ["decisions", "export", "--db", f"sqlite:///{store.url.database}", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 notes, 1 decisions" in result.stderr
    assert json.loads(out.read_text()) == {"id": "a", "accepted": ["J18.9"], "rejected": [], "added": []}
    missing = CliRunner().invoke(app, ["decisions", "export", "-o", str(out)])
    assert missing.exit_code == 2 and "--db" in missing.stderr


WRITER = """
import sys
from medcode.decisions.store import DecisionStore, note_hash
store = DecisionStore(sys.argv[1])
worker = sys.argv[2]
for i in range(int(sys.argv[3])):
    store.record([{"decision_id": f"{worker}-{i}", "note_id": f"n{i % 7}", "note_hash": note_hash(str(i % 7)),
                   "code": "I10", "system": "ICD-10-CM", "action": "accept", "coder": worker}])
"""


def test_several_writer_processes_on_one_sqlite_file(tmp_path):
    db = str(tmp_path / "shared.sqlite")
    DecisionStore(db).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, db, f"w{k}", "150"]) for k in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    store = DecisionStore(db)
    ids = [r["decision_id"] for r in store.decisions()]
    assert len(ids) == len(set(ids)) == 600
    store.close()


def test_acceptance_by_rank_model_and_coder(store):
    from medcode.evaluation.decisions import acceptance

    store.record([row("a", "J18.9", "accept", rank=1), row("a", "I10", "reject", rank=2),
                  row("a", "R50.9", "answer", rank=3, query_answer="R50.81"), row("a", "N20.0", "add"),
                  row("b", "E11.9", "accept", rank=1, coder="bo", model_id="m2"), row("b", "R07.9", "query", rank=2),
                  row("b", "C50.919", "reject", rank=15, coder="bo", model_id="m2")])
    figures = acceptance(store)
    assert (figures["notes"], figures["decided"], figures["accepted"], figures["refined"], figures["rejected"]) == (
        2, 5, 2, 1, 2)
    assert figures["acceptance_rate"] == 0.6 and figures["queried"] == 1
    by_rank = {r["rank"]: r for r in figures["by_rank"]}
    assert by_rank["1"]["precision"] == 1.0 and by_rank["2"]["precision"] == 0.0 and by_rank[">10"]["decided"] == 1
    assert {r["k"]: r["precision"] for r in figures["precision_at"]}[3] == 0.75
    assert {r["model_id"]: r["decided"] for r in figures["by_model"]} == {"m1": 3, "m2": 2}
    assert {r["coder"]: r["acceptance_rate"] for r in figures["by_coder"]} == {"ana": 0.6667, "bo": 0.5}
    assert figures["added"]["most_added"] == [{"code": "N20.0", "added": 1}]


def test_evaluate_a_model_against_decisions(tiny_model_dir, tmp_path):
    from tests.conftest import synthetic_notes

    from medcode.cli import app

    notes = synthetic_notes(12, seed=31)
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text("".join(json.dumps({"id": n.id, "text": n.text}) + "\n" for n in notes))
    db = tmp_path / "d.sqlite"
    store = DecisionStore(str(db))
    for rank, note in enumerate(notes, start=1):
        store.record([row(note.id, code, "accept", text=note.text, rank=1 + rank % 3)
                      for system in note.codes for code in note.codes[system]])
    store.record([row(notes[0].id, "I10", "reject", text=notes[0].text, rank=4)])
    store.close()
    out, report = tmp_path / "m.json", tmp_path / "r.html"
    result = CliRunner().invoke(app, ["evaluate", "--decisions", str(db), "-m", str(tiny_model_dir), "-c", str(corpus),
                                      "-o", str(out), "--report", str(report), "--allow-train-overlap"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["notes"] == 12 and data["ICD-10-CM"]["MAP"] > 0.5 and data["decisions"]["decided"] > 12
    assert "Coder decisions" in report.read_text() and "Precision of decided suggestions by rank" in report.read_text()
    alone = CliRunner().invoke(app, ["evaluate", "--decisions", str(db), "-o", str(out)])
    assert alone.exit_code == 0 and "coder decisions" in alone.stdout
    assert "ICD-10-CM" not in json.loads(out.read_text())


def test_decisions_table_is_created_with_its_indexes(store):
    from sqlalchemy import inspect

    inspector = inspect(store.engine)
    assert {"medcode_schema", "medcode_decisions", "medcode_completions"} <= set(inspector.get_table_names())
    assert {i["name"] for i in inspector.get_indexes(decisions.name)} >= {"ix_medcode_decisions_note"}
