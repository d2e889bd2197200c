"""A self-contained HTML audit report: inline SVG plots and tables, no external files or scripts."""

from __future__ import annotations

import html
from pathlib import Path

from pipeline.about import RELEASE, SYSTEMS, __version__
from pipeline.audit import __doc__ as METRIC_DEFINITIONS

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f3f3f3}h2{border-bottom:2px solid #446;padding-bottom:4px}.plots{display:flex;gap:24px;flex-wrap:wrap}
pre{background:#f7f7f7;padding:1em;white-space:pre-wrap;font-size:12px}"""


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _line_plot(title: str, xs: list[float], series: dict[str, list[float]], x_label: str, diagonal: bool = False) -> str:
    width, height, pad = 360, 260, 40
    x_max = max(xs) if xs else 1
    colours = ["#2a5db0", "#d0652f", "#3c9a5f"]

    def point(x, y):
        return pad + (x / x_max) * (width - 2 * pad), height - pad - y * (height - 2 * pad)

    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>',
             f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" font-size="11">{html.escape(x_label)}</text>']
    for tick in (0, 0.5, 1):
        _, y = point(0, tick)
        parts.append(f'<text x="{pad - 6}" y="{y + 4}" text-anchor="end" font-size="10">{tick}</text>')
    if diagonal:
        (x0, y0), (x1, y1) = point(0, 0), point(x_max, 1)
        parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#bbb" stroke-dasharray="4"/>')
    for i, (name, ys) in enumerate(series.items()):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(a, b) for a, b in zip(xs, ys)))
        parts.append(f'<polyline fill="none" stroke="{colours[i % 3]}" stroke-width="2" points="{pts}"/>')
        parts.append(f'<text x="{width - pad}" y="{pad + 14 * i}" text-anchor="end" font-size="11" '
                     f'fill="{colours[i % 3]}">{html.escape(name)}</text>')
    return "".join(parts) + "</svg>"


def _bar_plot(title: str, rows: list[dict], label: str, value: str) -> str:
    rows = [r for r in rows if r.get(value) is not None][:15]
    width, bar, pad = 460, 16, 190
    height = 30 + bar * len(rows) + 10
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>']
    for i, r in enumerate(rows):
        y = 26 + i * bar
        w = (width - pad - 50) * float(r[value])
        parts.append(f'<text x="{pad - 6}" y="{y + 12}" text-anchor="end" font-size="11">{html.escape(str(r[label]))[:30]}</text>')
        parts.append(f'<rect x="{pad}" y="{y + 2}" width="{w:.1f}" height="{bar - 4}" fill="#2a5db0"/>')
        parts.append(f'<text x="{pad + w + 4}" y="{y + 12}" font-size="10">{float(r[value]):.2f}</text>')
    return "".join(parts) + "</svg>"


def render_report(result: dict, title: str = "medcode audit") -> str:
    """The HTML of an audit result (see :func:`pipeline.audit.audit`)."""
    sections = [f"<h1>{html.escape(title)}</h1>",
                f"<p>medcode {__version__}; code sets: {html.escape('; '.join(RELEASE.values()))}. "
                f"Threshold {result.get('threshold')}; {result.get('bootstrap_rounds')} bootstrap resamples.</p>"]
    summary = []
    for system in SYSTEMS:
        m = result.get(system)
        if not m:
            continue
        ci = m["ci95"]["MAP"]
        summary.append({"system": system, "notes": m["notes"], "MAP": m["MAP"], "MAP 95% CI": f"{ci[0]:.3f}–{ci[1]:.3f}",
                        "P@5": m["P@5"], "R@30": m["R@30"], "micro F1": m["at_threshold"]["f1"],
                        "macro F1": m["at_threshold"]["macro_f1"], "best F1": m["best_cut"]["f1"],
                        "ECE": m.get("calibration", {}).get("ece")})
    sections.append("<h2>Summary</h2>" + _table(summary, list(summary[0]) if summary else []))
    for system in SYSTEMS:
        m = result.get(system)
        if not m:
            continue
        plots = [_line_plot(f"{system}: P@k and R@k", m["curves"]["k"],
                            {"precision": m["curves"]["precision"], "recall": m["curves"]["recall"]}, "k")]
        if m.get("calibration"):
            bins = m["calibration"]["bins"]
            plots.append(_line_plot(f"{system}: calibration", [b["mean_score"] for b in bins],
                                    {"observed precision": [b["precision"] for b in bins]}, "mean score", diagonal=True))
        plots.append(_bar_plot(f"{system}: recall by chapter", m["per_chapter"], "chapter", "recall"))
        sections.append(f"<h2>{system}</h2><div class='plots'>{''.join(plots)}</div>")
        sections.append("<h3>Per chapter</h3>" + _table(m["per_chapter"], ["chapter", "support", "predicted", "precision", "recall"]))
        sections.append("<h3>Most missed codes</h3>" + _table(m["most_missed"], ["code", "missed"]))
        sections.append("<h3>Most wrongly suggested codes</h3>"
                        + _table(m["most_wrongly_suggested"], ["code", "wrong", "example_evidence"]))
        sections.append("<h3>Per code (top 100 by support)</h3>" + _table(
            m["per_code"][:100], ["code", "chapter", "support", "predicted", "true_positives", "precision", "recall"]))
    sections.append("<h2>Metric definitions</h2><pre>" + html.escape(METRIC_DEFINITIONS or "") + "</pre>")
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>" \
           f"<style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>"


def write_report(result: dict, path: str | Path, title: str = "medcode audit") -> None:
    Path(path).write_text(render_report(result, title), encoding="utf-8")
