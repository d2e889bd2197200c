"""Terminal tables of what medcode found, readable at 80 columns: numbers never cut, text wraps."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from medcode.about import SYSTEMS
from medcode.textsafe import shown


def _evidence(sug: dict) -> str:
    parts = []
    for e in sug["evidence"][:3]:
        status = f" [{', '.join(e['status']).lower()}]" if e.get("status") else ""
        parts.append(f"“{e['text']}”{status}")
    return "; ".join(parts) or f"({sug['source']})"


def suggestion_tables(result: dict, min_score: float = 0.0) -> list[Table]:
    """One table per code system: rank, code, score, description, evidence (with mention status)."""
    tables = []
    for system in SYSTEMS:
        rows = [s for s in result["suggestions"] if s["system"] == system and s["score"] >= min_score]
        if not rows:
            continue
        table = Table(title=f"{system} ({len(rows)})", title_justify="left", expand=False, pad_edge=False)
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("code", no_wrap=True)
        table.add_column("score", justify="right", no_wrap=True)
        table.add_column("description", overflow="fold", ratio=3)
        table.add_column("evidence", overflow="fold", ratio=2)
        for rank, sug in enumerate(rows, start=1):
            code = escape(sug["code"]) + ("" if sug["billable"] else "*")
            table.add_row(str(rank), code, f"{sug['score']:.2f}", escape(sug["description"]), escape(_evidence(sug)))
        tables.append(table)
    return tables


def print_coder_notes(console: Console, result: dict, min_score: float = 0.0) -> None:
    """What a coder must act on besides the ranking: queries, warnings, conflicts, codes set aside."""
    shown = [s for s in result["suggestions"] if s["score"] >= min_score]
    if any(not s["billable"] for s in shown):
        console.print("[dim]* not billable as it stands (header, partial code, or missing 7th character)[/dim]")
    for sug in shown:
        if sug.get("query"):
            options = ", ".join(o["code"] for o in sug["query"].get("options", [])[:6])
            console.print(f"[bold]ask[/bold] about {escape(sug['code'])}: {escape(sug['query']['question'])}"
                          + (f" ({options})" if options else ""))
        if sug.get("warning"):
            console.print(f"[yellow]{escape(sug['code'])}[/yellow]: {escape(sug['warning'])}")
    for conflict in result.get("conflicts", []):
        a, b = conflict["codes"]
        console.print(f"[red]Excludes1[/red]: {a} and {b} are not reported together "
                      f"({a} excludes {escape(conflict['note'])})")
    for sug in result.get("excluded", [])[:10]:
        console.print(f"[dim]set aside {escape(sug['code'])} ({escape(sug['description'])}): "
                      f"{escape(sug['demoted'])}[/dim]")


def audit_table(result: dict, title: str) -> Table:
    """The headline figures of an audit, one column per code system (so it fits 80 columns)."""
    systems = [s for s in SYSTEMS if result.get(s)]
    table = Table(title=escape(title), title_justify="left")
    table.add_column("metric", no_wrap=True)
    for system in systems:
        table.add_column(system, justify="right", no_wrap=True)

    def row(name: str, value) -> None:
        table.add_row(name, *[value(result[s]) for s in systems])

    row("notes", lambda m: str(m["notes"]))
    row("MAP", lambda m: f"{m['MAP']:.4f}")
    row("MAP 95% CI", lambda m: f"{m['ci95']['MAP'][0]:.3f}–{m['ci95']['MAP'][1]:.3f}")
    for key in ("P@1", "P@5", "P@10", "R@10", "R@30"):
        row(key, lambda m, key=key: f"{m[key]:.4f}")
    row(f"F1 at {result.get('threshold')}", lambda m: f"{m['at_threshold']['f1']:.3f}")
    row("best F1", lambda m: f"{m['best_cut']['f1']:.3f}")
    if all(m_.get("calibration") for m_ in (result[s] for s in systems)):
        row("ECE", lambda m: f"{m['calibration']['ece']:.3f}")
    return table


def records_table(rows: list[dict], title: str) -> Table:
    """A plain table of dict rows (numbers never wrapped)."""
    table = Table(title=escape(title), title_justify="left")
    columns = list(rows[0]) if rows else ["model"]
    for column in columns:
        numeric = rows and all(isinstance(r.get(column), (int, float)) or r.get(column) is None for r in rows)
        table.add_column(column, justify="right" if numeric else "left", no_wrap=bool(numeric), overflow="fold")
    for r in rows:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else escape(shown(str(v), 10_000)) for v in r.values()])
    return table
