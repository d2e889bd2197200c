"""``medcode suggest`` (one note, as tables) and ``medcode predict`` (a file or folder of notes)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from medcode.about import DEFAULT_TOP_K
from medcode.batch.engines import ENGINES
from medcode.batch.predict import FORMATS, predict_file
from medcode.cli.app import (
    JsonFlag,
    ModelOpt,
    OutputOpt,
    command,
    console,
    err_console,
    load_model,
    print_json,
    progress_bar,
    write_json,
)
from medcode.cli.render import print_coder_notes, suggestion_tables
from medcode.corpus import DEFAULT_MAX_CHARS, count_notes
from medcode.errors import EXIT_SKIPPED, InputError, UsageError
from medcode.nlp.suggester import DEFAULT_SUGGESTIONS


def read_note_file(note_file: str) -> tuple[str, str]:
    """``(name, text)`` of a note file, or of standard input for ``-``.

    Raises:
        InputError: when the file cannot be read or is not UTF-8.
    """
    name = "stdin" if note_file == "-" else Path(note_file).stem
    try:
        raw = sys.stdin.buffer.read() if note_file == "-" else Path(note_file).read_bytes()
        return name, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: file is not UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{note_file}: {exc.strerror}") from None


@command()
def suggest(
    note_file: str = typer.Argument("-", help="Note file, or - for standard input."),
    model: Path | None = ModelOpt,
    top_k: int = typer.Option(DEFAULT_SUGGESTIONS, "--top-k", "-k", min=1, help="Suggestions per code system."),
    min_score: float = typer.Option(0.0, "--min-score", min=0.0, max=1.0, help="Hide suggestions scored below this."),
    as_json: bool = JsonFlag,
    output: Path | None = OutputOpt,
) -> None:
    """Suggest codes for one note: a table per code system, then the queries, conflicts and codes set aside."""
    name, text = read_note_file(note_file)
    coder = load_model(model)
    result = coder.suggest(text, top_k=top_k, note_id=name)
    write_json(result, output)
    if as_json:
        print_json(result)
        return
    console.print(f"[bold]medcode suggestions for {name}[/bold] ({', '.join(result['release'].values())})")
    tables = suggestion_tables(result, min_score)
    for table in tables:
        console.print(table)
    if not tables:
        console.print(f"no suggestion scored {min_score} or more")
    print_coder_notes(console, result, min_score)


@command()
def predict(
    input_path: str = typer.Argument(..., help="Folder of .txt notes, .jsonl, .csv, a CodiEsp folder, or - (JSONL on stdin)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output JSONL (one line per note)."),
    model: Path | None = ModelOpt,
    top_k: int = typer.Option(DEFAULT_TOP_K, "--top-k", "-k", min=1, help="Suggestions per note and code system."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl, or codiesp to also write CodiEsp TSVs."),
    split: str | None = typer.Option(None, "--split", "-s", help="CodiEsp split, for a CodiEsp root."),
    max_chars: int = typer.Option(DEFAULT_MAX_CHARS, "--max-chars", min=1, help="Skip notes longer than this."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Processes scoring in parallel."),
    resume: bool = typer.Option(False, "--resume", "-r", help="Continue an interrupted run into the same OUT."),
    engine: str = typer.Option("local", "--engine", help="local (this machine) or dask (a Dask cluster)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address; default: a local cluster of --workers processes."),
) -> None:
    """Suggest codes for every note of a file or folder (streaming; bad notes are reported, not fatal)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: use {' or '.join(FORMATS)}")
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r}: unknown engine; use {' or '.join(ENGINES)}")
    if scheduler and engine != "dask":
        raise UsageError("--scheduler needs --engine dask")
    coder = load_model(model) if engine == "local" and workers == 1 else None
    total = None if input_path == "-" else count_notes(input_path, split)
    started = time.perf_counter()
    with progress_bar("scoring", total) as advance:
        result = predict_file(input_path, output, coder, model, top_k=top_k, fmt=fmt, split=split,
                              max_chars=max_chars, workers=workers, resume=resume, progress=advance,
                              engine=engine, scheduler=scheduler)
    rate = result["scored"] / max(time.perf_counter() - started, 1e-9)
    resumed = f", {result['resumed']} kept from the earlier run" if result["resumed"] else ""
    err_console.print(f"scored {result['scored']} notes -> {result['output']} ({result['seconds']} s, "
                      f"{rate:.1f} notes/s{resumed})")
    if result["skipped"]:
        err_console.print(f"[yellow]skipped {result['skipped']} notes[/yellow]; reasons in {result['errors_file']}")
        raise typer.Exit(EXIT_SKIPPED)
