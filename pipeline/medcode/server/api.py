"""The versioned HTTP API: ``/v1/suggest``, ``/v1/codes/...``, ``/v1/decisions`` and ``/health``.

Handlers are plain functions (FastAPI runs them in its thread pool): scoring and database writes block.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query

from medcode.about import __version__
from medcode.codesets.kb import guess_system, normalize_code
from medcode.decisions.schema import ANSWER
from medcode.decisions.store import new_id, note_hash
from medcode.notes import Note, check_text
from medcode.server.bench import ApiError, Workbench, get_bench
from medcode.server.schemas import (
    CodesIn,
    DecisionIn,
    DecisionsIn,
    Problem,
    Record,
    Recorded,
    Records,
    SuggestIn,
)

router = APIRouter()
ERRORS = {401: {"model": Problem, "description": "No or wrong access token."},
          413: {"model": Problem, "description": "Over a request limit (body size, batch size)."},
          422: {"model": Problem, "description": "A note that cannot be scored, or a malformed request."}}


@router.get("/health", tags=["server"], summary="Model, code-set releases, version, database")
def health(bench: Workbench = Depends(get_bench)) -> dict:
    """The model served (its id is the SHA-256 of its manifest), the code-set releases, medcode's version."""
    meta = bench.scorer.coder.meta
    return {"status": "ok", "version": __version__,
            "model": {"id": bench.scorer.model_id, "path": bench.settings.model_path, "created": meta.get("created"),
                      "trained_on": meta.get("training", {}).get("corpus"),
                      "format": meta.get("model_format")},
            "model_id": bench.scorer.model_id, "releases": bench.scorer.coder.release,
            "code_sets": "ready" if bench.codesets.ready else "loading",
            "database": {"dialect": bench.store.dialect, "keeps_text": bench.settings.keep_text},
            "worklist": {"notes": len(bench.worklist), "unreadable": len(bench.worklist.errors)}}


@router.get("/v1/session", tags=["server"], summary="What the review page needs to start")
def session(bench: Workbench = Depends(get_bench)) -> dict:
    s = bench.settings
    return {"coder": s.coder, "keep_text": s.keep_text, "top_k": s.top_k, "model_id": bench.scorer.model_id,
            "releases": bench.scorer.coder.release, "version": __version__, "worklist_source": bench.worklist.source,
            "limits": {"max_chars": s.max_chars, "max_batch": s.max_batch, "max_decisions": s.max_decisions,
                       "max_codes": s.max_codes, "max_body_bytes": s.max_body_bytes}}


@router.post("/v1/suggest", tags=["suggest"], summary="Suggest codes for one note or a batch",
             response_model=None, responses={200: {"model": Record | Records}, **ERRORS})
def suggest(body: SuggestIn, bench: Workbench = Depends(get_bench)) -> dict:
    """``{"text"}`` is answered with one record (the JSON ``medcode suggest --json`` prints);
    ``{"notes": [{"id", "text"}, ...]}`` with ``{"results": [record, ...]}`` in the same order.

    A note that is empty, over the size limit or that the model fails on is a 422 naming it.
    """
    if (body.text is None) == (body.notes is None):
        raise ApiError(422, "invalid_request", "give either text (one note) or notes (a batch), not both")
    if body.text is not None:
        return bench.scorer.score([Note(body.id or "note", body.text)], body.top_k)[0]
    limit = bench.settings.max_batch
    if len(body.notes) > limit:
        raise ApiError(413, "batch_too_large", f"the batch has {len(body.notes)} notes, over the limit of {limit} "
                                               "(send several requests)")
    seen = set()
    for note in body.notes:
        if note.id in seen:
            raise ApiError(422, "duplicate_id", f"note {note.id!r} appears twice in the batch")
        seen.add(note.id)
    return {"results": bench.scorer.score([Note(n.id, n.text) for n in body.notes], body.top_k)}


@router.get("/v1/codes/search", tags=["codes"], summary="Find codes by words of their titles")
def codes_search(q: str = Query(min_length=1, max_length=200, description="Words to look for."),
                 limit: int = Query(20, ge=1, le=100),
                 system: Literal["ICD-10-CM", "ICD-10-PCS"] | None = Query(None),
                 bench: Workbench = Depends(get_bench)) -> list[dict]:
    """Codes whose titles and inclusion terms share the most words with ``q``, billable and shorter first."""
    from medcode.codesets.lookup import search_codes

    return search_codes(q, bench.codesets.get(), limit=limit, system=system)


@router.get("/v1/codes/{code}", tags=["codes"], summary="Everything about one code",
            responses={404: {"model": Problem, "description": "The release has no such code."}})
def codes_show(code: str, bench: Workbench = Depends(get_bench)) -> dict:
    """Title, hierarchy, inclusion terms, Excludes1/2, code-first notes, 7th characters, children, query."""
    from medcode.codesets.lookup import show_code

    if len(code) > 16:
        raise ApiError(422, "invalid_request", "a code has at most 16 characters")
    return show_code(code, bench.codesets.get())


@router.post("/v1/codes/validate", tags=["codes"], summary="Check codes as a claim would carry them",
             responses=ERRORS)
def codes_validate(body: CodesIn, bench: Workbench = Depends(get_bench)) -> dict:
    """In the release, billable, 7th character, Excludes1 pairs within the list, code-first notes.
    ``valid`` is false when any code is not reportable as it stands (the answer is still 200)."""
    from medcode.codesets.lookup import validate_codes

    if len(body.codes) > bench.settings.max_codes:
        raise ApiError(413, "too_many_codes", f"{len(body.codes)} codes, over the limit of {bench.settings.max_codes}")
    return validate_codes([c[:16] for c in body.codes], bench.codesets.get())


@router.post("/v1/decisions", tags=["decisions"], summary="Record coder decisions", response_model=Recorded,
             responses=ERRORS)
def post_decisions(body: DecisionsIn | DecisionIn, bench: Workbench = Depends(get_bench)) -> Recorded:
    """One decision, or ``{"decisions": [...]}``. Each is kept with the note id and the SHA-256 of its text (the
    text only if the server keeps text), the coder, the time, the model id and the code-set release.

    A ``decision_id`` already recorded (a retried request) is not recorded again: it counts as a duplicate.
    """
    items = body.decisions if isinstance(body, DecisionsIn) else [body]
    if len(items) > bench.settings.max_decisions:
        raise ApiError(413, "too_many_decisions",
                       f"{len(items)} decisions, over the limit of {bench.settings.max_decisions} per request")
    rows = [decision_row(item, bench) for item in items]
    recorded = bench.store.record(rows)
    return Recorded(recorded=len(recorded), duplicates=len(rows) - len(recorded),
                    decision_ids=[row["decision_id"] for row in rows])


@router.get("/v1/decisions", tags=["decisions"], summary="List decisions (oldest first)")
def get_decisions(note_id: str | None = Query(None, max_length=200), coder: str | None = Query(None, max_length=100),
                  after: int = Query(0, ge=0, description="Only decisions recorded after this row id (paging)."),
                  limit: int = Query(1000, ge=1, le=10000),
                  bench: Workbench = Depends(get_bench)) -> dict:
    rows = []
    for row in bench.store.iter_decisions(note_id=note_id, coder=coder, after_id=after):
        row.pop("note_text", None)
        rows.append(row)
        if len(rows) == limit:
            break
    return {"decisions": rows, "next_after": rows[-1]["id"] if len(rows) == limit else None}


def decision_row(item: DecisionIn, bench: Workbench) -> dict:
    """A decision as the store keeps it: note hash from the worklist (or the text sent), code normalised,
    model id and release filled in by the server (a client cannot claim another model)."""
    note = bench.worklist.get(item.note_id)
    text = None
    if item.text is not None:
        error = check_text(item.note_id, item.text, bench.settings.max_chars)
        if error:
            raise ApiError(422, "invalid_note", f"note {item.note_id!r}: {error.reason}")
        text, hash_ = item.text, note_hash(item.text)
    elif item.note_hash:
        hash_ = item.note_hash
    elif note is not None:
        text, hash_ = note.text, note.hash
    else:
        raise ApiError(422, "unknown_note", f"note {item.note_id!r} is not in the worklist: send its note_hash "
                                            "(SHA-256 of the text) or its text")
    system = guess_system(item.code)
    answer = normalize_code(item.query_answer, guess_system(item.query_answer)) if item.query_answer else None
    if item.action == ANSWER and not answer:
        raise ApiError(422, "invalid_request", f"note {item.note_id!r}, {item.code}: an answer needs query_answer "
                                               "(the more specific code chosen)")
    return {"decision_id": item.decision_id or new_id(), "note_id": item.note_id, "note_hash": hash_,
            "note_text": text if bench.settings.keep_text else None, "code": normalize_code(item.code, system),
            "system": system, "action": item.action,
            "query_answer": answer, "coder": item.coder or bench.settings.coder, "model_id": bench.scorer.model_id,
            "code_release": bench.scorer.coder.release[system], "rank": item.rank, "score": item.score, "source": item.source}
