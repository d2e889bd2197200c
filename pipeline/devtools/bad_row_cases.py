"""Bad inputs, part 3: rows and files that once crashed a batch, and what the audit's readers must
report (see :mod:`devtools.bad_input_cases`)."""

from __future__ import annotations

import json
import os

from devtools.bad_inputs import AUDIT, CRASH, MARKER, Case, Env, Outcome, note_text


# --------------------------------------------------------------------------------- rows that crashed
def _rows(env: Env, *bad, name: str = "in.jsonl", extra: tuple = ()) -> list[str]:
    rows = [env.good(1)[0], *bad, *env.good(3)[1:]]
    return env.predict(env.jsonl(name, rows), *extra)


def _row(note_id: str = "bad", **fields) -> dict:
    return {"id": note_id, "text": note_text(3), **fields}


def _crash(name: str, build, names: str, code: int = 3, **kw) -> Case:
    return Case(name, CRASH, build, code, names, scored=kw.pop("scored", ("ok0", "ok1", "ok2")), **kw)


def _text_file(env: Env, setup) -> list[str]:
    env.write("notes/ok0.txt", note_text(0))
    setup(env.path("notes"))
    return env.predict(str(env.path("notes")))


CRASH_CASES = [
    _crash("codes: 5", lambda e: _rows(e, _row(codes=5)), "bad codes"),
    _crash("codes: {system: 5}", lambda e: _rows(e, _row(codes={"ICD-10-CM": 5})), "bad codes"),
    _crash("codes: {system: null}", lambda e: _rows(e, _row(codes={"ICD-10-CM": None})), "bad codes"),
    _crash("codes: [object]", lambda e: _rows(e, _row(codes=[{"code": "R50.9"}])), "bad codes"),
    _crash("codes: [true]", lambda e: _rows(e, _row(codes=[True])), "bad codes"),
    _crash("codes: null is no codes", lambda e: _rows(e, _row("nocodes", codes=None)), "", code=0,
           scored=("ok0", "nocodes", "ok1", "ok2")),
    _crash("line nested 100,000 deep", lambda e: _rows(e, '{"id": "deep", "text": ' + "[" * 100_000 + "]" * 100_000 + "}"),
           "in.jsonl:line 2"),
    _crash("id with 5,000 digits", lambda e: _rows(e, '{"id": ' + "9" * 5000 + ', "text": "x"}'), "in.jsonl:line 2"),
    _crash("valid JSON with a lone surrogate", lambda e: _rows(e, '{"id": "sur", "text": "Fever ' + MARKER + ' \\ud800"}'),
           "sur"),
    _crash("lone surrogate in an id", lambda e: _rows(e, '{"id": "a\\udc80", "text": "x"}'), "in.jsonl:line 2"),
    _crash("id null", lambda e: _rows(e, _row(None)), "in.jsonl:line 2"),
    _crash("id true", lambda e: _rows(e, _row(True)), "in.jsonl:line 2"),
    _crash("id 1.5", lambda e: _rows(e, _row(1.5)), "in.jsonl:line 2"),
    _crash("id NaN", lambda e: _rows(e, '{"id": NaN, "text": "x"}'), "in.jsonl:line 2"),
    _crash("id a list", lambda e: _rows(e, _row([1, 2])), "in.jsonl:line 2"),
    _crash("id an object", lambda e: _rows(e, _row({"a": MARKER})), "in.jsonl:line 2"),
    _crash("id empty", lambda e: _rows(e, _row("  ")), "in.jsonl:line 2"),
    _crash("text a number", lambda e: _rows(e, {"id": "num", "text": 5}), "num"),
    _crash("text a list", lambda e: _rows(e, {"id": "lst", "text": [MARKER]}), "lst"),
    _crash("text null", lambda e: _rows(e, {"id": "nul", "text": None}), "nul"),
    _crash("line a JSON array", lambda e: _rows(e, json.dumps([MARKER])), "in.jsonl:line 2"),
    _crash("line a JSON string", lambda e: _rows(e, json.dumps(MARKER)), "in.jsonl:line 2"),
    _crash("torn JSON line", lambda e: _rows(e, '{"id": "torn", "text": "' + MARKER), "in.jsonl:line 2"),
    _crash("line not UTF-8", lambda e: _rows(e, b'{"id": "lat", "text": "Neumon\xeda ' + MARKER.encode() + b'"}'),
           "in.jsonl:line 2"),
    _crash("line of 13 MB", lambda e: _rows(e, '{"id": "big", "text": "' + "x" * (13 << 20) + '"}'), "in.jsonl:line 2"),
    _crash("JSONL with a byte-order mark", lambda e: (e.write("in.jsonl", "\ufeff" + "\n".join(
        json.dumps(r) for r in e.good(3)) + "\n"), e.predict(str(e.path("in.jsonl"))))[-1], "", code=0),
    _crash("note over --max-chars", lambda e: _rows(e, _row("long", text=note_text(1) + "x" * 6000),
                                                   extra=("--max-chars", "5000")), "over the limit"),
    _crash("--max-chars over what spaCy takes", lambda e: _rows(e, _row("long", text=note_text(1) + " fever" * 210_000),
                                                               extra=("--max-chars", "2000000")), "--max-chars",
           code=2, scored=()),
    _crash("duplicate ids", lambda e: _rows(e, e.good(1)[0]), "duplicate id"),
    _crash("CSV field of 140,000 characters", lambda e: e.predict(e.write("in.csv", "id,text\n" + "\n".join(
        [f'ok0,"{note_text(0)} {"fever " * 23_000}"', f'ok1,"{note_text(1)}"', f'ok2,"{note_text(2)}"']) + "\n")),
           "", code=0),
    _crash("CSV field of 3,000,000 characters", lambda e: e.predict(e.write("in.csv", "id,text\n" + "\n".join(
        [f'ok0,"{note_text(0)}"', f'big,"{"x" * 3_000_000} {MARKER}"', f'ok1,"{note_text(1)}"', f'ok2,"{note_text(2)}"'])
        + "\n")), "in.csv:line 4"),
    _crash("CSV with a Latin-1 byte in one row", lambda e: e.predict(e.write("in.csv", b"id,text\n" + b"\n".join(
        [f'ok0,"{note_text(0)}"'.encode(), b"lat,Neumon\xeda " + MARKER.encode(), f'ok1,"{note_text(1)}"'.encode(),
         f'ok2,"{note_text(2)}"'.encode()]) + b"\n")), "line 4 is not UTF-8"),
    _crash("CSV from Excel (byte-order mark)", lambda e: e.predict(e.write("in.csv", b"\xef\xbb\xbfid,text\n" + "\n".join(
        f'{r["id"]},"{r["text"]}"' for r in e.good(3)).encode() + b"\n")), "", code=0),
    _crash("CSV with a NUL byte in a row", lambda e: e.predict(e.write("in.csv", "id,text\n" + "\n".join(
        [f'ok0,"{note_text(0)}"', f'nul,"Fever\0 {MARKER}"', f'ok1,"{note_text(1)}"', f'ok2,"{note_text(2)}"']) + "\n")),
        "", code=0, scored=("ok0", "nul", "ok1", "ok2")),
    _crash("CSV that is empty", lambda e: e.predict(e.write("in.csv", "")), "in.csv", code=4, scored=()),
    _crash(".txt symbolic link to /dev/zero", lambda e: _text_file(e, lambda d: os.symlink("/dev/zero", d / "zero.txt")),
           "device", scored=("ok0",)),
    _crash(".txt that is a FIFO", lambda e: _text_file(e, lambda d: os.mkfifo(d / "pipe.txt")), "FIFO", scored=("ok0",)),
    _crash(".txt that is a folder", lambda e: _text_file(e, lambda d: (d / "dir.txt").mkdir()), "folder",
           scored=("ok0",)),
    _crash(".txt of 5 MB with --max-chars 1000", lambda e: (_text_file(e, lambda d: os.truncate(
        e.write("notes/huge.txt", b""), 5 << 20)), e.predict(str(e.path("notes")), "--max-chars", "1000"))[-1], "huge",
           scored=("ok0",)),
    _crash(".txt not UTF-8", lambda e: _text_file(e, lambda d: (d / "lat.txt").write_bytes(b"Neumon\xeda")), "lat",
           scored=("ok0",)),
    _crash("JSONL input that is a FIFO", lambda e: (os.mkfifo(e.path("in.jsonl")), e.predict(str(e.path("in.jsonl"))))[-1],
           "FIFO", code=4, scored=()),
    _crash("JSONL input that is /dev/zero", lambda e: (os.symlink("/dev/zero", e.path("in.jsonl")),
                                                      e.predict(str(e.path("in.jsonl"))))[-1], "device", code=4,
           scored=()),
    _crash("suggest: note file that is a FIFO", lambda e: (os.mkfifo(e.path("note.txt")), ["suggest", str(
        e.path("note.txt")), "-m", str(e.model)])[-1], "FIFO", code=4, scored=()),
]


# ----------------------------------------------------------------------------------------- audit readers
def _predictions(env: Env, rows: list, gold_rows: list | None = None) -> list[str]:
    gold = env.jsonl("gold.jsonl", gold_rows or [{"id": f"ok{i}", "codes": ["R50.9"]} for i in range(3)])
    return ["evaluate", "-p", env.jsonl("pred.jsonl", rows), "-g", gold]


def _good_prediction(note_id: str = "ok0", **changes) -> dict:
    sug = {"code": "R50.9", "system": "ICD-10-CM", "score": 0.9, "evidence": [{"text": "fever"}]}
    sug.update(changes)
    return {"id": note_id, "suggestions": [{k: v for k, v in sug.items() if v is not ...}]}


def _audit(name: str, row, names: str = "pred.jsonl: line 2") -> Case:
    rows = [_good_prediction("ok0"), row, _good_prediction("ok2")]
    return Case(name, AUDIT, lambda e: _predictions(e, rows), 4, names)


def _gold_without_text(env: Env, outcome: Outcome) -> list[str]:
    metrics = json.loads(env.path("m.json").read_text()) if env.path("m.json").exists() else {}
    notes = metrics.get("ICD-10-CM", {}).get("notes")
    return [] if notes == 2 else [f"gold notes counted: {notes}, expected 2"]


AUDIT_CASES = [
    _audit("predictions: no id", {"suggestions": []}),
    _audit("predictions: no system", _good_prediction("ok1", system=...)),
    _audit("predictions: unknown system", _good_prediction("ok1", system="ICD-9")),
    _audit("predictions: null score", _good_prediction("ok1", score=None)),
    _audit("predictions: score a string", _good_prediction("ok1", score="high")),
    _audit("predictions: NaN score", '{"id": "ok1", "suggestions": [{"code": "R50.9", "system": "ICD-10-CM", "score": NaN}]}'),
    _audit("predictions: suggestions a string", {"id": "ok1", "suggestions": "R50.9"}),
    _audit("predictions: suggestion a number", {"id": "ok1", "suggestions": [5]}),
    _audit("predictions: evidence a string", _good_prediction("ok1", evidence="fever")),
    _audit("predictions: line not JSON", '{"id": "ok1", "sugg'),
    _audit("predictions: note given twice", _good_prediction("ok0"), "ok0"),
    Case("predictions: space-separated TSV", AUDIT, lambda e: ["evaluate", "-p", e.write(
        "pred.tsv", "ok0 R50.9\nok1 R50.9\n"), "-g", e.write("gold.tsv", "ok0\tR50.9\n")], 4, "pred.tsv: line 1"),
    Case("gold TSV without tabs", AUDIT, lambda e: ["evaluate", "-p", e.write("pred.tsv", "ok0\tR50.9\n"), "-g",
                                                    e.write("gold.tsv", "ok0 R50.9\n")], 4, "gold.tsv: line 1"),
    Case("gold rows without text are kept", AUDIT, lambda e: [*_predictions(
        e, [_good_prediction("ok0"), _good_prediction("ok1", code="I10")],
        [{"id": "ok0", "codes": ["R50.9"]}, {"id": "ok1", "codes": ["I10"], "text": note_text(1)}]),
        "-o", str(e.path("m.json"))], 0, extra=_gold_without_text),
    Case("evaluate --report into a missing folder", AUDIT, lambda e: [*_predictions(e, [_good_prediction()]),
                                                                     "--report", str(e.path("no/r.html"))], 4, "--report"),
    Case("evaluate -o onto the gold file", AUDIT, lambda e: [*_predictions(e, [_good_prediction()]),
                                                            "-o", str(e.path("gold.jsonl"))], 4, "is an input"),
    Case("suggest -o into a missing folder", AUDIT, lambda e: ["suggest", "-", "-m", str(e.model), "-o",
                                                              str(e.path("no/s.json"))], 4, "--output",
         stdin=note_text(0)),
    Case("codes validate -o into a missing folder", AUDIT, lambda e: ["codes", "validate", "E11.9", "-o",
                                                                     str(e.path("no/v.json"))], 4, "--output"),
]
