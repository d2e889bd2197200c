"""Ranking metrics, as in the CodiEsp shared task.

Definitions (per code system; a note counts when it has at least one gold code of that system):

* **AP** of a note: the sum, over the ranks ``k`` at which a gold code is predicted, of precision at
  ``k``, divided by the number of gold codes. A note with no prediction scores 0.
* **MAP**: mean AP over the gold notes.
* **P@k**: gold codes among the first ``k`` predictions, divided by ``k`` (a list shorter than ``k``
  still divides by ``k``), averaged over gold notes.
* **R@k**: gold codes among the first ``k`` predictions, divided by the note's number of gold codes.

Predictions are taken in the order given: ties are never re-sorted (the official CodiEsp script, through
trectools, re-sorts equal scores by code, which scores an alphabetical order rather than the ranking).
"""

from __future__ import annotations

from typing import Mapping, Sequence

CUTOFFS = (1, 5, 10, 30)


def average_precision(ranked: Sequence[str], gold: set[str]) -> float:
    """AP of one ranked list against a set of gold codes (0 when there is no gold)."""
    if not gold:
        return 0.0
    hits, total, seen = 0, 0.0, set()
    for k, code in enumerate(ranked, start=1):
        if code in gold and code not in seen:
            hits += 1
            total += hits / k
        seen.add(code)
    return total / len(gold)


def ranking_metrics(predictions: Mapping[str, Sequence[str]], gold: Mapping[str, Sequence[str]]) -> dict:
    """MAP, P@k and R@k over the notes that have gold codes.

    Args:
        predictions: note id to ranked codes (best first).
        gold: note id to gold codes; notes without gold codes are ignored.

    Returns:
        ``{"MAP", "P@5", "P@10", "R@10", "R@30", ..., "notes"}``.
    """
    notes = [n for n, codes in gold.items() if codes]
    out = {"notes": len(notes)}
    if not notes:
        return out | {"MAP": 0.0}
    aps, precision, recall = [], {k: [] for k in CUTOFFS}, {k: [] for k in CUTOFFS}
    for note in notes:
        truth = set(gold[note])
        ranked = list(predictions.get(note, []))
        aps.append(average_precision(ranked, truth))
        for k in CUTOFFS:
            found = len(truth & set(ranked[:k]))
            precision[k].append(found / k)
            recall[k].append(found / len(truth))
    out["MAP"] = sum(aps) / len(aps)
    for k in CUTOFFS:
        out[f"P@{k}"] = sum(precision[k]) / len(notes)
        out[f"R@{k}"] = sum(recall[k]) / len(notes)
    return out
