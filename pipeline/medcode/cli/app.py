"""The ``medcode`` typer application, its error handler and the options every command shares.

Every :class:`medcode.errors.MedcodeError` a command raises becomes one line on stderr (``error: ...``,
naming the file, row or flag) and the exit code of its class; see :mod:`medcode.errors`.
"""

from __future__ import annotations

import json
import logging
import math
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
    """Print ``error: message`` as one line on stderr and exit with ``code``.

    Whitespace runs become one space and any other non-printable character is escaped, so a message
    that quotes a file name or an id cannot break the line or drive the terminal.
    """
    from medcode.textsafe import shown

    err_console.print(f"[red]error:[/red] {escape(shown(' '.join(str(message).split()), 2000))}", soft_wrap=True)
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
        import os

        from medcode.about import DATE_OF_SERVICE_ENV, RELEASE_ENV

        # `--release` reaches worker processes through the environment (release_env): the process may
        # go on after the command (tests, the Python API), so leave the variables as they were.
        saved = {key: os.environ.get(key) for key in (RELEASE_ENV, DATE_OF_SERVICE_ENV)}
        try:
            return super().invoke(ctx)
        except MedcodeError as exc:
            fail(str(exc), exc.exit_code)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _version(value: bool) -> None:
    if value:
        console.print(f"medcode {__version__}")
        raise typer.Exit()


app = typer.Typer(cls=MedcodeGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Suggest ICD-10-CM and ICD-10-PCS codes for clinical notes.")
models_app = typer.Typer(cls=MedcodeGroup, no_args_is_help=True, help="Model folders.")
codes_app = typer.Typer(cls=MedcodeGroup, no_args_is_help=True,
                        help="Validate, look up and search codes; install code-set releases and see what changed.")
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
ExpectModelOpt = typer.Option(None, "--expect-model", help="Refuse any model whose id (medcode models list) is not "
                              "this SHA-256 (default: $MEDCODE_EXPECT_MODEL).")
ReleaseOpt = typer.Option(None, "--release", help="Code-set release to code against (medcode codes releases; default: "
                          "$MEDCODE_RELEASE, else the newest installed release in force on the date of service).")
DateOpt = typer.Option(None, "--date-of-service", help="YYYY-MM-DD: use the release in force on this date (default: today).")


def load_model(path: Path | None, expect: str | None = None, release: str | None = None, date_of_service: str | None = None):
    """The model a command runs (the default one when ``path`` is ``None``), refused if not ``expect``,
    for the code-set release ``release`` (or the one in force on ``date_of_service``)."""
    from medcode.api import load

    with status("loading the model"):
        return load(path, expect, release, date_of_service)


def release_env(release: str | None, date_of_service: str | None) -> None:
    """Check ``--release`` / ``--date-of-service`` now and hand them to the processes a command starts
    (batch workers, the server's code sets) through ``$MEDCODE_RELEASE`` / ``$MEDCODE_DATE_OF_SERVICE``."""
    import os

    from medcode.about import DATE_OF_SERVICE_ENV, RELEASE_ENV
    from medcode.codesets.releases import parse_date, resolve_releases

    values = {DATE_OF_SERVICE_ENV: parse_date(date_of_service).isoformat() if date_of_service else None,
              RELEASE_ENV: release}
    # MedcodeGroup.invoke puts the variables back as they were when the command ends.
    os.environ.update({key: value for key, value in values.items() if value is not None})
    resolve_releases()  # an unknown name, or no release in force on the date, fails before any work


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


def check_outputs(outputs: dict[str, Path | None], sources: list[Path | None] = (), split: str | None = None,
                  folders: list[Path | None] = ()) -> None:
    """Refuse, before any work, outputs that are inputs (or their gold files) or inside a read folder.

    Args:
        outputs: ``{flag: path}`` of the files the command will write (``None`` when not asked for).
        sources: inputs: files, or corpora (whose note and gold files are all protected).
        split: the CodiEsp split of the corpora.
        folders: folders the command reads (a model folder), which no output may be inside.
    """
    from medcode.batch.files import check_output, real_paths
    from medcode.corpus import input_files
    from medcode.errors import CorpusError

    files: list[Path] = []
    for source in (s for s in sources if s):
        try:
            files += [source] + (input_files(source, split) if source.is_dir() else [])
        except CorpusError:
            files.append(source)
    inputs = real_paths(files)
    for flag, path in outputs.items():
        if path:
            check_output(path, flag, inputs=inputs, folders=[f for f in folders if f and f.is_dir()])


def write_json(data, output: Path | None, flag: str = "--output") -> None:
    """Write JSON to ``output`` (atomically), when one is given."""
    from medcode.batch.files import write_text

    if output:
        write_text(output, json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n", flag=flag)
        err_console.print(f"wrote {escape(str(output))}")


def json_safe(value):
    """``value`` with every NaN or infinity replaced by ``None``: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def print_json(data) -> None:
    sys.stdout.write(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")
