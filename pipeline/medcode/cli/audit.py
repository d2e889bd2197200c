"""``medcode evaluate`` and ``medcode compare``: audits of a model or a predictions file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from medcode.about import DEFAULT_TOP_K, SYSTEMS
from medcode.cli.app import ModelOpt, command, console, err_console, load_model, progress_bar, status, write_json
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
) -> None:
    """Audit accuracy: a model on coded notes, or any predictions file against gold codes.

    MAP, P@k and R@k (k = 1, 5, 10, 30) with bootstrap 95% intervals, F1 at the threshold and at the
    best cut, per-chapter and per-code tables, calibration.
    """
    from medcode.evaluation.run import evaluate_model, evaluate_predictions

    if predictions:
        if not gold:
            raise UsageError("--predictions needs --gold")
        with status("scoring the predictions"):
            result = evaluate_predictions(predictions, gold, split, threshold)
        title = f"{predictions.name} against {gold.name}"
    else:
        if not corpus:
            raise UsageError("give --corpus (to run a model) or --predictions with --gold")
        coder = load_model(model)
        with progress_bar("evaluating", None) as advance:
            result = evaluate_model(coder, corpus, split or "dev", allow_overlap, threshold, top_k, progress=advance)
        title = f"medcode evaluation on {result['corpus']} ({result['notes']} notes)"
        if result["training_overlap"]:
            err_console.print(f"[yellow]warning: {result['training_overlap']} notes were in the training data[/yellow]")
    console.print(audit_table(result, title))
    write_json(result, output)
    if report:
        from medcode.evaluation.report import write_report

        write_report(result, report, title)
        err_console.print(f"wrote {report}")
    if per_code:
        from medcode.evaluation.audit import write_per_code_csv

        write_per_code_csv(result, per_code)
        err_console.print(f"wrote {per_code}")


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
