"""The worklist and the review of each note: its suggestions, its decisions, its final list, done.

A note is done when a coder marks it so and its final list (accepted and added codes, the answers of
physician queries) is claim-ready: every code billable, 7th characters present, no Excludes1 pair, no query
left open. The check is :func:`medcode.codesets.lookup.validate_codes`, as ``medcode codes validate``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from medcode.decisions.schema import DONE, REOPENED
from medcode.decisions.state import final_codes, latest_by_code, pending_queries
from medcode.errors import InputError
from medcode.server.api import ERRORS
from medcode.server.bench import ApiError, Workbench, get_bench
from medcode.server.schemas import CompleteIn, PasteIn
from medcode.server.worklist import WorkNote

router = APIRouter(tags=["worklist"])
#: Decision fields the page shows for a code.
STATE_FIELDS = ("action", "query_answer", "coder", "created_at", "system")


@router.get("/v1/worklist", summary="The notes to review, with their progress")
def worklist(bench: Workbench = Depends(get_bench)) -> dict:
    """Every note (id, length, where it came from, ``new`` / ``in_progress`` / ``done``), the notes of the
    worklist input that could not be read (with the reason), and how many are done."""
    summaries = bench.store.note_summaries()
    notes, done = [], 0
    for note in bench.worklist:
        summary = summaries.get((note.id, note.hash), {"decisions": 0, "status": None})
        status = "done" if summary["status"] == DONE else "in_progress" if summary["decisions"] else "new"
        done += status == "done"
        notes.append({"id": note.id, "chars": len(note.text), "source": note.source, "status": status,
                      "decisions": summary["decisions"]})
    return {"source": bench.worklist.source, "total": len(notes), "done": done, "notes": notes,
            "unreadable": [e.as_dict() for e in bench.worklist.errors]}


@router.post("/v1/worklist", summary="Add pasted notes to the worklist", responses=ERRORS)
def paste(body: PasteIn, bench: Workbench = Depends(get_bench)) -> dict:
    """Pasted notes are kept in memory for this server's life (their decisions are kept in the database)."""
    if len(body.notes) > bench.settings.max_batch:
        raise ApiError(413, "batch_too_large", f"{len(body.notes)} notes, over the limit of {bench.settings.max_batch}")
    added = []
    for item in body.notes:
        try:
            added.append(bench.worklist.add(item.text, item.id, bench.settings.max_chars).id)
        except InputError as exc:
            raise ApiError(422, "invalid_note", str(exc), note=item.id) from None
    return {"added": added, "total": len(bench.worklist)}


@router.get("/v1/worklist/{note_id:path}", summary="One note: text, suggestions and review", responses=ERRORS)
def note(note_id: str, bench: Workbench = Depends(get_bench)) -> dict:
    """The note's text, its record (as ``/v1/suggest``, with the page's number of suggestions per system) and
    its review (see ``/v1/reviews/{note_id}``)."""
    item = _note(note_id, bench)
    record = bench.scorer.cached(item.id, item.hash, item.text, bench.settings.top_k)
    return {"id": item.id, "text": item.text, "hash": item.hash, "source": item.source, "record": record,
            "review": review_of(item, bench)}


@router.get("/v1/reviews/{note_id:path}", summary="A note's decisions, final list and its validation")
def review(note_id: str, bench: Workbench = Depends(get_bench)) -> dict:
    """The latest decision per code, the final list, whether it is claim-ready, and whether the note is done."""
    return review_of(_note(note_id, bench), bench)


@router.post("/v1/worklist/{note_id:path}/done", summary="Mark a note done (its final list must be claim-ready)",
             responses=ERRORS)
def mark_done(note_id: str, body: CompleteIn | None = None, bench: Workbench = Depends(get_bench)) -> dict:
    """Refused (422, ``not_claim_ready``, with the review) unless the final list is non-empty, every code is
    billable with its 7th character, no two codes form an Excludes1 pair and no physician query is open."""
    item = _note(note_id, bench)
    current = review_of(item, bench)
    problems = claim_problems(current)
    if problems:
        raise ApiError(422, "not_claim_ready", f"note {item.id!r} is not claim-ready: " + "; ".join(problems),
                       review=current)
    coder = (body.coder if body else None) or bench.settings.coder
    bench.store.complete(item.id, item.hash, current["final"], coder, DONE, bench.scorer.model_id, bench.scorer.coder.release)
    return review_of(item, bench)


@router.post("/v1/worklist/{note_id:path}/reopen", summary="Reopen a note marked done")
def reopen(note_id: str, body: CompleteIn | None = None, bench: Workbench = Depends(get_bench)) -> dict:
    item = _note(note_id, bench)
    current = review_of(item, bench)
    coder = (body.coder if body else None) or bench.settings.coder
    bench.store.complete(item.id, item.hash, current["final"], coder, REOPENED, bench.scorer.model_id, bench.scorer.coder.release)
    return review_of(item, bench)


def _note(note_id: str, bench: Workbench) -> WorkNote:
    item = bench.worklist.get(note_id)
    if item is None:
        raise ApiError(404, "unknown_note", f"note {note_id!r} is not in the worklist")
    return item


def review_of(item: WorkNote, bench: Workbench) -> dict:
    """A note's review: latest decision per code, final list and its validation, open queries, status."""
    from medcode.codesets.lookup import validate_codes

    state = latest_by_code(bench.store.decisions(item.id, item.hash))
    final = final_codes(state)
    completions = bench.store.completions(item.id, item.hash)
    last = completions[-1] if completions else None
    return {"note_id": item.id,
            "state": {code: {k: row.get(k) for k in STATE_FIELDS} for code, row in state.items()},
            "final": final, "validation": validate_codes(final, bench.codesets.get()) if final else None,
            "pending_queries": pending_queries(state), "status": last["status"] if last else None,
            "completed": {k: last[k] for k in ("coder", "created_at", "codes")} if last else None}


def claim_problems(current: dict) -> list[str]:
    """Why a note's final list cannot go on a claim (empty when it can)."""
    problems = []
    if not current["final"]:
        problems.append("the final list is empty (accept or add a code)")
    if current["pending_queries"]:
        problems.append(f"physician query open on {', '.join(current['pending_queries'])}")
    validation = current["validation"] or {"codes": [], "conflicts": []}
    for result in validation["codes"]:
        if not result["valid"]:
            problems.append(result["messages"][0] if result["messages"] else f"{result['code']}: {result['status']}")
    for conflict in validation["conflicts"]:
        a, b = conflict["codes"]
        problems.append(f"{a} and {b} cannot be reported together (Excludes1)")
    return problems
