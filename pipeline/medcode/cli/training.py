"""``medcode train``, ``medcode baseline`` and ``medcode models list``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from medcode.about import SYSTEMS
from medcode.cli.app import (
    CorpusOpt,
    DateOpt,
    JsonFlag,
    ReleaseOpt,
    command,
    console,
    err_console,
    models_app,
    print_json,
    progress_bar,
    release_env,
    status,
    write_json,
)
from medcode.cli.render import records_table


@command()
def train(
    corpus: Path = CorpusOpt,
    output: Path = typer.Option(..., "--output", "-o", help="Model folder to write."),
    split: str | None = typer.Option("train", "--split", "-s", help="CodiEsp split(s), e.g. train or train+dev."),
    config: Path | None = typer.Option(None, "--config", help="TOML file of hyper-parameters ([train] table)."),
    overrides: list[str] | None = typer.Option(None, "--set", help="Override one setting: key=value."),
    eval_split: str | None = typer.Option(None, "--eval-split", help="Held-out split to evaluate on."),
    feedback: Path | None = typer.Option(None, "--feedback", help="Coder decisions (JSONL) to fold in."),
    json_file: Path | None = typer.Option(None, "--json", help="Also write the training summary as JSON here."),
    also: list[Path] | None = typer.Option(None, "--also", help="More coded notes to train on (JSONL/CSV/folder); repeatable."),
    release: str | None = ReleaseOpt,
) -> None:
    """Train a model and save it to a folder (with its model card); ends with a summary table.

    The model records the code-set release it was trained with (meta.json, MODEL_CARD.md).
    """
    from medcode.config import read_config
    from medcode.training import train_corpus

    release_env(release, None)

    cfg = read_config(config, overrides or [])
    if json_file:  # checked before training, like --output (in train_corpus)
        from medcode.batch.files import check_output

        check_output(json_file, "--json", inputs=[p for p in (corpus, config, feedback) if p])
    with progress_bar("training", None, unit="") as advance:
        result = train_corpus(corpus, output, split, cfg, eval_split, feedback=feedback, also=also or [],
                              progress=lambda stage, done, total: advance(done, stage, total))
    table = Table(title=f"trained {result['model']}", title_justify="left", show_header=False)
    table.add_column("", no_wrap=True)
    table.add_column("", overflow="fold")
    table.add_row("notes", f"{result['notes']} ({result['skipped']} skipped)")
    table.add_row("time", f"{result['seconds']} s")
    if result.get("feedback"):
        table.add_row("feedback", ", ".join(f"{k} {v}" for k, v in result["feedback"].items()))
    for system in SYSTEMS:
        m = result.get("metrics", {}).get(system)
        if m:
            table.add_row(f"{system} on {eval_split}", f"MAP {m['MAP']:.4f}, P@5 {m['P@5']:.4f}, R@30 {m['R@30']:.4f}")
    console.print(table)
    write_json(result, json_file, flag="--json")


@command()
def baseline(
    corpus: Path = CorpusOpt,
    train_split: str = typer.Option("train", "--train-split", help="Split to train the baseline on."),
    split: str = typer.Option("dev", "--split", "-s", help="Split to rank codes for."),
    output: Path = typer.Option(..., "--output", "-o", help="Predictions as CodiEsp-style TSV (id, code)."),
    top_k: int = typer.Option(100, "--top-k", "-k", min=1, help="Codes per note and system."),
) -> None:
    """Rank codes with the TF-IDF + logistic-regression baseline (a reference for `medcode compare`)."""
    from medcode.batch.files import atomic_writer
    from medcode.cli.app import check_outputs
    from medcode.corpus import load_notes
    from medcode.evaluation.baseline import baseline_rankings

    check_outputs({"--output": output}, [corpus])
    with status("reading notes"):
        train_notes, _ = load_notes(corpus, train_split)
        notes, _ = load_notes(corpus, split)
    with progress_bar("baseline", len(SYSTEMS), unit="") as advance:
        ranked = baseline_rankings(train_notes, notes, depth=top_k,
                                   progress=lambda done, system: advance(done, f"baseline: {system}"))
    with atomic_writer(output) as handle:
        for note in notes:
            for system in SYSTEMS:
                for code in ranked[system][note.id]:
                    handle.write(f"{note.id}\t{code}\n")
    err_console.print(f"wrote {output} ({len(notes)} notes, trained on {train_split})")


@command(models_app, "list")
def models_list(folder: Path = typer.Argument(Path("models"), help="Folder holding model folders."),
                as_json: bool = JsonFlag) -> None:
    """The models in a folder with their training data and held-out MAP."""
    from medcode.api import list_models

    rows = list_models(folder)
    if as_json:
        print_json(rows)
        return
    console.print(records_table(rows, f"models in {folder}"))


@command(models_app, "map")
def models_map(model: Path | None = typer.Option(None, "--model", "-m", help="Model folder (default: the default model)."),
               release: str | None = ReleaseOpt, date_of_service: str | None = DateOpt,
               output: Path | None = typer.Option(None, "--output", "-o", help="Write the whole mapping as JSON here."),
               as_json: bool = JsonFlag) -> None:
    """How a model's codes map to a code-set release: exact, expanded, replaced (conversion table) or deleted."""
    from medcode.cli.app import load_model
    from medcode.codesets.mapping import mapping_summary

    if output:
        from medcode.batch.files import check_output

        check_output(output, "--output", folders=[model] if model else [])
    coder = load_model(model, None, release, date_of_service)
    hook = coder.suggester.release_hook
    summary = (mapping_summary(hook.mapped, {"from": hook.model_release, "to": hook.release}) if hook is not None
               else {"from": coder.release, "to": coder.release, "counts": {}, "changed": {}})
    write_json(summary, output)
    if as_json:
        print_json(summary)
        return
    if hook is None:
        console.print(f"the model was trained with {', '.join(coder.release.values())}: every code as it is")
        return
    for system, counts in summary["counts"].items():
        console.print(f"{system}: {summary['from'][system]} -> {summary['to'][system]}: "
                      + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
