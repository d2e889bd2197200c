"""``medcode evaluate`` and ``medcode compare``: audits of a model or a predictions file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from medcode.about import DEFAULT_TOP_K, SYSTEMS
from medcode.cli.app import (
    DateOpt,
    ExpectModelOpt,
    ModelOpt,
    ReleaseOpt,
    check_outputs,
    command,
    console,
    err_console,
    load_model,
    progress_bar,
    release_env,
    status,
    write_json,
)
from medcode.cli.render import audit_table
from medcode.errors import UsageError


@command()
def evaluate(
    model: Path | None = ModelOpt,
    corpus: Path | None = typer.Option(None, "--corpus", "-c", help="Coded notes to run the model on."),
    split: str | None = typer.Option(None, "--split", "-s", help="CodiEsp split (default dev with --corpus)."),
    predictions: Path | None = typer.Option(None, "--predictions", "-p", help="Predictions: medcode JSONL or CodiEsp TSV."),
    gold: Path | None = typer.Option(None, "--gold", "-g", help="Gold codes: CodiEsp TSV, JSONL/CSV or CodiEsp folder."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the full metrics JSON here."),
    report: Path | None = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    per_code: Path | None = typer.Option(None, "--csv", help="Write the per-code table as CSV here."),
    threshold: float = typer.Option(0.5, "--threshold", "-t", min=0.0, max=1.0, help="Score at which a suggestion counts as assigned."),
    allow_overlap: bool = typer.Option(False, "--allow-train-overlap", help="Score notes the model was trained on."),
    top_k: int = typer.Option(DEFAULT_TOP_K, "--top-k", "-k", min=1, help="Suggestions per note and system (with --model), as medcode predict."),
    decisions: str | None = typer.Option(None, "--decisions", help="Coder decisions (database URL or SQLite file): acceptance rate, precision by rank; with --corpus, the model against the coders' final lists."),
    expect_model: str | None = ExpectModelOpt,
    release: str | None = ReleaseOpt,
    date_of_service: str | None = DateOpt,
) -> None:
    """Audit accuracy: a model on coded notes, any predictions file against gold codes, or coder decisions.

    MAP, P@k and R@k (k = 1, 5, 10, 30) with bootstrap 95% intervals, F1 at the threshold and at the
    best cut, per-chapter and per-code tables, calibration.
    """
    from medcode.evaluation.run import evaluate_predictions

    check_outputs({"--output": output, "--report": report, "--csv": per_code}, [predictions, gold, corpus], split,
                  [model])
    release_env(release, date_of_service)  # the model is scored as it codes against that release
    if decisions:
        if predictions or gold:
            raise UsageError("--decisions scores a model (or the decisions alone), not --predictions/--gold")
        result, title = _decisions_audit(decisions, model, corpus, split, top_k, threshold, allow_overlap, expect_model)
    elif predictions:
        if not gold:
            raise UsageError("--predictions needs --gold")
        with status("scoring the predictions"):
            result = evaluate_predictions(predictions, gold, split, threshold)
        title = f"{predictions.name} against {gold.name}"
    else:
        if not corpus:
            raise UsageError("give --corpus (to run a model) or --predictions with --gold")
        result, title = _model_audit(model, corpus, split, allow_overlap, threshold, top_k, expect_model)
    if any(s in result for s in SYSTEMS):
        console.print(audit_table(result, title))
    if "decisions" in result:
        console.print(decisions_table(result["decisions"], f"coder decisions in {result['database']}"))
    write_json(result, output)
    if report:
        from medcode.evaluation.report import write_report

        write_report(result, report, title)
        err_console.print(f"wrote {report}")
    if per_code:
        from medcode.evaluation.audit import write_per_code_csv

        write_per_code_csv(result, per_code)
        err_console.print(f"wrote {per_code}")


def _model_audit(model: Path | None, corpus: Path, split: str | None, allow_overlap: bool, threshold: float,
                 top_k: int, expect_model: str | None) -> tuple[dict, str]:
    """A model run on coded notes and scored, with a warning for notes skipped or trained on."""
    from medcode.evaluation.run import evaluate_model

    coder = load_model(model, expect_model)
    with progress_bar("evaluating", None) as advance:
        result = evaluate_model(coder, corpus, split or "dev", allow_overlap, threshold, top_k, progress=advance)
    if result["skipped"]:
        err_console.print(f"[yellow]warning: {result['skipped']} notes could not be scored and are not in "
                          "the figures (run medcode predict on the corpus for the reasons)[/yellow]")
    if result["training_overlap"]:
        err_console.print(f"[yellow]warning: {result['training_overlap']} notes were in the training data[/yellow]")
    return result, f"medcode evaluation on {result['corpus']} ({result['notes']} notes)"


def _decisions_audit(url: str, model: Path | None, corpus: Path | None, split: str | None, top_k: int,
                     threshold: float, allow_overlap: bool, expect_model: str | None = None) -> tuple[dict, str]:
    """Acceptance from the decisions; with ``--corpus``, the model scored against the coders' final lists."""
    from medcode.decisions.store import DecisionStore
    from medcode.evaluation.decisions import evaluate_decisions
    from medcode.evaluation.run import load_eval_notes

    store = DecisionStore(url)
    if not corpus:
        with status("reading the decisions"):
            return evaluate_decisions(store), "coder decisions"
    coder = load_model(model, expect_model)
    # Notes the model was trained on are refused here as in any audit of a model.
    notes, _, _ = load_eval_notes(coder, corpus, split, allow_overlap)
    with status("scoring the notes the coders decided on"):
        result = evaluate_decisions(store, coder, notes, top_k, threshold)
    return result, f"medcode against coder decisions on {corpus.name} ({result['notes']} notes matched)"


def decisions_table(figures: dict, title: str) -> Table:
    """Acceptance of decided suggestions: overall, precision at k, per model and per coder."""
    table = Table(title=title, title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("decided", justify="right", no_wrap=True)
    table.add_column("accepted", justify="right", no_wrap=True)
    table.add_column("rate", justify="right", no_wrap=True)

    def rate(value) -> str:
        return "–" if value is None else f"{value:.3f}"

    table.add_row(f"all ({figures['notes']} notes, {figures['done_notes']} done)", str(figures["decided"]),
                  str(figures["accepted"] + figures["refined"]), rate(figures["acceptance_rate"]))
    for row in figures["precision_at"]:
        table.add_row(f"precision, ranks 1-{row['k']}", str(row["decided"]), "", rate(row["precision"]))
    for row in figures["by_model"]:
        table.add_row(f"model {row['model_id'][:12]}", str(row["decided"]), str(row["accepted"] + row["refined"]),
                      rate(row["acceptance_rate"]))
    for row in figures["by_coder"]:
        table.add_row(f"coder {row['coder']}", str(row["decided"]), str(row["accepted"] + row["refined"]),
                      rate(row["acceptance_rate"]))
    table.add_row("codes added by coders", str(figures["added"]["codes"]), "", "")
    return table


@command()
def compare(
    a: Path = typer.Argument(..., help="Model folder or predictions file A."),
    b: Path = typer.Argument(..., help="Model folder or predictions file B."),
    corpus: Path = typer.Option(..., "--corpus", "-c", help="Coded notes both are scored on."),
    split: str | None = typer.Option("dev", "--split", "-s", help="CodiEsp split."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the comparison JSON here."),
    allow_overlap: bool = typer.Option(False, "--allow-train-overlap", help="Score notes a model was trained on."),
) -> None:
    """Compare two models or prediction files: MAP side by side, difference, 95% interval, p-value."""
    from medcode.evaluation.run import compare as compare_runs

    check_outputs({"--output": output}, [a, b, corpus], split, [a, b])
    for path, name in ((a, "A"), (b, "B")):
        if not path.exists():
            raise UsageError(f"{name} {path}: no such model folder or predictions file")
    with status("scoring both"):
        result = compare_runs(a, b, corpus, split, allow_overlap)
    table = Table(title=f"A = {a}\nB = {b}\non {result['corpus']}", title_justify="left")
    table.add_column("", no_wrap=True)
    systems = [s for s in SYSTEMS if result.get(s)]
    for system in systems:
        table.add_column(system, justify="right", no_wrap=True)
    rows = (("MAP A", lambda r: f"{r['MAP_A']:.4f}"), ("MAP B", lambda r: f"{r['MAP_B']:.4f}"),
            ("A - B", lambda r: f"{r['difference']:+.4f}"),
            ("95% CI", lambda r: f"{r['ci95'][0]:+.3f} to {r['ci95'][1]:+.3f}"),
            ("p-value", lambda r: f"{r['p_value']:.4f}"), ("notes", lambda r: str(r["notes"])))
    for name, value in rows:
        table.add_row(name, *[value(result[s]) for s in systems])
    console.print(table)
    for system in systems:
        r = result[system]
        better = "A" if r["difference"] > 0 else "B"
        verdict = (f"{better} better by {abs(r['difference']):.3f} MAP" if r["p_value"] < 0.05
                   else f"no significant difference ({r['difference']:+.3f} MAP)")
        console.print(f"{system}: {verdict} (95% CI {r['ci95'][0]:+.3f} to {r['ci95'][1]:+.3f}, "
                      f"paired bootstrap p = {r['p_value']:.4f}, {r['notes']} notes)", soft_wrap=True)
    write_json(result, output)
