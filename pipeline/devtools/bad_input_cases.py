"""The catalogue of bad inputs (see :mod:`devtools.bad_inputs` for what every case must show).

Grouped as issue #12 lists them: writes that could destroy a file, ``--resume`` of another run, note
text where it must not be, model trust, inputs that crashed a batch or a run, and the audit's readers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from devtools.bad_inputs import MARKER, Case, Env, Outcome, model_id, note_text, rehash

LOSS, RESUME, PHI, TRUST, CRASH, AUDIT, DASK = (
    "writes that cannot destroy", "run fingerprint", "no text where it must not be", "model trust",
    "every bad row reported", "audit readers", "private dask")


def _keep(env: Env, name: str = "out.jsonl") -> None:
    """An earlier output the failing command must leave as it is."""
    env.write(name, json.dumps({"id": "earlier", "suggestions": []}) + "\n")


def _notes(env: Env, name: str = "in.jsonl", n: int = 3) -> str:
    return env.jsonl(name, env.good(n))


# ------------------------------------------------------------------------------------ writes that destroy
def _out_is_input(env: Env) -> list[str]:
    src = _notes(env, "x.jsonl")
    return env.predict(src, out="x.jsonl")


def _errors_file_is_input(env: Env) -> list[str]:
    src = _notes(env, "run.errors.jsonl")
    return env.predict(src, out="run.jsonl")


def _missing_input(env: Env) -> list[str]:
    _keep(env)
    return env.predict(str(env.path("typo.jsonl")))


def _csv_without_header(env: Env) -> list[str]:
    _keep(env)
    return env.predict(env.write("bad.csv", f"a,b\n1,{MARKER}\n"))


def _bad_model(env: Env, *extra: str) -> list[str]:
    _keep(env)
    return env.predict(_notes(env), *extra, model=env.path("nowhere"))


def _bad_format(env: Env) -> list[str]:
    _keep(env)
    return env.predict(_notes(env), "--format", "xml")


def _codiesp_gold(env: Env) -> list[str]:
    corpus = env.codiesp()
    return env.predict(str(corpus / "dev"), "--format", "codiesp", out="corpus/dev/dev.jsonl")


def _codiesp_other_split_gold(env: Env) -> list[str]:
    corpus = env.codiesp(("train", "dev"))
    return env.predict(str(corpus), "-s", "dev", "--format", "codiesp", out="corpus/train/train.jsonl")


def _out_inside_model(env: Env) -> list[str]:
    model = env.model_copy()
    return env.predict(_notes(env), out="model/predictions.jsonl", model=model)


def _out_is_folder(env: Env) -> list[str]:
    env.path("outdir").mkdir()
    return env.predict(_notes(env), out="outdir")


def _out_is_a_note(env: Env) -> list[str]:
    env.write("notes/a.txt", note_text(0))
    env.write("notes/b.txt", note_text(1))
    return env.predict(str(env.path("notes")), out="notes/a.txt")


def _broken_gold_keeps_output(env: Env) -> list[str]:
    corpus = env.codiesp()
    env.write("corpus/dev/devP.tsv", b"dev0\tBW03ZZZ\ndev1\t\xff\xfe\n")
    _keep(env)
    return env.predict(str(corpus / "dev"))


def _train_corpus(env: Env) -> str:
    return env.jsonl("train.jsonl", [{**row, "codes": ["R50.9"]} for row in env.good(4)])


def _train_onto_file(env: Env) -> list[str]:
    env.write("model.txt", "not a folder\n")
    return ["train", "-c", _train_corpus(env), "-o", str(env.path("model.txt")), "--set", "folds=2"]


def _train_onto_folder_with_meta(env: Env) -> list[str]:
    env.write("mine/meta.json", "{}\n")
    env.write("mine/notes.txt", "my own notes\n")
    return ["train", "-c", _train_corpus(env), "-o", str(env.path("mine")), "--set", "folds=2"]


def _train_onto_model_with_extra_file(env: Env) -> list[str]:
    env.model_copy("mine")
    env.write("mine/thesis.docx", "months of work\n")
    return ["train", "-c", _train_corpus(env), "-o", str(env.path("mine")), "--set", "folds=2"]


def _train_json_is_corpus(env: Env) -> list[str]:
    corpus = _train_corpus(env)
    return ["train", "-c", corpus, "-o", str(env.path("m")), "--json", corpus, "--set", "folds=2"]


LOSS_CASES = [
    Case("output is the input", LOSS, _out_is_input, 4, "is an input"),
    Case("input is the output's errors file", LOSS, _errors_file_is_input, 4, "run.errors.jsonl"),
    Case("missing input keeps the earlier output", LOSS, _missing_input, 4, "typo.jsonl"),
    Case("CSV without a header keeps the earlier output", LOSS, _csv_without_header, 4, "bad.csv"),
    Case("bad model keeps the earlier output", LOSS, _bad_model, 5, "nowhere"),
    Case("bad model with -w 2 keeps the earlier output", LOSS, lambda e: _bad_model(e, "-w", "2"), 5, "nowhere"),
    Case("bad --format keeps the earlier output", LOSS, _bad_format, 2, "--format"),
    Case("codiesp output onto the corpus's gold", LOSS, _codiesp_gold, 4, "devD.tsv"),
    Case("codiesp output onto another split's gold", LOSS, _codiesp_other_split_gold, 4, "trainD.tsv"),
    Case("output inside the model folder", LOSS, _out_inside_model, 4, "--output"),
    Case("output is a folder", LOSS, _out_is_folder, 4, "is a folder"),
    Case("output is a note of the input folder", LOSS, _out_is_a_note, 4, "a.txt"),
    Case("broken gold file keeps the earlier output", LOSS, _broken_gold_keeps_output, 4, "devP.tsv"),
    Case("train -o onto a file", LOSS, _train_onto_file, 4, "model.txt"),
    Case("train -o onto a folder holding a meta.json", LOSS, _train_onto_folder_with_meta, 4, "not a medcode model"),
    Case("train -o onto a model with a file of the user's", LOSS, _train_onto_model_with_extra_file, 4, "thesis.docx"),
    Case("train --json onto the corpus", LOSS, _train_json_is_corpus, 4, "--json"),
]


# ------------------------------------------------------------------------------------------------ resume
def _first_run(env: Env, *extra: str, source: str | None = None, model: Path | None = None) -> str:
    source = source or _notes(env)
    outcome = env.run(env.predict(source, *extra, model=model))
    assert outcome.code in (0, 3), outcome.stderr
    return source


def _resume_other_top_k(env: Env) -> list[str]:
    src = _first_run(env, "-k", "5")
    return env.predict(src, "-k", "6", "--resume")


def _resume_other_model(env: Env) -> list[str]:
    src = _first_run(env)
    other = env.model_copy("other")
    (other / "MODEL_CARD.md").write_text("# another model\n")
    rehash(other)
    return env.predict(src, "--resume", model=other)


def _resume_other_input(env: Env) -> list[str]:
    _first_run(env)
    other = env.jsonl("other.jsonl", env.good(4, prefix="other"))
    return env.predict(other, "--resume")


def _resume_other_format(env: Env) -> list[str]:
    src = _first_run(env)
    return env.predict(src, "--resume", "--format", "codiesp")


def _resume_other_max_chars(env: Env) -> list[str]:
    src = _first_run(env)
    return env.predict(src, "--resume", "--max-chars", "5000")


def _resume_without_record(env: Env) -> list[str]:
    _keep(env)
    return env.predict(_notes(env), "--resume")


def _resume_stdin(env: Env) -> list[str]:
    return env.predict("-", "--resume")


def _resume_finished_run(env: Env) -> list[str]:
    src = env.jsonl("in.jsonl", [*env.good(3), {"id": "blank", "text": " "}, env.good(1)[0]])
    _first_run(env, source=src)
    return env.predict(src, "--resume")


RESUME_CASES = [
    Case("--resume with another --top-k", RESUME, _resume_other_top_k, 4, "--top-k 5 (now 6)"),
    Case("--resume with another model", RESUME, _resume_other_model, 4, "the model"),
    Case("--resume with another input", RESUME, _resume_other_input, 4, "the input"),
    Case("--resume with another --format", RESUME, _resume_other_format, 4, "--format"),
    Case("--resume with another --max-chars", RESUME, _resume_other_max_chars, 4, "--max-chars"),
    Case("--resume onto a file no run wrote", RESUME, _resume_without_record, 4, "run record"),
    Case("--resume of standard input", RESUME, _resume_stdin, 2, "--resume", stdin="{}\n"),
    Case("--resume of a finished run still reports its skipped notes", RESUME, _resume_finished_run, 3, "blank",
         scored=("ok0", "ok1", "ok2"), replaces=("out.run.json",)),  # the record's finishing time is renewed
]


# ----------------------------------------------------------------------------------------- PHI and ids
def _csv_unbalanced_quote(env: Env) -> list[str]:
    data = (f'id,text\nn1,"He reports "chest {MARKER} pain", then\nlater {MARKER} fever"\nn2,{note_text(0)!r}\n'
            f'n3,"unclosed {MARKER} quote\nn4,Pneumonia {MARKER}.\nn5,Chest pain {MARKER}.\n')
    return env.predict(env.write("q.csv", data.replace("'", '"')))


def _csv_more_fields(env: Env) -> list[str]:
    data = f'id,text,codes\nx1,Fever {MARKER},R50.9,extra\nx2,"{note_text(1)}",BW03ZZZ\n'
    return env.predict(env.write("more.csv", data))


def _csv_unquoted_lines(env: Env) -> list[str]:
    data = f'id,text\nu1,Patient seen today\nwith {MARKER} fever and cough\nu2,"{note_text(2)}"\n'
    return env.predict(env.write("lines.csv", data))


def _dask_surrogate(env: Env) -> list[str]:
    src = env.jsonl("in.jsonl", [{"id": "sur", "text": f"Fever {MARKER}"}, *env.good(2)])
    env.write("in.jsonl", env.path("in.jsonl").read_text().replace(f"Fever {MARKER}", f"Fever {MARKER} \\ud800"))
    return env.predict(src, "--engine", "dask", "-w", "2")


def _no_forged_lines(env: Env, outcome: Outcome) -> list[str]:
    text = outcome.stderr + outcome.logs
    return ["a forged log line"] if "\x1b" in text or any(line.startswith("FORGED") for line in text.splitlines()) \
        else []


def _id_with_newline(env: Env) -> list[str]:
    return env.predict(env.jsonl("in.jsonl", [{"id": "a\nFORGED: \x1b[31mrow", "text": note_text(0)}, *env.good(2)]))


def _tsv_rows(env: Env, outcome: Outcome) -> list[str]:
    rows = [line.split("\t") for name in ("outD.tsv", "outP.tsv") if env.path(name).exists()
            for line in env.path(name).read_text().splitlines()]
    return ["a forged TSV row"] if any(len(r) != 2 or r[0] not in ("ok0", "ok1") for r in rows) else []


def _id_with_tab(env: Env) -> list[str]:
    rows = [{"id": "x\tJ18.9\nforged", "text": note_text(2)}, *env.good(2)]
    return env.predict(env.jsonl("in.jsonl", rows), "--format", "codiesp")


def _txt_name_with_newline(env: Env) -> list[str]:
    env.write("notes/ok0.txt", note_text(0))
    env.write("notes/bad\nFORGED.txt", note_text(1))
    return env.predict(str(env.path("notes")))


def _jsonl_id(env: Env, value) -> list[str]:
    return env.predict(env.jsonl("in.jsonl", [{"id": value, "text": note_text(0)}, *env.good(2)]))


def _unknown_system(env: Env) -> list[str]:
    rows = [{"id": "sys", "text": note_text(0), "codes": {f"{MARKER}-system": ["R50.9"]}}, *env.good(2)]
    return env.predict(env.jsonl("in.jsonl", rows))


def _bad_code_value(env: Env) -> list[str]:
    rows = [{"id": "code", "text": note_text(0), "codes": [f"{MARKER} text in a code field"]}, *env.good(2)]
    return env.predict(env.jsonl("in.jsonl", rows))


PHI_CASES = [
    Case("CSV with unbalanced quotes", PHI, _csv_unbalanced_quote, 3, "q.csv:line 3", scored=("n2", "n4", "n5")),
    Case("CSV row with more fields than the header", PHI, _csv_more_fields, 3, "more.csv:line 2", scored=("x2",)),
    Case("CSV note on several unquoted lines", PHI, _csv_unquoted_lines, 3, "lines.csv:line 3", scored=("u2",)),
    Case("dask: a lone surrogate in a note", PHI, _dask_surrogate, 3, "sur", scored=("ok0", "ok1"), subprocess=True),
    Case("id with a newline and an ANSI escape", PHI, _id_with_newline, 3, "not printable", scored=("ok0", "ok1"),
         extra=_no_forged_lines),
    Case("id with a tab and a newline, CodiEsp TSV", PHI, _id_with_tab, 3, "not printable", scored=("ok0", "ok1"),
         extra=_tsv_rows),
    Case(".txt file name with a newline", PHI, _txt_name_with_newline, 3, "bad\\\\nFORGED.txt", scored=("ok0",),
         extra=_no_forged_lines),
    Case("id of 500 characters", PHI, lambda e: _jsonl_id(e, "i" * 500), 3, "500 characters", scored=("ok0", "ok1")),
    Case("id with a right-to-left override", PHI, lambda e: _jsonl_id(e, "a\u202eb"), 3, "not printable",
         scored=("ok0", "ok1")),
    Case("unknown code system named by note text", PHI, _unknown_system, 3, "unknown code system",
         scored=("ok0", "ok1")),
    Case("note text in a code field", PHI, _bad_code_value, 3, "bad codes", scored=("ok0", "ok1")),
]


# ------------------------------------------------------------------------------------------ model trust
def _suggest(env: Env, model: Path, *extra: str) -> list[str]:
    return ["suggest", "-", "-m", str(model), *extra]


def _edit_meta(env: Env, change, again: bool = False) -> list[str]:
    model = env.model_copy()
    meta = json.loads((model / "meta.json").read_text())
    change(meta)
    (model / "meta.json").write_text(json.dumps(meta, indent=2))
    if again:  # an attacker's edit, with the manifest rewritten to match: the content checks must catch it
        rehash(model)
    return _suggest(env, model)


def _set(path: str, value):
    def change(meta: dict) -> None:
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return change


def _raw_meta(env: Env, data: bytes) -> list[str]:
    model = env.model_copy()
    (model / "meta.json").write_bytes(data)
    return _suggest(env, model)


def _edit_file(env: Env, name: str, data: bytes, again: bool = False) -> list[str]:
    model = env.model_copy()
    (model / name).write_bytes(data)
    if again:
        rehash(model)
    return _suggest(env, model)


def _rewritten(env: Env, *extra: str) -> list[str]:
    original = model_id(env.model)
    model = env.model_copy()
    meta = json.loads((model / "meta.json").read_text())
    meta.setdefault("release_mapping", {})["mapped"] = {"R50.9": "Z99.89"}
    (model / "meta.json").write_text(json.dumps(meta))
    rehash(model)
    return _suggest(env, model, *[x.replace("ORIGINAL", original) for x in extra])


def _rewritten_env(env: Env) -> list[str]:
    env.vars["MEDCODE_EXPECT_MODEL"] = model_id(env.model)
    return _rewritten(env)


def _gzip_bomb(env: Env, name: str) -> list[str]:
    import gzip

    model = env.model_copy()
    with gzip.open(model / name, "wb", compresslevel=9) as bomb:
        block = b"\0" * (1 << 24)
        for _ in range(20):  # 320 MB out of 320 KB
            bomb.write(block)
    rehash(model)
    return _suggest(env, model)


def _sparse(env: Env, name: str, size: int) -> list[str]:
    model = env.model_copy()
    with (model / name).open("r+b") as handle:
        handle.truncate(size)
    return _suggest(env, model)


def _forged_npz(env: Env, header: dict) -> list[str]:
    import io
    import zipfile

    import numpy as np

    model = env.model_copy()
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    with zipfile.ZipFile(model / "model.npz", "a") as archive:
        archive.writestr("forged.npy", buffer.getvalue() + b"\0" * 64)
    rehash(model)
    return _suggest(env, model)


def _special_in_model(env: Env, kind: str) -> list[str]:
    model = env.model_copy()
    if kind == "link":
        os.symlink("/dev/zero", model / "nlp" / "zero.bin")
    else:
        os.mkfifo(model / "nlp" / "pipe.json")
    return _suggest(env, model)


def _models_list(env: Env, broken: bytes) -> list[str]:
    env.model_copy("models/good")
    env.write("models/broken/meta.json", broken)
    return ["models", "list", str(env.path("models")), "--json"]


def _lists_ids(env: Env, outcome: Outcome) -> list[str]:
    return [] if model_id(env.model) in outcome.stdout else ["models list does not print the model id"]


def _trust(name: str, build, code: int = 5, names: str = "meta.json", **kw) -> Case:
    return Case(name, TRUST, build, code, names, stdin=note_text(0), **kw)


TRUST_CASES = [
    _trust("meta.json: release mapping edited", lambda e: _edit_meta(e, _set("release_mapping.mapped", {"R50.9": "Z99.89"}))),
    _trust("meta.json: training fingerprints edited", lambda e: _edit_meta(e, _set("training.note_fingerprints", []))),
    _trust("nlp/meta.json edited", lambda e: _edit_file(e, "nlp/meta.json", b'{"lang": "en"}'), names="nlp/meta.json"),
    _trust("MODEL_CARD.md edited", lambda e: _edit_file(e, "MODEL_CARD.md", b"# trust me\n"), names="MODEL_CARD.md"),
    _trust("files and manifest rewritten, --expect-model", lambda e: _rewritten(e, "--expect-model", "ORIGINAL"),
           names="expected"),
    _trust("files and manifest rewritten, $MEDCODE_EXPECT_MODEL", _rewritten_env, names="expected"),
    _trust("--expect-model that is not a SHA-256", lambda e: _suggest(e, e.model, "--expect-model", "latest"), 2,
           "--expect-model"),
    _trust("gzip bomb in the lexicon", lambda e: _gzip_bomb(e, "nlp/medcode_mentions/lexicon.json.gz"),
           names="lexicon.json.gz"),
    _trust("gzip bomb in the code table", lambda e: _gzip_bomb(e, "codes.tsv.gz"), names="codes.tsv.gz"),
    _trust("meta.json of 400 MB", lambda e: _sparse(e, "meta.json", 400 << 20)),
    _trust("model.json of 300 MB", lambda e: _sparse(e, "model.json", 300 << 20), names="model.json"),
    _trust("arrays file with a forged shape", lambda e: _forged_npz(e, {"descr": "<f8", "fortran_order": False,
                                                                        "shape": (10 ** 6, 10 ** 6)}), names="model.npz"),
    _trust("arrays file with Python objects", lambda e: _forged_npz(e, {"descr": "|O", "fortran_order": False,
                                                                        "shape": (2,)}), names="model.npz"),
    _trust("symbolic link to /dev/zero in a model", lambda e: _special_in_model(e, "link"), names="zero.bin"),
    _trust("FIFO in a model", lambda e: _special_in_model(e, "fifo"), names="pipe.json"),
    _trust("meta.json not JSON", lambda e: _raw_meta(e, b"{not json")),
    _trust("meta.json a list", lambda e: _raw_meta(e, b"[]")),
    _trust("meta.json empty", lambda e: _raw_meta(e, b"")),
    _trust("meta.json not UTF-8", lambda e: _raw_meta(e, b'{"name": "\xff"}')),
    _trust("meta.json nested 100,000 deep", lambda e: _raw_meta(e, b"[" * 100_000 + b"]" * 100_000)),
    _trust("meta.json: model format a string", lambda e: _edit_meta(e, lambda m: m.update(model_format=str(m["model_format"]))),
           names="model format"),
    _trust("meta.json: manifest a list", lambda e: _edit_meta(e, lambda m: m.update(manifest=sorted(m["manifest"])))),
    _trust("meta.json: manifest missing", lambda e: _edit_meta(e, lambda m: m.pop("manifest"))),
    _trust("meta.json: manifest entry outside the folder", lambda e: _edit_meta(e, lambda m: m["manifest"].update({"../../etc/passwd": "0" * 64}))),
    _trust("meta.json: manifest hash not hex", lambda e: _edit_meta(e, lambda m: m["manifest"].update({"model.json": 5}))),
    _trust("meta.json: config a list (rehashed)", lambda e: _edit_meta(e, _set("config", [1]), again=True)),
    _trust("meta.json: config with a bad value (rehashed)", lambda e: _edit_meta(e, _set("config.folds", "many"), again=True)),
    _trust("meta.json: releases a string (rehashed)", lambda e: _edit_meta(e, _set("releases", "FY2026"), again=True)),
    _trust("meta.json: libraries a list (rehashed)", lambda e: _edit_meta(e, _set("libraries", ["spacy"]), again=True)),
    _trust("meta.json: fingerprints a string (rehashed)", lambda e: _edit_meta(e, _set("training.note_fingerprints", "abc"), again=True)),
    _trust("meta.json: mapped codes a list (rehashed)", lambda e: _edit_meta(e, _set("release_mapping.mapped", ["Z99.89"]), again=True)),
    _trust("meta.json: training a string (rehashed)", lambda e: _edit_meta(e, _set("training", "notes"), again=True)),
    _trust("model.json not JSON (rehashed)", lambda e: _edit_file(e, "model.json", b"{", again=True), names="model.json"),
    _trust("model.json without its tables (rehashed)", lambda e: _edit_file(e, "model.json", b"{}", again=True), names="model"),
    _trust("meta.json is a folder", lambda e: (e.model_copy(), os.remove(e.path("model/meta.json")),
                                              os.mkdir(e.path("model/meta.json")), _suggest(e, e.path("model")))[-1]),
    Case("models list with a broken meta.json", TRUST, lambda e: _models_list(e, b"[" * 50_000), 0, extra=_lists_ids),
    Case("models list with a 400 MB meta.json", TRUST, lambda e: (_models_list(e, b"{}"), os.truncate(
        e.path("models/broken/meta.json"), 400 << 20), ["models", "list", str(e.path("models"))])[-1], 0),
]


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


# ------------------------------------------------------------------------------------------------ dask
def _scheduler(env: Env, spec: str) -> list[str]:
    return env.predict(_notes(env), "--engine", "dask", "--scheduler", spec)


DASK_CASES = [
    Case("--scheduler garbage", DASK, lambda e: _scheduler(e, "no such cluster"), 4, "--scheduler"),
    Case("--scheduler tcp:// (no TLS)", DASK, lambda e: _scheduler(e, "tcp://127.0.0.1:9"), 2, "--scheduler"),
    Case("--scheduler security file without certificates", DASK, lambda e: _scheduler(
        e, e.write("cluster.yaml", "address: tls://127.0.0.1:9\n")), 4, "--scheduler"),
    Case("--scheduler security file that is not YAML", DASK, lambda e: _scheduler(
        e, e.write("cluster.yaml", "address: [tls://\n")), 4, "--scheduler"),
    Case("--scheduler without --engine dask", DASK, lambda e: e.predict(_notes(e), "--scheduler", "tls://x:1"), 2,
         "--scheduler"),
]

CASES = LOSS_CASES + RESUME_CASES + PHI_CASES + TRUST_CASES + CRASH_CASES + AUDIT_CASES + DASK_CASES
