"""Audit-grade evaluation of ranked code suggestions against gold codes.

Works on any predictions: medcode JSONL (ranked suggestions with scores and evidence) or a CodiEsp-style TSV
(``id<TAB>code``, one line per prediction, in rank order, no scores). Gold comes as a CodiEsp TSV, JSONL
with ``codes``, or a CodiEsp folder. Every gold note counts; a gold note without predictions scores 0.

Metric definitions (also written into the HTML report):

* AP, MAP, P@k, R@k: see :mod:`medcode.evaluation.metrics` (predictions in the order given, never re-sorted).
* F1 at a threshold: a suggestion counts as "assigned" when its score is at least the threshold (TSV
  predictions, which have no scores, assign everything submitted). Micro F1 pools all (note, code) pairs;
  macro F1 averages per-code F1 over the codes that occur in gold or predictions.
* 95% confidence intervals: percentile bootstrap over gold notes (1,000 resamples, fixed seed).
* Calibration: suggestions binned by score; per bin the mean score and the share that were gold codes;
  ECE is the size-weighted mean gap.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from medcode.about import PCS, SYSTEMS
from medcode.evaluation.metrics import (
    bootstrap_ci,
    bootstrap_means,
    expected_calibration_error,
    per_note_metrics,
    ranking_metrics,
    reliability_table,
    set_f1,
)
from medcode.evaluation.predictions import Predictions

#: ICD-10-CM chapters by first character range (FY2026), for per-chapter tables.
CM_CHAPTERS = [
    ("A00", "B99", "1 Infectious and parasitic"), ("C00", "D49", "2 Neoplasms"), ("D50", "D89", "3 Blood and immune"),
    ("E00", "E89", "4 Endocrine and metabolic"), ("F01", "F99", "5 Mental and behavioural"), ("G00", "G99", "6 Nervous system"),
    ("H00", "H59", "7 Eye"), ("H60", "H95", "8 Ear"), ("I00", "I99", "9 Circulatory"), ("J00", "J99", "10 Respiratory"),
    ("K00", "K95", "11 Digestive"), ("L00", "L99", "12 Skin"), ("M00", "M99", "13 Musculoskeletal"),
    ("N00", "N99", "14 Genitourinary"), ("O00", "O9A", "15 Pregnancy"), ("P00", "P96", "16 Perinatal"),
    ("Q00", "Q99", "17 Congenital"), ("R00", "R99", "18 Symptoms and findings"), ("S00", "T88", "19 Injury and poisoning"),
    ("U00", "U85", "22 Special purposes"), ("V00", "Y99", "20 External causes"), ("Z00", "Z99", "21 Health status"),
]
PCS_SECTIONS = {"0": "Medical and Surgical", "1": "Obstetrics", "2": "Placement", "3": "Administration",
                "4": "Measurement and Monitoring", "5": "Extracorporeal Assistance", "6": "Extracorporeal Therapies",
                "7": "Osteopathic", "8": "Other Procedures", "9": "Chiropractic", "B": "Imaging", "C": "Nuclear Medicine",
                "D": "Radiation Therapy", "F": "Rehabilitation", "G": "Mental Health", "H": "Substance Abuse",
                "X": "New Technology"}
#: Per-note figures that get bootstrap intervals.
INTERVALS = {"MAP": "AP", "P@5": "P@5", "R@30": "R@30"}


def chapter(code: str, system: str) -> str:
    """The chapter (ICD-10-CM) or section (ICD-10-PCS) a code belongs to."""
    if system == PCS:
        return f"{code[:1]} {PCS_SECTIONS.get(code[:1], '?')}"
    category = code[:3]
    for low, high, name in CM_CHAPTERS:
        if low <= category <= high:
            return name
    return "?"


def _assigned(preds: Predictions, system: str, gold_notes, threshold: float | None) -> set:
    out = set()
    for note in gold_notes:
        codes = preds.ranked[system].get(note, [])
        scores = preds.scores[system].get(note, [])
        for i, code in enumerate(codes):
            if threshold is None or (i < len(scores) and scores[i] >= threshold):
                out.add((note, code))
    return out


def _best_cut(preds: Predictions, system: str, gold_notes: list[str], gold_pairs: set) -> dict:
    """The operating point with the best micro F1: a score threshold, or a top-k cut without scores."""
    best = {"f1": -1.0}
    if preds.has_scores:
        for t in np.arange(0.05, 1.0, 0.05):
            candidate = {**set_f1(_assigned(preds, system, gold_notes, float(t)), gold_pairs), "threshold": round(float(t), 2)}
            if candidate["f1"] > best["f1"]:
                best = candidate
    else:
        ranked = preds.ranked[system]
        for k in (1, 2, 3, 5, 10, 15, 20, 30):
            cut = {(n, c) for n in gold_notes for c in ranked.get(n, [])[:k]}
            candidate = {**set_f1(cut, gold_pairs), "top_k": k}
            if candidate["f1"] > best["f1"]:
                best = candidate
    best.pop("macro_f1", None)
    return best


def _per_code(system: str, assigned: set, gold_pairs: set, preds: Predictions, top_codes: int) -> dict:
    """Per-code and per-chapter tables, most missed and most wrongly suggested codes."""
    support = Counter(code for _, code in gold_pairs)
    predicted = Counter(code for _, code in assigned)
    tp = Counter(code for pair in assigned if pair in gold_pairs for code in [pair[1]])
    codes = sorted(set(support) | set(predicted), key=lambda c: (-support[c], c))
    rows = [{"code": c, "chapter": chapter(c, system), "support": support[c], "predicted": predicted[c],
             "true_positives": tp[c], "precision": tp[c] / predicted[c] if predicted[c] else None,
             "recall": tp[c] / support[c] if support[c] else None} for c in codes]
    chapters: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        totals = chapters[row["chapter"]]
        totals[0] += row["support"]
        totals[1] += row["predicted"]
        totals[2] += row["true_positives"]
    missed = Counter({c: support[c] - tp[c] for c in support if support[c] > tp[c]})
    wrong = Counter({c: predicted[c] - tp[c] for c in predicted if predicted[c] > tp[c]})
    examples = {}
    for (note, code), text in preds.evidence.items():
        if (note, code) not in gold_pairs:
            examples.setdefault(code, text)
    return {
        "per_code": rows,
        "per_chapter": [{"chapter": k, "support": v[0], "predicted": v[1],
                         "precision": v[2] / v[1] if v[1] else None, "recall": v[2] / v[0] if v[0] else None}
                        for k, v in sorted(chapters.items(), key=lambda kv: -kv[1][0])],
        "most_missed": [{"code": c, "missed": n} for c, n in missed.most_common(top_codes)],
        "most_wrongly_suggested": [{"code": c, "wrong": n, "example_evidence": examples.get(c)}
                                   for c, n in wrong.most_common(top_codes)],
    }


def _calibration(preds: Predictions, system: str, gold: dict[str, list[str]], gold_notes: list[str]) -> dict:
    scores, labels = [], []
    for n in gold_notes:
        truth = set(gold[n])
        for code, score in zip(preds.ranked[system].get(n, []), preds.scores[system].get(n, [])):
            scores.append(score)
            labels.append(code in truth)
    table = reliability_table(np.array(scores), np.array(labels, dtype=float))
    return {"ece": expected_calibration_error(table), "bins": table}


def audit_system(preds: Predictions, gold: dict[str, list[str]], system: str, threshold: float,
                 rounds: int, seed: int, top_codes: int) -> dict | None:
    """Every audit figure of one code system (``None`` when no note has gold codes of it)."""
    gold_notes = [n for n, codes in gold.items() if codes]
    if not gold_notes:
        return None
    ranked = preds.ranked[system]
    metrics = ranking_metrics(ranked, gold)
    per_note = per_note_metrics(ranked, gold, cutoffs=range(1, 31))
    metrics["ci95"] = {name: bootstrap_ci(per_note[column], rounds, seed) for name, column in INTERVALS.items()}
    gold_pairs = {(n, c) for n in gold_notes for c in gold[n]}
    operating_point = threshold if preds.has_scores else None
    assigned = _assigned(preds, system, gold_notes, operating_point)
    metrics["at_threshold"] = {**set_f1(assigned, gold_pairs), "threshold": operating_point}
    metrics["best_cut"] = _best_cut(preds, system, gold_notes, gold_pairs)
    metrics.update(_per_code(system, assigned, gold_pairs, preds, top_codes))
    metrics["curves"] = {"k": list(range(1, 31)),
                         "precision": [float(per_note[f"P@{k}"].mean()) for k in range(1, 31)],
                         "recall": [float(per_note[f"R@{k}"].mean()) for k in range(1, 31)]}
    if preds.has_scores:
        metrics["calibration"] = _calibration(preds, system, gold, gold_notes)
    return metrics


def audit(preds: Predictions, gold: dict[str, dict[str, list[str]]], threshold: float = 0.5,
          rounds: int = 1000, seed: int = 0, top_codes: int = 15) -> dict:
    """All audit figures per code system (see the module docstring).

    Args:
        preds: predictions.
        gold: gold codes ``{system: {note id: codes}}``.
        threshold: the score at which a suggestion counts as assigned (the model's operating point).
        rounds: bootstrap resamples.
        seed: bootstrap seed.
        top_codes: rows in the most-missed and most-wrongly-suggested lists.
    """
    out: dict = {"threshold": threshold, "bootstrap_rounds": rounds, "scored_predictions": preds.has_scores}
    for system in SYSTEMS:
        metrics = audit_system(preds, gold[system], system, threshold, rounds, seed, top_codes)
        if metrics is not None:
            out[system] = metrics
    return out


def write_per_code_csv(result: dict, path: str | Path) -> None:
    """The per-code tables of both systems as one CSV."""
    from medcode.batch.files import atomic_writer

    with atomic_writer(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["system", "code", "chapter", "support", "predicted", "true_positives", "precision", "recall"])
        for system in SYSTEMS:
            for row in result.get(system, {}).get("per_code", []):
                writer.writerow([system, row["code"], row["chapter"], row["support"], row["predicted"],
                                 row["true_positives"], row["precision"], row["recall"]])


def paired_comparison(a: Predictions, b: Predictions, gold: dict, rounds: int = 2000, seed: int = 0) -> dict:
    """MAP of A and B on the same gold notes, the difference, its 95% interval and a paired bootstrap p-value.

    The p-value is two-sided: how often the resampled difference lands on the other side of zero,
    doubled, counted as ``(k + 1) / (rounds + 1)`` so that no resampling run claims p = 0 (its
    smallest value is about 2 / rounds).
    """
    out = {}
    for system in SYSTEMS:
        g = gold[system]
        if not any(g.values()):
            continue
        pa = per_note_metrics(a.ranked[system], g, cutoffs=())["AP"]
        pb = per_note_metrics(b.ranked[system], g, cutoffs=())["AP"]
        diff = pa - pb
        observed = float(diff.mean())
        if np.all(diff == diff[0]):
            boot = np.full(rounds, observed)
        else:
            boot = bootstrap_means(diff, rounds, seed)
        beyond = int(np.sum(boot <= 0)) if observed > 0 else int(np.sum(boot >= 0))
        tail = (beyond + 1) / (rounds + 1)
        out[system] = {"MAP_A": float(pa.mean()), "MAP_B": float(pb.mean()), "difference": observed,
                       "ci95": (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))),
                       "p_value": min(1.0, 2 * tail), "bootstrap_rounds": rounds, "notes": int(len(diff))}
    return out
