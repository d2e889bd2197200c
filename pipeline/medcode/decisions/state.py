"""What a note's decisions add up to: the latest action per code, the final code list, a feedback line.

Decisions are a log in recording order; the latest one on a code wins (``undo`` clears it). The final
list, the codes a coder reports, holds the accepted and added codes and, for an answered physician query,
the more specific code chosen instead of the one suggested; a code waiting on a raised query is not in it.
"""

from __future__ import annotations

from collections.abc import Iterable

from medcode.decisions.schema import ACCEPT, ADD, ANSWER, QUERY, REJECT, UNDO


def latest_by_code(rows: Iterable[dict]) -> dict[str, dict]:
    """``{code: latest decision}`` over decisions in recording order (a code whose latest is ``undo`` is absent)."""
    state: dict[str, dict] = {}
    for row in rows:
        if row["action"] == UNDO:
            state.pop(row["code"], None)
        else:
            state.pop(row["code"], None)  # re-insert: dict order is then the order of the latest decisions
            state[row["code"]] = row
    return state


def final_codes(state: dict[str, dict]) -> list[str]:
    """The codes to report: accepted, added, and the chosen answer of each answered query (no repeats)."""
    codes: dict[str, None] = {}
    for code, row in state.items():
        if row["action"] in (ACCEPT, ADD):
            codes[code] = None
        elif row["action"] == ANSWER:
            codes[row["query_answer"]] = None
    # A code chosen as an answer and then rejected on its own is not reported.
    return [c for c in codes if state.get(c, {}).get("action") != REJECT]


def pending_queries(state: dict[str, dict]) -> list[str]:
    """Codes on which the coder raised a physician query that is not answered yet."""
    return [code for code, row in state.items() if row["action"] == QUERY]


def feedback_line(note_id: str, state: dict[str, dict], text: str | None = None) -> dict:
    """One line of the feedback file ``medcode train --feedback`` reads.

    ``{"id", "accepted", "rejected", "added", "text"?}``: an answered query counts the suggested code as
    rejected and the chosen, more specific code as added (the claim carries the specific one), unless the
    coder chose the suggested code itself.
    """
    accepted, rejected, added = [], [], []
    for code, row in state.items():
        action = row["action"]
        if action == ACCEPT:
            accepted.append(code)
        elif action == REJECT:
            rejected.append(code)
        elif action == ADD:
            added.append(code)
        elif action == ANSWER:
            if row["query_answer"] == code:
                accepted.append(code)
            else:
                rejected.append(code)
                added.append(row["query_answer"])
    added = [c for c in dict.fromkeys(added) if c not in accepted and c not in rejected]
    line = {"id": note_id, "accepted": accepted, "rejected": rejected, "added": added}
    if text is not None:
        line["text"] = text
    return line
