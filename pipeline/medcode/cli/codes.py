"""``medcode codes validate / show / search``: the code sets, for coders."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from medcode.about import SYSTEMS
from medcode.cli.app import JsonFlag, OutputOpt, codes_app, command, console, print_json, status, write_json
from medcode.errors import EXIT_CHECK_FAILED, UsageError


@command(codes_app, "validate")
def codes_validate(
    codes: list[str] = typer.Argument(..., help="Codes as on a claim, e.g. E11.9 S72.001 0DTJ4ZZ."),
    as_json: bool = JsonFlag,
    output: Path | None = OutputOpt,
) -> None:
    """Check codes: in the release, billable, 7th character, Excludes1 pairs, code-first notes.

    Exits 1 when any code is not reportable as it stands.
    """
    from medcode.codesets.lookup import validate_codes

    with status("loading the code sets"):
        result = validate_codes(codes)
    write_json(result, output)
    if as_json:
        print_json(result)
    else:
        table = Table(title=f"{len(result['codes'])} codes against {', '.join(result['release'].values())}",
                      title_justify="left")
        table.add_column("code", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("title", overflow="fold", ratio=1)
        table.add_column("messages", overflow="fold", ratio=2)
        for r in result["codes"]:
            style = "green" if r["valid"] else "red"
            table.add_row(r["code"], f"[{style}]{r['status']}[/{style}]", escape(r["title"]),
                          escape("\n".join(r["messages"])))
        console.print(table)
        for conflict in result["conflicts"]:
            a, b = conflict["codes"]
            console.print(f"[red]Excludes1:[/red] {a} and {b} cannot be reported together "
                          f"({a} excludes: {escape(conflict['note'])})")
    if not result["valid"]:
        raise typer.Exit(EXIT_CHECK_FAILED)


@command(codes_app, "show")
def codes_show(code: str = typer.Argument(..., help="One code."), as_json: bool = JsonFlag) -> None:
    """Title, hierarchy, inclusion terms and notes of a code."""
    from medcode.codesets.lookup import show_code

    with status("loading the code sets"):
        info = show_code(code)
    if as_json:
        print_json(info)
        return
    console.print(f"[bold]{info['code']}[/bold] {escape(info['title'])}  ({info['system']}, "
                  f"{'billable' if info['billable'] else 'header: not billable'}; {info['release']})")
    for item in info["hierarchy"]:
        console.print(f"  under {item['code']} {escape(item['title'])}")
    for key in ("aliases", "inclusion_terms", "includes", "excludes1", "excludes2", "code_first",
                "use_additional_code", "code_also"):
        if info.get(key):
            console.print(f"[bold]{key.replace('_', ' ')}[/bold]: " + escape("; ".join(info[key])))
    if info.get("seventh_characters"):
        console.print("[bold]7th characters[/bold]: " + "; ".join(f"{k} {v}" for k, v in info["seventh_characters"].items()))
    if info.get("children"):
        console.print("[bold]children[/bold]: " + escape("; ".join(f"{c['code']} {c['title']}" for c in info["children"][:15])))
    if info.get("query"):
        console.print(f"[bold]ask[/bold]: {escape(info['query']['question'])}")


@command(codes_app, "search")
def codes_search(text: str = typer.Argument(..., help="Words to look for."),
                 limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many codes to list."),
                 system: str | None = typer.Option(None, "--system", help="ICD-10-CM or ICD-10-PCS."),
                 as_json: bool = JsonFlag) -> None:
    """Find codes by words of their titles and inclusion terms."""
    from medcode.codesets.lookup import search_codes

    if system is not None and system not in SYSTEMS:
        raise UsageError(f"--system {system!r}: use {' or '.join(SYSTEMS)}")
    with status("loading the code sets"):
        hits = search_codes(text, limit=limit, system=system)
    if as_json:
        print_json(hits)
        return
    table = Table(title=f"codes matching {escape(repr(text))}", title_justify="left")
    table.add_column("code", no_wrap=True)
    table.add_column("system", no_wrap=True)
    table.add_column("billable", no_wrap=True)
    table.add_column("title", overflow="fold")
    for hit in hits:
        table.add_row(hit["code"], hit["system"], "yes" if hit["billable"] else "header", escape(hit["title"]))
    console.print(table)
