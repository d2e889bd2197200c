"""The ``medcode`` command: thin typer wrappers over :mod:`pipeline.api`."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from pipeline import api
from pipeline.about import SYSTEMS, __version__
from pipeline.corpus import CorpusError
from pipeline.engines import ENGINES
from pipeline.model import DEFAULT_TOP_K, ModelError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Suggest ICD-10-CM and ICD-10-PCS codes for clinical notes.")
console = Console()
err_console = Console(stderr=True)

#: Exit code when some notes of a batch were skipped (the rest were scored).
EXIT_SKIPPED = 3

ModelOpt = typer.Option(None, "--model", "-m", help="Model folder (default: the default model).")


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _load(model: Optional[Path]):
    try:
        return api.load_model(model)
    except ModelError as exc:
        _fail(str(exc))


def _write_json(data: dict, output: Optional[Path]) -> None:
    if output:
        output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        err_console.print(f"wrote {output}")


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress (never note text)."),
         version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if version:
        console.print(f"medcode {__version__}")
        raise typer.Exit()


@app.command()
def suggest(
    note_file: str = typer.Argument("-", help="Note file, or - for standard input."),
    model: Optional[Path] = ModelOpt,
    top_k: int = typer.Option(10, "--top-k", "-k", min=1, help="Suggestions per code system."),
    as_json: bool = typer.Option(False, "--json", "-j", help="Print JSON instead of a table."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the JSON here."),
) -> None:
    """Suggest codes for one note."""
    name = "stdin" if note_file == "-" else Path(note_file).stem
    try:
        raw = sys.stdin.buffer.read() if note_file == "-" else Path(note_file).read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"{name}: file is not UTF-8 (byte {exc.start})")
    except OSError as exc:
        _fail(f"{note_file}: {exc.strerror}")
    coder = _load(model)
    try:
        result = api.suggest(text, coder, top_k=top_k, note_id=name)
    except ValueError as exc:
        _fail(str(exc))
    _write_json(result, output)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=f"medcode suggestions for {name}", show_lines=False)
    for column in ("rank", "code", "system", "score", "description", "evidence"):
        table.add_column(column, overflow="fold")
    for rank, sug in enumerate(result["suggestions"], start=1):
        evidence = "; ".join(e["text"] + (f" [{', '.join(e['status']).lower()}]" if e.get("status") else "")
                             for e in sug["evidence"][:3]) or f"({sug['source']})"
        table.add_row(str(rank), sug["code"], sug["system"], f"{sug['score']:.2f}", sug["description"], evidence)
    console.print(table)
    _print_coder_notes(result)


def _print_coder_notes(result: dict) -> None:
    """What a coder must act on besides the ranking: queries, warnings, conflicts, codes set aside."""
    for sug in result["suggestions"]:
        if sug.get("query"):
            options = ", ".join(o["code"] for o in sug["query"].get("options", [])[:6])
            console.print(f"[bold]ask[/bold] about {sug['code']}: {sug['query']['question']}"
                          + (f" ({options})" if options else ""))
        if sug.get("warning"):
            console.print(f"[yellow]{sug['code']}[/yellow]: {sug['warning']}")
    for conflict in result.get("conflicts", []):
        a, b = conflict["codes"]
        console.print(f"[red]Excludes1[/red]: {a} and {b} are not reported together ({a} excludes {conflict['note']})")
    for sug in result.get("excluded", [])[:10]:
        console.print(f"[dim]set aside {sug['code']} ({sug['description']}): {sug['demoted']}[/dim]")


@app.command()
def predict(
    input_path: str = typer.Argument(..., help="Folder of .txt notes, .jsonl, .csv, a CodiEsp folder, or - (JSONL on stdin)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output JSONL (one line per note)."),
    model: Optional[Path] = ModelOpt,
    top_k: int = typer.Option(DEFAULT_TOP_K, "--top-k", "-k", min=1, help="Suggestions per note and code system."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl, or codiesp to also write CodiEsp TSVs."),
    split: Optional[str] = typer.Option(None, "--split", "-s", help="CodiEsp split, for a CodiEsp root."),
    max_chars: int = typer.Option(api.DEFAULT_MAX_CHARS, "--max-chars", help="Skip notes longer than this."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Processes scoring in parallel."),
    resume: bool = typer.Option(False, "--resume", "-r", help="Continue an interrupted run into the same OUT."),
    engine: str = typer.Option("local", "--engine", "-e", help="local (this machine) or dask (a Dask cluster)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address; default: a local cluster of --workers processes."),
) -> None:
    """Suggest codes for every note of a file or folder (streaming; bad notes are reported, not fatal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if fmt not in ("jsonl", "codiesp"):
        _fail(f"unknown --format {fmt!r} (use jsonl or codiesp)", 2)
    if engine not in ENGINES:
        _fail(f"unknown --engine {engine!r} (use {' or '.join(ENGINES)})", 2)
    if scheduler and engine != "dask":
        _fail("--scheduler needs --engine dask", 2)
    coder = _load(model) if engine == "local" and workers == 1 else None
    started = time.perf_counter()
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} notes/s"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task("scoring", total=None, rate="-")

        def advance(done: int) -> None:
            bar.update(task, completed=done, rate=f"{done / max(time.perf_counter() - started, 1e-9):.1f}")

        try:
            result = api.predict_file(input_path, output, coder, model, top_k=top_k, fmt=fmt, split=split,
                                      max_chars=max_chars, workers=workers, resume=resume, progress=advance,
                                      engine=engine, scheduler=scheduler)
        except (CorpusError, ModelError, RuntimeError, OSError) as exc:
            _fail(str(exc))
    rate = result["scored"] / max(result["seconds"], 1e-9)
    resumed = f", {result['resumed']} kept from the earlier run" if result["resumed"] else ""
    err_console.print(f"scored {result['scored']} notes -> {result['output']} ({result['seconds']} s, "
                      f"{rate:.1f} notes/s{resumed})")
    if result["skipped"]:
        err_console.print(f"[yellow]skipped {result['skipped']} notes[/yellow]; reasons in {result['errors_file']}")
        raise typer.Exit(EXIT_SKIPPED)


@app.command()
def train(
    corpus: Path = typer.Option(..., "--corpus", "-c", help="Coded notes: CodiEsp folder, .jsonl or .csv."),
    output: Path = typer.Option(..., "--output", "-o", help="Model folder to write."),
    split: Optional[str] = typer.Option("train", "--split", "-s", help="CodiEsp split(s), e.g. train or train+dev."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of hyper-parameters."),
    overrides: Optional[list[str]] = typer.Option(None, "--set", help="Override one setting: key=value."),
    eval_split: Optional[str] = typer.Option(None, "--eval-split", "-e", help="Held-out split to evaluate on."),
    feedback: Optional[Path] = typer.Option(None, "--feedback", help="Coder decisions (JSONL) to fold in."),
) -> None:
    """Train a model and save it to a folder (with its model card)."""
    try:
        cfg = api.read_config(config, overrides or [])
        result = api.train(corpus, output, split, cfg, eval_split,
                           progress=lambda m: err_console.print(f"[dim]{m}[/dim]"), feedback=feedback)
    except (CorpusError, ValueError) as exc:
        _fail(str(exc))
    console.print_json(json.dumps(result))


def _print_audit(result: dict, title: str) -> None:
    table = Table(title=title)
    keys = ["MAP", "MAP 95% CI", "P@1", "P@5", "P@10", "R@10", "R@30", "F1", "notes"]
    table.add_column("system")
    for key in keys:
        table.add_column(key, justify="right")
    for system in SYSTEMS:
        m = result.get(system)
        if not m:
            continue
        ci = m["ci95"]["MAP"]
        values = [f"{m['MAP']:.4f}", f"{ci[0]:.3f}-{ci[1]:.3f}"] + [f"{m[k]:.4f}" for k in keys[2:7]]
        table.add_row(system, *values, f"{m['at_threshold']['f1']:.3f}", str(m["notes"]))
    console.print(table)


@app.command()
def evaluate(
    model: Optional[Path] = ModelOpt,
    corpus: Optional[Path] = typer.Option(None, "--corpus", "-c", help="Coded notes to run the model on."),
    split: Optional[str] = typer.Option(None, "--split", "-s", help="CodiEsp split (default dev with --corpus)."),
    predictions: Optional[Path] = typer.Option(None, "--predictions", "-p", help="Predictions: medcode JSONL or CodiEsp TSV."),
    gold: Optional[Path] = typer.Option(None, "--gold", "-g", help="Gold codes: CodiEsp TSV, JSONL/CSV or CodiEsp folder."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the full metrics JSON here."),
    report: Optional[Path] = typer.Option(None, "--report", "-r", help="Write a self-contained HTML report here."),
    per_code: Optional[Path] = typer.Option(None, "--csv", help="Write the per-code table as CSV here."),
    threshold: float = typer.Option(0.5, "--threshold", "-t", help="Score at which a suggestion counts as assigned."),
    allow_overlap: bool = typer.Option(False, "--allow-train-overlap", help="Score notes the model was trained on."),
    top_k: int = typer.Option(DEFAULT_TOP_K, "--top-k", "-k", min=1, help="Suggestions per note and system (with --model), as medcode predict."),
) -> None:
    """Audit accuracy: a model on coded notes, or any predictions file against gold codes.

    MAP, P@k and R@k (k = 1, 5, 10, 30) with bootstrap 95% intervals, F1 at the threshold and at the
    best cut, per-chapter and per-code tables, calibration.
    """
    try:
        if predictions:
            if not gold:
                _fail("--predictions needs --gold", 2)
            result = api.evaluate_predictions(predictions, gold, split, threshold)
            title = f"{predictions.name} against {gold.name}"
        else:
            if not corpus:
                _fail("give --corpus (to run a model) or --predictions with --gold", 2)
            coder = _load(model)
            result = api.evaluate(coder, corpus, split or "dev", allow_overlap, threshold, top_k)
            title = f"medcode evaluation on {result['corpus']} ({result['notes']} notes)"
            if result["training_overlap"]:
                err_console.print(f"[yellow]warning: {result['training_overlap']} notes were in the training data[/yellow]")
    except (CorpusError, ValueError, OSError) as exc:
        _fail(str(exc))
    _print_audit(result, title)
    _write_json(result, output)
    if report:
        from pipeline.report import write_report

        write_report(result, report, title)
        err_console.print(f"wrote {report}")
    if per_code:
        from pipeline.audit import write_per_code_csv

        write_per_code_csv(result, per_code)
        err_console.print(f"wrote {per_code}")


@app.command()
def compare(
    a: Path = typer.Argument(..., help="Model folder or predictions file A."),
    b: Path = typer.Argument(..., help="Model folder or predictions file B."),
    corpus: Path = typer.Option(..., "--corpus", "-c", help="Coded notes both are scored on."),
    split: Optional[str] = typer.Option("dev", "--split", "-s", help="CodiEsp split."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the comparison JSON here."),
    allow_overlap: bool = typer.Option(False, "--allow-train-overlap", help="Score notes a model was trained on."),
) -> None:
    """Compare two models or prediction files: MAP side by side, difference, 95% interval, p-value."""
    try:
        result = api.compare(a, b, corpus, split, allow_overlap)
    except (CorpusError, ValueError, ModelError, OSError) as exc:
        _fail(str(exc))
    table = Table(title=f"A = {a}  vs  B = {b}  on {result['corpus']}")
    for column in ("system", "MAP A", "MAP B", "A - B", "95% CI", "p-value", "verdict"):
        table.add_column(column, justify="right")
    verdicts = []
    for system in SYSTEMS:
        r = result.get(system)
        if not r:
            continue
        better = "A" if r["difference"] > 0 else "B"
        verdict = (f"{better} better by {abs(r['difference']):.3f} MAP" if r["p_value"] < 0.05
                   else f"no significant difference ({r['difference']:+.3f} MAP)")
        table.add_row(system, f"{r['MAP_A']:.4f}", f"{r['MAP_B']:.4f}", f"{r['difference']:+.4f}",
                      f"{r['ci95'][0]:+.3f} to {r['ci95'][1]:+.3f}", f"{r['p_value']:.4f}", verdict)
        verdicts.append(f"{system}: {verdict} (95% CI {r['ci95'][0]:+.3f} to {r['ci95'][1]:+.3f}, "
                        f"paired bootstrap p = {r['p_value']:.4f}, {r['notes']} notes)")
    console.print(table)
    for line in verdicts:
        console.print(line, soft_wrap=True)
    _write_json(result, output)


@app.command()
def baseline(
    corpus: Path = typer.Option(..., "--corpus", "-c", help="Coded notes (CodiEsp folder, .jsonl or .csv)."),
    train_split: str = typer.Option("train", "--train-split", help="Split to train the baseline on."),
    split: str = typer.Option("dev", "--split", "-s", help="Split to rank codes for."),
    output: Path = typer.Option(..., "--output", "-o", help="Predictions as CodiEsp-style TSV (id, code)."),
    top_k: int = typer.Option(100, "--top-k", "-k", min=1, help="Codes per note and system."),
) -> None:
    """Rank codes with the TF-IDF + logistic-regression baseline (a reference for `medcode compare`)."""
    from pipeline.baseline import baseline_rankings
    from pipeline.corpus import load_notes

    try:
        train_notes, _ = load_notes(corpus, train_split)
        notes, _ = load_notes(corpus, split)
    except CorpusError as exc:
        _fail(str(exc))
    ranked = baseline_rankings(train_notes, notes, depth=top_k)
    with output.open("w", encoding="utf-8") as handle:
        for note in notes:
            for system in SYSTEMS:
                for code in ranked[system][note.id]:
                    handle.write(f"{note.id}\t{code}\n")
    err_console.print(f"wrote {output} ({len(notes)} notes, trained on {train_split})")


models_app = typer.Typer(no_args_is_help=True, help="Model folders.")
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(folder: Path = typer.Argument(Path("models"), help="Folder holding model folders."),
                as_json: bool = typer.Option(False, "--json", "-j", help="Print JSON.")) -> None:
    """The models in a folder with their training data and held-out MAP."""
    rows = api.list_models(folder)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"models in {folder}")
    columns = list(rows[0]) if rows else ["model"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()])
    console.print(table)


codes_app = typer.Typer(no_args_is_help=True, help="Validate, look up and search codes of the FY2026 code sets.")
app.add_typer(codes_app, name="codes")


@codes_app.command("validate")
def codes_validate(
    codes: list[str] = typer.Argument(..., help="Codes as on a claim, e.g. E11.9 S72.001 0DTJ4ZZ."),
    as_json: bool = typer.Option(False, "--json", "-j", help="Print JSON."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the JSON here."),
) -> None:
    """Check codes: in the release, billable, 7th character, Excludes1 pairs, code-first notes.

    Exits 1 when any code is not reportable as it stands.
    """
    from pipeline.validate import validate_codes

    result = validate_codes(codes)
    _write_json(result, output)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        table = Table(title=f"{len(codes)} codes against {', '.join(result['release'].values())}")
        for column in ("code", "status", "title", "messages"):
            table.add_column(column, overflow="fold")
        for r in result["codes"]:
            style = "green" if r["valid"] else "red"
            table.add_row(r["code"], f"[{style}]{r['status']}[/{style}]", r["title"], "\n".join(r["messages"]))
        console.print(table)
        for conflict in result["conflicts"]:
            a, b = conflict["codes"]
            console.print(f"[red]Excludes1:[/red] {a} and {b} cannot be reported together ({a} excludes: {conflict['note']})")
    if not result["valid"]:
        raise typer.Exit(1)


@codes_app.command("show")
def codes_show(code: str = typer.Argument(..., help="One code."),
               as_json: bool = typer.Option(False, "--json", "-j", help="Print JSON.")) -> None:
    """Title, hierarchy, inclusion terms and notes of a code."""
    from pipeline.validate import show_code

    try:
        info = show_code(code)
    except KeyError as exc:
        _fail(str(exc.args[0]))
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    console.print(f"[bold]{info['code']}[/bold] {info['title']}  ({info['system']}, "
                  f"{'billable' if info['billable'] else 'header: not billable'}; {info['release']})")
    for item in info["hierarchy"]:
        console.print(f"  under {item['code']} {item['title']}")
    for key in ("aliases", "inclusion_terms", "includes", "excludes1", "excludes2", "code_first",
                "use_additional_code", "code_also"):
        if info.get(key):
            console.print(f"[bold]{key.replace('_', ' ')}[/bold]: " + "; ".join(info[key]))
    if info.get("seventh_characters"):
        console.print("[bold]7th characters[/bold]: " + "; ".join(f"{k} {v}" for k, v in info["seventh_characters"].items()))
    if info.get("children"):
        console.print("[bold]children[/bold]: " + "; ".join(f"{c['code']} {c['title']}" for c in info["children"][:15]))
    if info.get("query"):
        console.print(f"[bold]ask[/bold]: {info['query']['question']}")


@codes_app.command("search")
def codes_search(text: str = typer.Argument(..., help="Words to look for."),
                 limit: int = typer.Option(20, "--limit", "-n", min=1),
                 system: Optional[str] = typer.Option(None, "--system", "-s", help="ICD-10-CM or ICD-10-PCS."),
                 as_json: bool = typer.Option(False, "--json", "-j", help="Print JSON.")) -> None:
    """Find codes by words of their titles and inclusion terms."""
    from pipeline.validate import search_codes

    hits = search_codes(text, limit=limit, system=system)
    if as_json:
        sys.stdout.write(json.dumps(hits, indent=2) + "\n")
        return
    table = Table(title=f"codes matching {text!r}")
    for column in ("code", "system", "billable", "title"):
        table.add_column(column, overflow="fold")
    for hit in hits:
        table.add_row(hit["code"], hit["system"], "yes" if hit["billable"] else "header", hit["title"])
    console.print(table)


if __name__ == "__main__":
    app()
