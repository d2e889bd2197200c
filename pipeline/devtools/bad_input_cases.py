"""The catalogue of bad inputs (see :mod:`devtools.bad_inputs` for what every case must show).

Grouped as issue #12 lists them (model trust in :mod:`devtools.bad_model_cases`, crashing rows and the
audit's readers in :mod:`devtools.bad_row_cases`): writes that could destroy a file, ``--resume`` of another run, note
text where it must not be, model trust, inputs that crashed a batch or a run, and the audit's readers.
"""

from __future__ import annotations

import json
from pathlib import Path

from devtools.bad_inputs import DASK, LOSS, MARKER, PHI, RESUME, Case, Env, Outcome, note_text, rehash
from devtools.bad_model_cases import TRUST_CASES
from devtools.bad_row_cases import AUDIT_CASES, CRASH_CASES


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
