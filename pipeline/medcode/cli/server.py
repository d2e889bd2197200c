"""``medcode serve`` (the coder workbench: review page and HTTP API) and ``medcode decisions export``."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from medcode.cli.app import (
    DateOpt,
    MedcodeGroup,
    ModelOpt,
    ReleaseOpt,
    app,
    command,
    err_console,
    load_model,
    release_env,
    status,
)
from medcode.errors import UsageError

decisions_app = typer.Typer(cls=MedcodeGroup, no_args_is_help=True,
                            help="Coder decisions that medcode serve keeps: export them for training.")
app.add_typer(decisions_app, name="decisions")

DbOpt = typer.Option(None, "--db", help="Decisions database: a SQLAlchemy URL (postgresql://user@host/db) or a "
                                        "SQLite file (default: NAME.decisions.sqlite beside the worklist).")
WorklistOpt = typer.Option(None, "--worklist", help="Notes to review: a folder of .txt, .jsonl, .csv or a CodiEsp "
                                                    "split folder.")


@command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve (other than loopback: on the network)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port (0: any free one)."),
    worklist: Path | None = WorklistOpt,
    db: str | None = DbOpt,
    model: Path | None = ModelOpt,
    coder: str | None = typer.Option(None, "--coder", help="Coder name for decisions that name none (default: your "
                                                           "user name; each coder sets theirs on the page)."),
    keep_text: bool = typer.Option(False, "--keep-text", help="Keep note text with decisions (default: only its "
                                                              "SHA-256); exported feedback then carries it."),
    allow_host: list[str] | None = typer.Option(None, "--allow-host", help="Also answer to this Host name (a "
                                                                           "reverse proxy's); * for any."),
    max_chars: int = typer.Option(100_000, "--max-chars", min=1, help="Longest note accepted, in characters."),
    max_batch: int = typer.Option(64, "--max-batch", min=1, help="Most notes in one /v1/suggest request."),
    quiet: bool = typer.Option(False, "--quiet", help="No access log (method, path, status: never note text)."),
    release: str | None = ReleaseOpt,
    date_of_service: str | None = DateOpt,
) -> None:
    """Serve the review page and the HTTP API (one model, loaded once); prints the address with its token.

    Every request needs the token: open the printed address (?token=...), or send
    Authorization: Bearer TOKEN. Set $MEDCODE_TOKEN to fix the token.
    """
    from medcode.decisions.store import DecisionStore, default_url
    from medcode.server.app import create_app
    from medcode.server.runner import bind
    from medcode.server.runner import serve as run_server
    from medcode.server.settings import ServerSettings, is_loopback
    from medcode.server.worklist import Worklist

    release_env(release, date_of_service)  # suggestions, look-ups and decisions all use that release
    settings = ServerSettings(host=host, port=port, allowed_hosts=tuple(allow_host or ()), max_chars=max_chars,
                              max_batch=max_batch, keep_text=keep_text)
    if coder:
        settings.coder = coder
    sock = bind(host, port)
    settings.port = sock.getsockname()[1]
    with status("opening the decisions database"):
        store = DecisionStore(db or default_url(worklist), keep_text=keep_text)
    with status("reading the worklist"):
        notes = Worklist.from_path(worklist, max_chars) if worklist else Worklist()
    coder_model = load_model(model)
    settings.model_path = str(model or "default")
    application = create_app(coder_model, store, notes, settings)
    _announce(settings, store, notes, not is_loopback(host))
    logging.getLogger("medcode.server.access").setLevel(logging.WARNING if quiet else logging.INFO)
    run_server(application, sock)


def _announce(settings, store, notes, exposed: bool) -> None:
    """Print where the server is, with its token (as Jupyter does), and warn when it is on the network."""
    from medcode.server.settings import is_wildcard

    shown = "127.0.0.1" if is_wildcard(settings.host) else settings.host
    shown = f"[{shown}]" if ":" in shown else shown
    base = f"http://{shown}:{settings.port}"
    lines = [f"medcode workbench: {len(notes)} notes to review"
             + (f" ({len(notes.errors)} unreadable)" if notes.errors else "") + f", decisions in {store.display_url}",
             f"  open      {base}/?token={settings.token}",
             f"  API       {base}/v1/...  with  Authorization: Bearer {settings.token}",
             f"  API docs  {base}/docs",
             "  stop with Ctrl-C"]
    for line in lines:
        err_console.print(line, soft_wrap=True, highlight=False, markup=False)
    if exposed:
        err_console.print(f"[yellow]warning: serving on {settings.host}, not only this machine: anyone who can reach "
                          f"port {settings.port} and has the token can read notes. Put it behind TLS (a reverse "
                          "proxy) on a network you trust.[/yellow]", soft_wrap=True)


@command(decisions_app, "export")
def decisions_export(
    output: Path = typer.Option(..., "--output", "-o", help="Feedback JSONL to write (medcode train --feedback)."),
    db: str | None = DbOpt,
    worklist: Path | None = typer.Option(None, "--worklist", help="Find the database beside this worklist."),
    coder: str | None = typer.Option(None, "--coder", help="Only this coder's decisions."),
    model_id: str | None = typer.Option(None, "--model-id", help="Only decisions on this model's suggestions."),
) -> None:
    """Write coder decisions as the feedback file `medcode train --feedback` reads (one line per note)."""
    from medcode.decisions.export import export_feedback
    from medcode.decisions.store import DecisionStore, default_url

    if not db and not worklist:
        raise UsageError("give --db URL (or --worklist PATH, whose database is beside it)")
    store = DecisionStore(db or default_url(worklist))
    result = export_feedback(store, output, coder, model_id)
    superseded = f"; {result['superseded']} decisions on older texts left out" if result["superseded"] else ""
    err_console.print(f"wrote {output} ({result['notes']} notes, {result['decisions']} decisions{superseded})",
                      soft_wrap=True)
