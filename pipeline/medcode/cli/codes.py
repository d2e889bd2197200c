"""``medcode codes validate / show / search``: the code sets, for coders; ``install / releases / diff``: their releases."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from medcode.about import SYSTEMS
from medcode.cli.app import (
    DateOpt,
    JsonFlag,
    OutputOpt,
    ReleaseOpt,
    codes_app,
    command,
    console,
    err_console,
    print_json,
    status,
    write_json,
)
from medcode.errors import EXIT_CHECK_FAILED, UsageError


def release_kb(release: str | None, date_of_service: str | None):
    """The knowledge base of the release chosen by ``--release`` / ``--date-of-service`` (or the default)."""
    from medcode.codesets.kb import KnowledgeBase
    from medcode.codesets.releases import resolve_releases

    return KnowledgeBase.for_releases(resolve_releases(release, date_of_service))


@command(codes_app, "validate")
def codes_validate(
    codes: list[str] = typer.Argument(..., help="Codes as on a claim, e.g. E11.9 S72.001 0DTJ4ZZ."),
    as_json: bool = JsonFlag,
    output: Path | None = OutputOpt,
    release: str | None = ReleaseOpt,
    date_of_service: str | None = DateOpt,
) -> None:
    """Check codes: in the release, billable, 7th character, Excludes1 pairs, code-first notes.

    Exits 1 when any code is not reportable as it stands.
    """
    from medcode.batch.files import check_output
    from medcode.codesets.lookup import validate_codes

    if output:
        check_output(output, "--output")
    with status("loading the code sets"):
        result = validate_codes(codes, release_kb(release, date_of_service))
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
            a, *others = conflict["codes"]
            console.print(f"[red]Excludes1:[/red] {a} and {', '.join(others)} cannot be reported together "
                          f"({a} excludes: {escape(conflict['note'])})", soft_wrap=True)
    if not result["valid"]:
        raise typer.Exit(EXIT_CHECK_FAILED)


@command(codes_app, "show")
def codes_show(code: str = typer.Argument(..., help="One code."), as_json: bool = JsonFlag,
               release: str | None = ReleaseOpt, date_of_service: str | None = DateOpt) -> None:
    """Title, hierarchy, inclusion terms and notes of a code."""
    from medcode.codesets.lookup import show_code

    with status("loading the code sets"):
        info = show_code(code, release_kb(release, date_of_service))
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
                 as_json: bool = JsonFlag, release: str | None = ReleaseOpt,
                 date_of_service: str | None = DateOpt) -> None:
    """Find codes by words of their titles and inclusion terms."""
    from medcode.codesets.lookup import search_codes

    if system is not None and system not in SYSTEMS:
        raise UsageError(f"--system {system!r}: use {' or '.join(SYSTEMS)}")
    with status("loading the code sets"):
        hits = search_codes(text, release_kb(release, date_of_service), limit=limit, system=system)
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


@command(codes_app, "install")
def codes_install(
    files: list[Path] = typer.Argument(..., help="Official release files: the CDC / CMS zip files as published, or "
                                      "the XML and text files inside them (tabular, index, tables, order, conversion)."),
    name: str | None = typer.Option(None, "--name", help="Release name (default: from the files, e.g. FY2027)."),
    effective: str | None = typer.Option(None, "--effective", help="YYYY-MM-DD the release takes effect (default: "
                                         "October 1 before its fiscal year; April 1 for an April update)."),
    replace: bool = typer.Option(False, "--replace", help="Rebuild a release already installed under this name."),
    as_json: bool = JsonFlag,
) -> None:
    """Build a release folder under $MEDCODE_HOME/releases from the official files (nothing is downloaded)."""
    from medcode.codesets.install import install

    with status("reading the release files"):
        release = install(files, name, effective, replace)
    if as_json:
        print_json(release.record())
        return
    console.print(f"installed [bold]{release.name}[/bold] in {escape(str(release.folder))}")
    for info in release.info["systems"].values():
        extra = f", {info['conversion_pairs']} conversion pairs" if info.get("conversion_pairs") else ""
        console.print(f"  {info['title']}: {info['codes']:,} codes, effective {info['effective']}{extra}")
    err_console.print(f"{len(release.info['sources'])} source files recorded with their SHA-256 in release.json")


@command(codes_app, "releases")
def codes_releases(as_json: bool = JsonFlag, date_of_service: str | None = DateOpt) -> None:
    """List the code-set releases (bundled and installed) and which one each command uses by default."""
    from medcode.about import SYSTEMS
    from medcode.codesets.releases import all_releases, installed_releases, releases_dir, resolve_releases

    chosen = resolve_releases(None, date_of_service)
    rows = [{**r.record(), "default_for": [s for s in SYSTEMS if chosen[s].name == r.name]} for r in all_releases()]
    broken = installed_releases()[1]
    if as_json:
        print_json({"folder": str(releases_dir()), "releases": rows, "broken": broken})
        return
    table = Table(title=f"code-set releases (installed in {escape(str(releases_dir()))})", title_justify="left")
    for column in ("name", "code sets", "effective", "default for", "installed"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"] + (" (bundled)" if row["bundled"] else ""), escape("\n".join(row["titles"].values())),
                      "\n".join(row["effective"].values()), ", ".join(row["default_for"]) or "-",
                      row.get("installed") or "-")
    console.print(table)
    for item in broken:
        err_console.print(f"[yellow]not usable:[/yellow] {escape(item['error'])}")


@command(codes_app, "diff")
def codes_diff(
    old: str = typer.Argument(..., help="The earlier release's name (medcode codes releases)."),
    new: str = typer.Argument(..., help="The later release's name."),
    conversion: list[Path] | None = typer.Option(None, "--conversion", help="A conversion table (text/CSV), to map "
                                                 "deleted codes to their replacements; repeatable."),
    csv_file: Path | None = typer.Option(None, "--csv", help="Write every change as CSV here."),
    as_json: bool = JsonFlag,
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the JSON here."),
    limit: int = typer.Option(50, "--limit", "-n", min=0, help="Codes listed per kind of change in the table."),
) -> None:
    """What changed between two releases: codes added, deleted, revised, expanded; new Excludes1 and code-first notes."""
    from medcode.batch.files import check_output, write_text
    from medcode.codesets.diff import diff_csv, diff_releases
    from medcode.codesets.releases import get_release

    for flag, path in (("--csv", csv_file), ("--output", output)):
        if path:
            check_output(path, flag, inputs=conversion or [])
    before, after = get_release(old), get_release(new)
    with status("comparing the releases"):
        result = diff_releases(before, after, _conversion_tables(conversion or []))
    if not result["systems"]:
        raise UsageError(f"{old} and {new} hold no code set in common ({', '.join(before.titles)}; "
                         f"{', '.join(after.titles)})")
    if csv_file:
        write_text(csv_file, diff_csv(result), flag="--csv")
        err_console.print(f"wrote {escape(str(csv_file))}")
    write_json(result, output)
    if as_json:
        print_json(result)
    else:
        _print_diff(result, limit)


def _conversion_tables(paths: list[Path]) -> dict:
    """``{system: {previous: [current, ...]}}`` of conversion tables given to ``diff``."""
    import tempfile

    from medcode.codesets.builder import CONVERSION_FILE, build_conversion, load_json_gz
    from medcode.codesets.sources import read_sources
    from medcode.errors import ReleaseFileError

    if not paths:
        return {}
    sources, _ = read_sources(paths)
    for source in sources:
        if source.kind != "conversion":
            raise ReleaseFileError(f"{source.name}: --conversion takes a conversion table; this is a {source.kind} file")
    with tempfile.TemporaryDirectory(prefix="medcode-conversion-") as tmp:
        build_conversion(sources, Path(tmp))
        return load_json_gz(Path(tmp) / CONVERSION_FILE)


def _print_diff(result: dict, limit: int) -> None:
    from medcode.codesets.diff import CHANGES, diff_rows

    rows = diff_rows(result)
    for system, changes in result["systems"].items():
        counts = changes["counts"]
        console.print(f"[bold]{system}: {escape(changes['old'])} -> {escape(changes['new'])}[/bold]: "
                      f"{counts['old_codes']:,} -> {counts['new_codes']:,} codes; " +
                      ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in CHANGES), soft_wrap=True)
        if not changes["titles_compared"]:
            console.print("  titles not compared: a release was installed without CMS's code or order file "
                          "(its titles are composed from the tables)", soft_wrap=True)
        for kind in CHANGES:
            chosen = [r for r in rows if r["system"] == system and r["change"] == kind]
            if not chosen or not limit:
                continue
            table = Table(title=f"{system} {kind.replace('_', ' ')} ({len(chosen)})", title_justify="left")
            for column in ("code", "title", "detail"):
                table.add_column(column, overflow="fold", no_wrap=column == "code")
            for row in chosen[:limit]:
                detail = f"was: {row['old_title']}" if kind == "revised" else row["detail"]
                table.add_row(row["code"], escape(row["title"]), escape(detail))
            console.print(table)
            if len(chosen) > limit:
                console.print(f"  ... and {len(chosen) - limit} more (all of them with --csv or --json)")
