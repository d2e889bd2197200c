"""Scoring models against coder decisions: ``medcode evaluate --decisions DB_URL``.

Two audits, in the report every other audit writes:

* **Acceptance** of what the coders were shown, from the decisions alone (no note text needed): per
  suggestion decided, its latest decision is *accepted*, *refined* (a physician query answered with a more
  specific code), *rejected* or *queried* (a query raised, not answered). The acceptance rate is
  (accepted + refined) / (accepted + refined + rejected), overall, per model id, per coder and per code;
  precision by rank is the same share among the suggestions decided at each rank (within the code
  system), and "precision at k" pools ranks 1..k. Codes the coders added are what the model missed.
* **Any model against the coders' final lists**, when notes are given (their texts are matched to the
  decisions by SHA-256): the model ranks those notes and is audited (MAP, P@k, R@k, F1, calibration) with
  each note's final list as the gold codes: the list a coder marked done, or else what the decisions add
  up to (:func:`medcode.decisions.state.final_codes`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

from medcode.about import DEFAULT_TOP_K, SYSTEMS
from medcode.codesets.kb import guess_system
from medcode.decisions.schema import ACCEPT, ADD, ANSWER, DONE, QUERY, REJECT
from medcode.decisions.state import final_codes, latest_by_code
from medcode.decisions.store import DecisionStore, note_hash

OUTCOMES = {ACCEPT: "accepted", ANSWER: "refined", REJECT: "rejected", QUERY: "queried"}
#: Ranks reported one by one; the rest are pooled.
RANKS = 10
PRECISION_AT = (1, 3, 5, 10)


def _notes(store: DecisionStore) -> Iterator[tuple[str, str, dict[str, dict]]]:
    """``(note id, hash, latest decision per code)`` for each note, on its latest text only."""
    rows: list[dict] = []
    for row in store.iter_decisions(by_note=True):
        if rows and row["note_id"] != rows[0]["note_id"]:
            yield _note_state(rows)
            rows = []
        rows.append(row)
    if rows:
        yield _note_state(rows)


def _note_state(rows: list[dict]) -> tuple[str, str, dict[str, dict]]:
    latest_hash = rows[-1]["note_hash"]
    return rows[0]["note_id"], latest_hash, latest_by_code(r for r in rows if r["note_hash"] == latest_hash)


def _rate(counts: Counter) -> dict:
    decided = counts["accepted"] + counts["refined"] + counts["rejected"]
    return {"decided": decided, "accepted": counts["accepted"], "refined": counts["refined"],
            "rejected": counts["rejected"], "queried": counts["queried"],
            "acceptance_rate": round((counts["accepted"] + counts["refined"]) / decided, 4) if decided else None}


def acceptance(store: DecisionStore, top_codes: int = 25) -> dict:
    """Acceptance of the suggestions coders decided on (see the module docstring)."""
    overall, by_model, by_coder, by_code = Counter(), defaultdict(Counter), defaultdict(Counter), defaultdict(Counter)
    by_rank: dict[int, Counter] = defaultdict(Counter)
    added, notes = Counter(), 0
    for _note_id, _hash, state in _notes(store):
        notes += 1
        for code, row in state.items():
            if row["action"] == ADD:
                added[code] += 1
                continue
            outcome = OUTCOMES.get(row["action"])
            if outcome is None or row.get("rank") is None:  # not a suggestion the coder was shown
                continue
            for counter in (overall, by_model[row.get("model_id") or "?"], by_coder[row["coder"]], by_code[code],
                            by_rank[min(row["rank"], RANKS + 1)]):
                counter[outcome] += 1
    ranks = [{"rank": str(r) if r <= RANKS else f">{RANKS}", **_rate(by_rank[r])} for r in sorted(by_rank)]
    for row in ranks:
        row["precision"] = row.pop("acceptance_rate")
    pooled = []
    for k in PRECISION_AT:
        counts = sum((by_rank[r] for r in by_rank if r <= k), Counter())
        rate = _rate(counts)
        pooled.append({"k": k, "decided": rate["decided"], "precision": rate["acceptance_rate"]})
    codes = sorted(by_code.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:top_codes]
    return {"notes": notes, **_rate(overall),
            "by_model": [{"model_id": m, **_rate(c)} for m, c in sorted(by_model.items())],
            "by_coder": [{"coder": name, **_rate(c)} for name, c in sorted(by_coder.items())],
            "by_rank": ranks, "precision_at": pooled,
            "by_code": [{"code": code, **_rate(c)} for code, c in codes],
            "added": {"codes": sum(added.values()), "most_added": [{"code": c, "added": n} for c, n in added.most_common(top_codes)]},
            "done_notes": sum(1 for _ in _done(store))}


def _done(store: DecisionStore) -> Iterator[dict]:
    latest: dict[tuple[str, str], dict] = {}
    for completion in store.completions():
        latest[(completion["note_id"], completion["note_hash"])] = completion
    return (c for c in latest.values() if c["status"] == DONE)


def final_lists(store: DecisionStore) -> dict[str, list[str]]:
    """``{note text hash: final codes}``: the list marked done, else what the decisions add up to."""
    finals = {hash_: final_codes(state) for _id, hash_, state in _notes(store)}
    for completion in _done(store):
        finals[completion["note_hash"]] = completion["codes"]
    return {h: codes for h, codes in finals.items() if codes}


def evaluate_decisions(store: DecisionStore, model=None, notes=None, top_k: int = DEFAULT_TOP_K,
                       threshold: float = 0.5) -> dict:
    """Acceptance from the decisions; with a model and notes, the model audited against the final lists.

    Args:
        store: the decisions database.
        model: a :class:`medcode.Medcoder` to score (with ``notes``).
        notes: notes whose texts the decisions were made on (matched by SHA-256; others are left out).
        top_k: suggestions per note and system, as ``medcode predict``.
        threshold: score at which a suggestion counts as assigned, for F1.

    Returns:
        ``{"decisions": acceptance figures, "database"}`` and, with a model, the audit's figures per system
        plus ``"notes"`` (notes matched) and ``"unmatched"`` (notes given without decisions).
    """
    result = {"decisions": acceptance(store), "database": store.display_url}
    if model is None or notes is None:
        return result
    from medcode.evaluation.audit import audit
    from medcode.evaluation.predictions import model_predictions

    finals = final_lists(store)
    matched = [n for n in notes if note_hash(n.text) in finals]
    gold = {s: {} for s in SYSTEMS}
    for note in matched:
        for code in finals[note_hash(note.text)]:
            gold[guess_system(code)].setdefault(note.id, []).append(code)
    result.update(audit(model_predictions(model, matched, top_k), gold, threshold=threshold))
    result.update({"notes": len(matched), "unmatched": len(notes) - len(matched), "top_k": top_k})
    return result
