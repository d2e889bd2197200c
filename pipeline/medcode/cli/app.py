"""The ``medcode`` typer application, its error handler and the options every command shares.

Every :class:`medcode.errors.MedcodeError` a command raises becomes one line on stderr (``error: ...``,
naming the file, row or flag) and the exit code of its class; see :mod:`medcode.errors`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup, TyperOption

from medcode.about import __version__
from medcode.errors import MedcodeError

console = Console()
err_console = Console(stderr=True)


def _plain_flags(params: list) -> list:
    # Typer labels flags "<bool>" in help; a flag takes no value, so show none.
    for param in params:
        if isinstance(param, TyperOption) and param.is_bool_flag:
            param.metavar = ""
    return params


def fail(message: str, code: int) -> None:
    """Print ``error: message`` as one line on stderr and exit with ``code``."""
    err_console.print(f"[red]error:[/red] {escape(' '.join(str(message).split()))}", soft_wrap=True)
    raise typer.Exit(code)


class MedcodeCommand(TyperCommand):
    """A command whose help shows no value label for flags."""

    def get_params(self, ctx):
        return _plain_flags(super().get_params(ctx))


class MedcodeGroup(TyperGroup):
    """The command group: turns a :class:`MedcodeError` of any subcommand into a one-line message."""

    def get_params(self, ctx):
        return _plain_flags(super().get_params(ctx))

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MedcodeError as exc:
            fail(str(exc), exc.exit_code)


def _version(value: bool) -> None:
    if value:
        console.print(f"medcode {__version__}")
        raise typer.Exit()


app = typer.Typer(cls=MedcodeGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Suggest ICD-10-CM and ICD-10-PCS codes for clinical notes.")
models_app = typer.Typer(cls=MedcodeGroup, no_args_is_help=True, help="Model folders.")
codes_app = typer.Typer(cls=MedcodeGroup, no_args_is_help=True,
                        help="Validate, look up and search codes of the FY2026 code sets.")
app.add_typer(models_app, name="models")
app.add_typer(codes_app, name="codes")


def command(typer_app: typer.Typer = app, name: str | None = None):
    """Register a command (with flags shown without value labels)."""
    return typer_app.command(name, cls=MedcodeCommand)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress (never note text)."),
         version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Suggest ICD-10-CM and ICD-10-PCS codes for clinical notes."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# Options shared by several commands: one definition each, so a flag means one thing everywhere.
ModelOpt = typer.Option(None, "--model", "-m", help="Model folder (default: the default model).")
JsonFlag = typer.Option(False, "--json", "-j", help="Print JSON instead of a table.")
OutputOpt = typer.Option(None, "--output", "-o", help="Also write the JSON here.")
CorpusOpt = typer.Option(..., "--corpus", "-c", help="Coded notes: CodiEsp folder, .jsonl or .csv.")
SplitOpt = typer.Option(None, "--split", "-s", help="CodiEsp split (train, dev, train+dev).")


def load_model(path: Path | None):
    """The model a command runs (the default one when ``path`` is ``None``)."""
    from medcode.api import load

    with status("loading the model"):
        return load(path)


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on stderr while something slow runs (nothing when stderr is not a terminal)."""
    if err_console.is_terminal:
        with err_console.status(message):
            yield
    else:
        yield


@contextmanager
def progress_bar(description: str, total: int | None, unit: str = "notes") -> Iterator:
    """A progress bar on stderr; yields ``advance(done, description=None, total=None)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    started = time.perf_counter()
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task(description, total=total, rate="")

        def advance(done: int, text: str | None = None, total: int | None = None) -> None:
            rate = f"{done / max(time.perf_counter() - started, 1e-9):.1f} {unit}/s" if unit else ""
            bar.update(task, completed=done, rate=rate, **({"description": text} if text else {}),
                       **({"total": total} if total else {}))

        yield advance


def write_json(data, output: Path | None, flag: str = "--output") -> None:
    """Write JSON to ``output`` (atomically), when one is given."""
    from medcode.batch.files import write_text

    if output:
        write_text(output, json.dumps(data, indent=2) + "\n", flag=flag)
        err_console.print(f"wrote {output}")


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
