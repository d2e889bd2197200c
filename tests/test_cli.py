import json

from typer.testing import CliRunner

from medcode.cli import app
from medcode.errors import EXIT_SKIPPED

runner = CliRunner()


def test_suggest_json_from_stdin(tiny_model_dir):
    result = runner.invoke(app, ["suggest", "-", "-m", str(tiny_model_dir), "--json", "-k", "3"],
                           input="Fever and a kidney stone.")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"N20.0", "R50.9"} <= {s["code"] for s in data["suggestions"]}
    assert data["release"]["ICD-10-CM"].startswith("ICD-10-CM FY2026")


def test_suggest_table_and_bad_input(tiny_model_dir, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("Chest pain and fever.")
    result = runner.invoke(app, ["suggest", str(note), "-m", str(tiny_model_dir)])
    assert result.exit_code == 0 and "R07.9" in result.stdout and "description" in result.stdout
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9")
    result = runner.invoke(app, ["suggest", str(bad), "-m", str(tiny_model_dir)])
    assert result.exit_code == 4 and "bad: file is not UTF-8" in result.stderr
    empty = runner.invoke(app, ["suggest", "-", "-m", str(tiny_model_dir)], input="  \n")
    assert empty.exit_code == 4 and "stdin: note is empty" in empty.stderr


def test_suggest_table_shows_conflicts_and_codes_set_aside(tiny_model_dir, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("The patient presented a right lower lobe pneumonia.\nThe patient presented fever of 39 C.\n"
                    "No chest pain.")
    result = runner.invoke(app, ["suggest", str(note), "-m", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert "Excludes1: J18.9 and R50.9 are not reported together" in result.stdout
    assert "set aside R07.9" in result.stdout and "negated" in result.stdout


def test_predict_skips_bad_rows_and_scores_the_rest(tiny_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([json.dumps({"id": "a", "text": "Pneumonia."}), "oops",
                              json.dumps({"id": "b", "text": ""}), json.dumps({"id": "c", "text": "Fever."})]))
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["predict", str(src), "-o", str(out), "-m", str(tiny_model_dir), "-f", "codiesp"])
    assert result.exit_code == EXIT_SKIPPED, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "c"]
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == ["in.jsonl:line 2", "b"]
    assert "a\tJ18.9" in (tmp_path / "outD.tsv").read_text()


def test_train_and_evaluate_on_a_jsonl_corpus(tmp_path):
    from tests.conftest import synthetic_notes

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": n.id, "text": n.text, "codes": n.codes})
                                for n in synthetic_notes(30)) + "\n")
    config = tmp_path / "config.toml"
    config.write_text("[train]\nfolds = 2\nranker_iter = 20\n")
    # the full code sets are loaded here: this is the one slow unit test
    result = runner.invoke(app, ["train", "-c", str(corpus), "-o", str(tmp_path / "m"), "--config", str(config),
                                 "--set", "ridge_candidates=5"])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["config"]["folds"] == 2 and meta["config"]["ridge_candidates"] == 5
    held_out = tmp_path / "held_out.jsonl"
    held_out.write_text("\n".join(json.dumps({"id": n.id, "text": n.text, "codes": n.codes})
                                  for n in synthetic_notes(20, seed=5)) + "\n")
    metrics = tmp_path / "metrics.json"
    result = runner.invoke(app, ["evaluate", "-m", str(tmp_path / "m"), "-c", str(held_out), "-o", str(metrics)])
    assert result.exit_code == 0, result.output
    data = json.loads(metrics.read_text())
    assert data["ICD-10-CM"]["MAP"] > 0.5 and data["ICD-10-CM"]["notes"] == 20


def test_evaluate_refuses_training_notes(tiny_model_dir, tmp_path):
    from tests.conftest import synthetic_notes

    corpus = tmp_path / "train.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": n.id, "text": n.text, "codes": n.codes})
                                for n in synthetic_notes(60)[:5]) + "\n")
    result = runner.invoke(app, ["evaluate", "-m", str(tiny_model_dir), "-c", str(corpus)])
    assert result.exit_code == 6 and "were in this model's training data" in result.stderr
    result = runner.invoke(app, ["evaluate", "-m", str(tiny_model_dir), "-c", str(corpus), "--allow-train-overlap"])
    assert result.exit_code == 0 and "5 notes were in the training data" in result.stderr


def test_audit_of_a_tsv_matches_the_jsonl_and_writes_a_report(tiny_model_dir, tmp_path):
    from tests.conftest import synthetic_notes

    notes = synthetic_notes(15, seed=21)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": n.id, "text": n.text, "codes": n.codes}) + "\n" for n in notes))
    out = tmp_path / "pred.jsonl"
    assert runner.invoke(app, ["predict", str(src), "-o", str(out), "-m", str(tiny_model_dir), "-f", "codiesp"]).exit_code == 0
    maps = {}
    for name in ("pred.jsonl", "predD.tsv"):
        metrics = tmp_path / f"{name}.json"
        report = tmp_path / f"{name}.html"
        result = runner.invoke(app, ["evaluate", "-p", str(tmp_path / name), "-g", str(src), "-o", str(metrics),
                                     "--report", str(report), "--csv", str(tmp_path / "codes.csv")])
        assert result.exit_code == 0, result.output
        maps[name] = json.loads(metrics.read_text())["ICD-10-CM"]["MAP"]
        page = report.read_text()
        assert "<svg" in page and "Metric definitions" in page and "src=" not in page
    assert maps["pred.jsonl"] == maps["predD.tsv"] > 0.5
    own = runner.invoke(app, ["evaluate", "-m", str(tiny_model_dir), "-c", str(src), "-o", str(tmp_path / "own.json")])
    assert json.loads((tmp_path / "own.json").read_text())["ICD-10-CM"]["MAP"] == maps["pred.jsonl"], own.output


def test_compare_two_prediction_files(tmp_path):
    gold = tmp_path / "gold.tsv"
    gold.write_text("".join(f"n{i}\tR52\nn{i}\tI10\n" for i in range(30)))
    good = tmp_path / "good.tsv"
    good.write_text("".join(f"n{i}\tR52\nn{i}\tI10\n" for i in range(30)))
    bad = tmp_path / "bad.tsv"
    bad.write_text("".join(f"n{i}\tJ18.9\nn{i}\tR52\n" for i in range(30)))
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"n{i}", "text": "x", "codes": ["R52", "I10"]}) + "\n" for i in range(30)))
    out = tmp_path / "cmp.json"
    result = runner.invoke(app, ["compare", str(good), str(bad), "-c", str(corpus), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())["ICD-10-CM"]
    assert data["MAP_A"] == 1.0 and data["MAP_B"] == 0.25 and data["p_value"] < 0.05
    assert "A better by 0.750 MAP" in result.stdout


def test_baseline_predictions_can_be_audited(tmp_path):
    from tests.conftest import synthetic_notes

    corpus = tmp_path / "c.jsonl"
    rows = [{"id": n.id, "text": n.text, "codes": n.codes} for n in synthetic_notes(40, seed=31)]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # no splits in a JSONL: train and rank on the same notes, which is enough to test the plumbing
    out = tmp_path / "baseline.tsv"
    result = runner.invoke(app, ["baseline", "-c", str(corpus), "--train-split", "all", "-s", "all", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().count("\n") > 40
    audit = runner.invoke(app, ["evaluate", "-p", str(out), "-g", str(corpus), "-o", str(tmp_path / "m.json")])
    assert audit.exit_code == 0, audit.output
    assert json.loads((tmp_path / "m.json").read_text())["ICD-10-CM"]["MAP"] > 0.3


def test_version_and_help_follow_the_conventions():
    from medcode.about import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"medcode {__version__}"
    for command in (["suggest"], ["predict"], ["train"], ["evaluate"], ["codes", "validate"]):
        page = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert page.exit_code == 0 and "<bool>" not in page.stdout, page.stdout
        assert max(len(line) for line in page.stdout.splitlines()) <= 80


def test_short_flags_mean_one_thing_in_every_command():
    """Each short flag stands for one long option across all commands."""
    import typer.main

    meaning: dict[str, set[str]] = {}

    def walk(command):
        for param in getattr(command, "params", []):
            shorts = [o for o in param.opts + param.secondary_opts if not o.startswith("--")]
            longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            for short in shorts:
                meaning.setdefault(short, set()).update(longs)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    clashes = {short: longs for short, longs in meaning.items() if len(longs) > 1}
    assert not clashes and "-r" in meaning and meaning["-r"] == {"--resume"}


def test_errors_are_one_line_naming_the_file_or_flag(tiny_model_dir, tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "Fever.", "codes": ["R50.9"]}) + "\n")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[train\nfolds = 2\n")
    cases = [
        (["train", "-c", str(corpus), "-o", str(tmp_path / "m"), "--config", str(tmp_path / "nosuch.toml")],
         4, "nosuch.toml: no such config file"),
        (["train", "-c", str(corpus), "-o", str(tmp_path / "m"), "--config", str(bad_toml)], 4, "bad.toml: not valid TOML"),
        (["train", "-c", str(corpus), "-o", str(tmp_path / "m"), "--set", "nope=1"], 4, "unknown config keys: nope"),
        (["train", "-c", str(corpus), "-o", str(tmp_path / "m"), "--set", "folds=two"], 4, "folds = 'two' is not a int"),
        (["train", "-c", str(corpus), "-o", str(tmp_path / "m"), "--feedback", str(tmp_path / "nosuch.jsonl")],
         4, "--feedback"),
        (["compare", str(tmp_path / "nomodel"), str(tiny_model_dir), "-c", str(corpus)], 2, "A "),
        (["suggest", str(tmp_path / "missing.txt"), "-m", str(tiny_model_dir)], 4, "missing.txt"),
        (["suggest", "-", "-m", str(tmp_path / "nomodel")], 5, "not a medcode model folder"),
        (["evaluate", "-p", str(tmp_path / "x.jsonl")], 2, "--predictions needs --gold"),
        (["predict", str(corpus), "-o", str(tmp_path / "o.jsonl"), "-f", "xml", "-m", str(tiny_model_dir)], 2, "--format"),
    ]
    for args, code, words in cases:
        result = runner.invoke(app, args, input="Fever.")
        assert result.exit_code == code, (args, result.output)
        assert words in result.stderr and "Traceback" not in result.output, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_suggest_separates_the_code_systems_and_filters_by_score(tiny_model_dir, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("Fever and a chest X-ray.\nNo pneumonia.")
    result = runner.invoke(app, ["suggest", str(note), "-m", str(tiny_model_dir)], terminal_width=80)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("ICD-10-CM (") < out.index("ICD-10-PCS (")
    assert "R50.9" in out[:out.index("ICD-10-PCS (")] and "BW03ZZZ" in out[out.index("ICD-10-PCS ("):]
    assert max(len(line) for line in out.splitlines()) <= 80
    high = runner.invoke(app, ["suggest", str(note), "-m", str(tiny_model_dir), "--min-score", "0.99"],
                         terminal_width=80)
    assert high.exit_code == 0 and out.count("\n") > high.stdout.count("\n")


def test_train_ends_with_a_summary_and_writes_json_on_request(tmp_path):
    from tests.conftest import synthetic_notes

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": n.id, "text": n.text, "codes": n.codes}) + "\n"
                              for n in synthetic_notes(20)))
    summary = tmp_path / "train.json"
    result = runner.invoke(app, ["train", "-c", str(corpus), "-o", str(tmp_path / "m"), "--set", "folds=2",
                                 "--set", "ranker_iter=10", "--json", str(summary)], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "trained" in result.stdout and "{" not in result.stdout and len(result.stdout.splitlines()) < 15
    data = json.loads(summary.read_text())
    assert data["notes"] == 20 and data["config"]["folds"] == 2
