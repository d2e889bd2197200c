"""A self-contained HTML audit report: a Jinja2 template, matplotlib plots inlined as SVG.

The page has no external files, scripts or fonts: it opens offline and can be archived with the audit.
"""

from __future__ import annotations

import io
from pathlib import Path

from medcode.about import RELEASE, SYSTEMS, __version__
from medcode.evaluation.audit import __doc__ as METRIC_DEFINITIONS


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _environment():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("medcode.evaluation", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    return env


def _svg(figure) -> str:
    """A matplotlib figure as an inline SVG element (text kept as text, no fonts embedded)."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


def _plots(system: str, metrics: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # no display: reports are written by servers and CI
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["svg.hashsalt"] = "medcode"  # element ids from content, not random: same report, same bytes
    plots = []
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    ax.plot(metrics["curves"]["k"], metrics["curves"]["precision"], label="precision")
    ax.plot(metrics["curves"]["k"], metrics["curves"]["recall"], label="recall")
    ax.set(title=f"{system}: P@k and R@k", xlabel="k", ylim=(0, 1))
    ax.legend()
    plots.append(_svg(fig))
    if metrics.get("calibration"):
        bins = metrics["calibration"]["bins"]
        fig, ax = plt.subplots(figsize=(4.2, 3.0))
        ax.plot([0, 1], [0, 1], linestyle="--", color="#bbb")
        ax.plot([b["mean_score"] for b in bins], [b["precision"] for b in bins], marker="o", label="observed precision")
        ax.set(title=f"{system}: calibration", xlabel="mean score", ylabel="precision", xlim=(0, 1), ylim=(0, 1))
        plots.append(_svg(fig))
    rows = [r for r in metrics["per_chapter"] if r.get("recall") is not None][:15]
    if rows:
        fig, ax = plt.subplots(figsize=(5.0, 0.3 * len(rows) + 1.0))
        ax.barh([str(r["chapter"])[:30] for r in rows][::-1], [r["recall"] for r in rows][::-1])
        ax.set(title=f"{system}: recall by chapter", xlim=(0, 1))
        plots.append(_svg(fig))
    return plots


def render_report(result: dict, title: str = "medcode audit") -> str:
    """The HTML of an audit result (see :func:`medcode.evaluation.audit.audit`)."""
    systems, summary = [], []
    for name in SYSTEMS:
        m = result.get(name)
        if not m:
            continue
        ci = m["ci95"]["MAP"]
        summary.append({"system": name, "notes": m["notes"], "MAP": m["MAP"], "MAP 95% CI": f"{ci[0]:.3f}–{ci[1]:.3f}",
                        "P@5": m["P@5"], "R@30": m["R@30"], "micro F1": m["at_threshold"]["f1"],
                        "macro F1": m["at_threshold"]["macro_f1"], "best F1": m["best_cut"]["f1"],
                        "ECE": m.get("calibration", {}).get("ece")})
        systems.append({"name": name, "metrics": m, "plots": _plots(name, m)})
    return _environment().get_template("report.html.j2").render(
        title=title, version=__version__, releases=list(RELEASE.values()), result=result, summary=summary,
        summary_columns=list(summary[0]) if summary else [], systems=systems, definitions=METRIC_DEFINITIONS or "")


def write_report(result: dict, path: str | Path, title: str = "medcode audit") -> None:
    """Write the report to ``path`` (atomically)."""
    from medcode.batch.files import write_text

    write_text(path, render_report(result, title), flag="--report")
