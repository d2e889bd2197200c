"""Ranking, classification and calibration metrics: one implementation of each.

Ranking metrics as in the CodiEsp shared task (per code system; a note counts when it has at least
one gold code of that system):

* **AP** of a note: the sum, over the ranks ``k`` at which a gold code is predicted, of precision at
  ``k``, divided by the number of gold codes. A note with no prediction scores 0.
* **MAP**: mean AP over the gold notes.
* **P@k**: gold codes among the first ``k`` predictions, divided by ``k`` (a list shorter than ``k``
  still divides by ``k``), averaged over gold notes.
* **R@k**: gold codes among the first ``k`` predictions, divided by the note's number of gold codes.

Predictions are taken in the order given: ties are never re-sorted (the official CodiEsp script, through
trectools, re-sorts equal scores by code, which scores an alphabetical order rather than the ranking).

F1 (scikit-learn's), bootstrap intervals (SciPy's percentile bootstrap) and the reliability table
(scikit-learn's ``calibration_curve`` bins) are taken from those libraries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer

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


def per_note_metrics(predictions: Mapping[str, Sequence[str]], gold: Mapping[str, Sequence[str]],
                     cutoffs: Sequence[int] = CUTOFFS) -> dict[str, np.ndarray]:
    """Per gold note: AP and P@k / R@k for each cutoff (the inputs of means, intervals and paired tests).

    Returns:
        ``{"notes": ids, "AP": [...], "P@k": [...], "R@k": [...]}``, arrays in the order of ``gold``.
    """
    notes = [n for n, codes in gold.items() if codes]
    out: dict[str, list] = {"AP": [], **{f"P@{k}": [] for k in cutoffs}, **{f"R@{k}": [] for k in cutoffs}}
    for note in notes:
        truth = set(gold[note])
        ranked = list(predictions.get(note, []))
        out["AP"].append(average_precision(ranked, truth))
        for k in cutoffs:
            found = len(truth & set(ranked[:k]))
            out[f"P@{k}"].append(found / k)
            out[f"R@{k}"].append(found / len(truth))
    return {"notes": np.array(notes, dtype=object), **{k: np.array(v, dtype=float) for k, v in out.items()}}


def ranking_metrics(predictions: Mapping[str, Sequence[str]], gold: Mapping[str, Sequence[str]],
                    cutoffs: Sequence[int] = CUTOFFS) -> dict:
    """MAP, P@k and R@k over the notes that have gold codes.

    Args:
        predictions: note id to ranked codes (best first).
        gold: note id to gold codes; notes without gold codes are ignored.
        cutoffs: the values of k.

    Returns:
        ``{"notes", "MAP", "P@1", "P@5", ..., "R@30"}``.
    """
    per_note = per_note_metrics(predictions, gold, cutoffs)
    n = len(per_note["notes"])
    if not n:
        return {"notes": 0, "MAP": 0.0}
    out = {"notes": n, "MAP": float(per_note["AP"].mean())}
    for k in cutoffs:
        out[f"P@{k}"] = float(per_note[f"P@{k}"].mean())
        out[f"R@{k}"] = float(per_note[f"R@{k}"].mean())
    return out


def bootstrap_ci(values: np.ndarray, rounds: int, seed: int) -> tuple[float, float]:
    """95% percentile-bootstrap interval of a mean (SciPy), ``(0, 0)`` for no values."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return (0.0, 0.0)
    if np.all(values == values[0]):  # SciPy warns on a degenerate sample; its interval is the value
        return (float(values[0]), float(values[0]))
    result = stats.bootstrap((values,), np.mean, n_resamples=rounds, confidence_level=0.95,
                             method="percentile", random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def bootstrap_means(values: np.ndarray, rounds: int, seed: int) -> np.ndarray:
    """The bootstrap distribution of a mean (SciPy's resampling), for paired tests."""
    result = stats.bootstrap((np.asarray(values, dtype=float),), np.mean, n_resamples=rounds,
                             method="percentile", random_state=np.random.default_rng(seed))
    return result.bootstrap_distribution


def set_f1(assigned: set[tuple[str, str]], gold: set[tuple[str, str]]) -> dict:
    """Micro precision, recall and F1 and macro F1 of assigned ``(note, code)`` pairs (scikit-learn).

    Macro F1 averages per-code F1 over the codes that occur in gold or among the assigned pairs.
    """
    notes = sorted({n for n, _ in gold | assigned})
    if not notes:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "macro_f1": 0.0}
    row = {n: i for i, n in enumerate(notes)}
    truth, pred = [[] for _ in notes], [[] for _ in notes]
    for note, code in gold:
        truth[row[note]].append(code)
    for note, code in assigned:
        pred[row[note]].append(code)
    binarizer = MultiLabelBinarizer(sparse_output=True).fit(truth + pred)
    y_true, y_pred = binarizer.transform(truth), binarizer.transform(pred)
    labels = list(range(y_true.shape[1]))
    # One empty column more: with a single code scikit-learn would read the matrix as binary targets,
    # which it refuses in sparse form; the extra column is left out of every average by `labels`.
    y_true, y_pred = (sp.hstack([m, sp.csr_matrix((m.shape[0], 1), dtype=m.dtype)], format="csr") for m in (y_true, y_pred))
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="micro", zero_division=0)
    _, _, macro, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f), "macro_f1": float(macro)}


def reliability_table(scores: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean score vs observed precision per score bin, and the bin's size (for ECE and plots).

    Bins are scikit-learn's ``calibration_curve`` uniform bins (its ``prob_true`` / ``prob_pred``);
    only non-empty bins are listed.
    """
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=float)
    if len(scores) == 0:
        return []
    precision, mean_score = calibration_curve(labels, scores, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    # The same binning calibration_curve uses, for the counts it does not return.
    which = np.searchsorted(edges[1:-1], scores)
    counts = np.bincount(which, minlength=bins)
    filled = np.flatnonzero(counts)
    return [{"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "n": int(counts[b]),
             "mean_score": float(ms), "precision": float(p)}
            for b, ms, p in zip(filled, mean_score, precision)]


def expected_calibration_error(table: list[dict]) -> float:
    """ECE: bin-size-weighted mean gap between score and precision."""
    total = sum(row["n"] for row in table) or 1
    return sum(row["n"] * abs(row["mean_score"] - row["precision"]) for row in table) / total


def code_recall(predictions: Mapping[str, Sequence[str]], gold: Mapping[str, Sequence[str]], k: int,
                level=None) -> dict:
    """Share of gold codes found among each note's first ``k`` predictions (micro over gold codes).

    Args:
        predictions: note id to ranked codes.
        gold: note id to gold codes.
        k: the cutoff.
        level: maps a code to what must match (e.g. ``lambda c: c[:3]`` for the category); the
            exact code when ``None``.

    Returns:
        ``{"recall", "found", "gold"}``.
    """
    level = level or (lambda code: code)
    found = total = 0
    for note, codes in gold.items():
        top = {level(c) for c in list(predictions.get(note, []))[:k]}
        for code in dict.fromkeys(codes):
            total += 1
            found += level(code) in top
    return {"recall": found / total if total else 0.0, "found": found, "gold": total}
