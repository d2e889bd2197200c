"""``medcode suggest`` (one note, as tables) and ``medcode predict`` (a file or folder of notes)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer
from rich.markup import escape

from medcode.about import DEFAULT_TOP_K, MAX_NOTE_CHARS
from medcode.batch.files import check_output, read_capped
from medcode.batch.predict import predict_file
from medcode.cli.app import (
    DateOpt,
    ExpectModelOpt,
    JsonFlag,
    ModelOpt,
    OutputOpt,
    ReleaseOpt,
    command,
    console,
    err_console,
    load_model,
    print_json,
    progress_bar,
    release_env,
    write_json,
)
from medcode.cli.render import print_coder_notes, suggestion_tables
from medcode.corpus import count_notes
from medcode.errors import EXIT_SKIPPED, InputError
from medcode.nlp.suggester import DEFAULT_SUGGESTIONS
from medcode.notes import DEFAULT_MAX_CHARS
from medcode.textsafe import shown


def read_note_file(note_file: str) -> tuple[str, str]:
    """``(name, text)`` of a note file, or of standard input for ``-``.

    Only a regular file is read (a FIFO or a device is refused), and at most as many bytes as the
    longest note medcode scores can take.

    Raises:
        InputError: when the file cannot be read, is not a regular file, is too long or is not UTF-8.
    """
    name = "stdin" if note_file == "-" else Path(note_file).stem
    limit = 4 * MAX_NOTE_CHARS  # UTF-8: at most 4 bytes a character
    raw = sys.stdin.buffer.read(limit + 1) if note_file == "-" else read_capped(note_file, limit, "note file")
    if len(raw) > limit:
        raise InputError(f"{shown(name)}: over {limit:,} bytes, longer than the longest note medcode scores")
    try:
        return name, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{shown(name)}: file is not UTF-8 (byte {exc.start})") from None


@command()
def suggest(
    note_file: str = typer.Argument("-", help="Note file, or - for standard input."),
    model: Path | None = ModelOpt,
    top_k: int = typer.Option(DEFAULT_SUGGESTIONS, "--top-k", "-k", min=1, help="Suggestions per code system."),
    min_score: float = typer.Option(0.01, "--min-score", min=0.0, max=1.0,
                                    help="In the tables, hide suggestions scored below this (the JSON keeps them)."),
    as_json: bool = JsonFlag,
    output: Path | None = OutputOpt,
    expect_model: str | None = ExpectModelOpt,
    release: str | None = ReleaseOpt,
    date_of_service: str | None = DateOpt,
) -> None:
    """Suggest codes for one note: a table per code system, then the queries, conflicts and codes set aside."""
    if output:
        check_output(output, "--output", inputs=[] if note_file == "-" else [note_file])
    name, text = read_note_file(note_file)
    coder = load_model(model, expect_model, release, date_of_service)
    result = coder.suggest(text, top_k=top_k, note_id=name)
    write_json(result, output)
    if as_json:
        print_json(result)
        return
    console.print(f"[bold]medcode suggestions for {escape(shown(name))}[/bold] ({', '.join(result['release'].values())})")
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
    max_chars: int = typer.Option(DEFAULT_MAX_CHARS, "--max-chars", help=f"Skip notes longer than this (at most {MAX_NOTE_CHARS:,})."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Processes scoring in parallel."),
    resume: bool = typer.Option(False, "--resume", "-r", help="Continue an interrupted run into the same OUT."),
    engine: str = typer.Option("local", "--engine", help="local (this machine) or dask (a Dask cluster)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask security file (or tls:// address); default: a private local cluster of --workers processes."),
    expect_model: str | None = ExpectModelOpt,
    release: str | None = ReleaseOpt,
    date_of_service: str | None = DateOpt,
) -> None:
    """Suggest codes for every note of a file or folder (streaming; bad notes are reported, not fatal)."""
    release_env(release, date_of_service)  # every worker process codes against the same release
    total = None if input_path == "-" else count_notes(input_path, split)
    started = time.perf_counter()
    with progress_bar("scoring", total) as advance:
        result = predict_file(input_path, output, None, model, top_k=top_k, fmt=fmt, split=split,
                              max_chars=max_chars, workers=workers, resume=resume, progress=advance,
                              engine=engine, scheduler=scheduler, expect_model=expect_model)
    rate = result["scored"] / max(time.perf_counter() - started, 1e-9)
    resumed = f", {result['resumed']} kept from the earlier run" if result["resumed"] else ""
    err_console.print(f"scored {result['scored']} notes -> {escape(shown(result['output']))} ({result['seconds']} s, "
                      f"{rate:.1f} notes/s{resumed})")
    if result["skipped_total"]:
        earlier = f" ({result['resumed_skipped']} in the earlier run)" if result["resumed_skipped"] else ""
        err_console.print(f"[yellow]skipped {result['skipped_total']} notes{earlier}[/yellow]; reasons in "
                          f"{escape(shown(result['errors_file']))}")
        raise typer.Exit(EXIT_SKIPPED)
