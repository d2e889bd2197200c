"""Audit-grade evaluation of ranked code suggestions against gold codes.

Works on any predictions: medcode JSONL (ranked suggestions with scores and evidence) or a CodiEsp-style TSV
(``id<TAB>code``, one line per prediction, in rank order, no scores). Gold comes as a CodiEsp TSV, JSONL
with ``codes``, or a CodiEsp folder. Every gold note counts; a gold note without predictions scores 0.

Metric definitions (also written into the HTML report):

* AP, MAP, P@k, R@k: see :mod:`pipeline.evaluate` (predictions in the order given, never re-sorted).
* F1 at a threshold: a suggestion counts as "assigned" when its score is at least the threshold (TSV
  predictions, which have no scores, assign everything submitted). Micro F1 pools all (note, code) pairs;
  macro F1 averages per-code F1 over the codes that occur in gold or predictions.
* 95% confidence intervals: percentile bootstrap over gold notes (1,000 resamples, fixed seed).
* Calibration: suggestions binned by score; per bin the mean score and the share that were gold codes;
  ECE is the size-weighted mean gap.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.about import PCS, SYSTEMS
from pipeline.corpus import guess_system, load_notes, read_gold_tsv
from pipeline.evaluate import average_precision, ranking_metrics
from pipeline.kb import normalize_code
from pipeline.ranker import expected_calibration_error, reliability_table

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


def chapter(code: str, system: str) -> str:
    """The chapter (ICD-10-CM) or section (ICD-10-PCS) a code belongs to."""
    if system == PCS:
        return f"{code[:1]} {PCS_SECTIONS.get(code[:1], '?')}"
    category = code[:3]
    for low, high, name in CM_CHAPTERS:
        if low <= category <= high:
            return name
    return "?"


@dataclass
class Predictions:
    """Ranked predictions per system and note, with scores and evidence where the format has them."""

    ranked: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {s: {} for s in SYSTEMS})
    scores: dict[str, dict[str, list[float]]] = field(default_factory=lambda: {s: {} for s in SYSTEMS})
    evidence: dict[tuple[str, str], str] = field(default_factory=dict)
    has_scores: bool = False


def read_predictions(path: str | Path) -> Predictions:
    """Read medcode JSONL (``.jsonl``) or a CodiEsp-style TSV (anything else) of predictions."""
    path = Path(path)
    preds = Predictions()
    if path.suffix == ".jsonl":
        preds.has_scores = True
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            for s in SYSTEMS:
                preds.ranked[s].setdefault(row["id"], [])
                preds.scores[s].setdefault(row["id"], [])
            for sug in row.get("suggestions", []):
                preds.ranked[sug["system"]][row["id"]].append(sug["code"])
                preds.scores[sug["system"]][row["id"]].append(float(sug["score"]))
                if sug.get("evidence"):
                    preds.evidence.setdefault((row["id"], sug["code"]), sug["evidence"][0]["text"])
        return preds
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            note_id, _, code = line.partition("\t")
            system = guess_system(code.strip())
            codes = preds.ranked[system].setdefault(note_id, [])
            code = normalize_code(code, system)
            if code not in codes:
                codes.append(code)
    return preds


def read_gold(path: str | Path, split: str | None = None) -> dict[str, dict[str, list[str]]]:
    """Gold codes ``{system: {note id: codes}}`` from a CodiEsp TSV, a JSONL/CSV, or a CodiEsp folder."""
    path = Path(path)
    gold: dict[str, dict[str, list[str]]] = {s: {} for s in SYSTEMS}
    if path.is_file() and path.suffix not in (".jsonl", ".csv"):
        for note_id, by_system in read_gold_tsv(path).items():
            for s, codes in by_system.items():
                gold[s][note_id] = codes
        return gold
    notes, _ = load_notes(path, split)
    for note in notes:
        for s in SYSTEMS:
            gold[s][note.id] = note.gold(s)
    return gold


def _bootstrap(per_note: np.ndarray, rounds: int, rng: np.random.Generator) -> tuple[float, float]:
    if len(per_note) == 0:
        return (0.0, 0.0)
    idx = rng.integers(0, len(per_note), size=(rounds, len(per_note)))
    means = per_note[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def per_note_scores(ranked: dict[str, list[str]], gold: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Per gold note: AP, P@5 and R@30 (the inputs of bootstrap intervals and paired tests)."""
    notes = [n for n, codes in gold.items() if codes]
    ap, p5, r30 = [], [], []
    for note in notes:
        truth, preds = set(gold[note]), ranked.get(note, [])
        ap.append(average_precision(preds, truth))
        p5.append(len(truth & set(preds[:5])) / 5)
        r30.append(len(truth & set(preds[:30])) / len(truth))
    return {"notes": np.array(notes), "MAP": np.array(ap), "P@5": np.array(p5), "R@30": np.array(r30)}


def _f1(pairs_pred: set, pairs_gold: set) -> dict:
    tp = len(pairs_pred & pairs_gold)
    precision = tp / len(pairs_pred) if pairs_pred else 0.0
    recall = tp / len(pairs_gold) if pairs_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _assigned(preds: Predictions, system: str, gold_notes, threshold: float | None) -> set:
    out = set()
    for note in gold_notes:
        codes = preds.ranked[system].get(note, [])
        scores = preds.scores[system].get(note, [])
        for i, code in enumerate(codes):
            if threshold is None or (i < len(scores) and scores[i] >= threshold):
                out.add((note, code))
    return out


def _macro_f1(assigned: set, gold_pairs: set) -> float:
    by_code: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, predicted, gold
    for note, code in assigned:
        by_code[code][1] += 1
        by_code[code][0] += (note, code) in gold_pairs
    for note, code in gold_pairs:
        by_code[code][2] += 1
    f1s = []
    for tp, predicted, gold in by_code.values():
        p = tp / predicted if predicted else 0.0
        r = tp / gold if gold else 0.0
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(f1s)) if f1s else 0.0


def audit(preds: Predictions, gold: dict[str, dict[str, list[str]]], threshold: float = 0.5,
          rounds: int = 1000, seed: int = 0, top_codes: int = 15) -> dict:
    """All audit figures per code system (see the module docstring).

    Args:
        preds: predictions.
        gold: gold codes.
        threshold: the score at which a suggestion counts as assigned (the model's operating point).
        rounds: bootstrap resamples.
        seed: bootstrap seed.
        top_codes: rows in the most-missed and most-wrongly-suggested lists.
    """
    rng = np.random.default_rng(seed)
    out: dict = {"threshold": threshold, "bootstrap_rounds": rounds, "scored_predictions": preds.has_scores}
    for system in SYSTEMS:
        g = gold[system]
        gold_notes = [n for n, codes in g.items() if codes]
        if not gold_notes:
            continue
        ranked = preds.ranked[system]
        metrics = ranking_metrics(ranked, g)
        per_note = per_note_scores(ranked, g)
        metrics["ci95"] = {k: _bootstrap(per_note[k], rounds, rng) for k in ("MAP", "P@5", "R@30")}
        gold_pairs = {(n, c) for n in gold_notes for c in g[n]}
        op = threshold if preds.has_scores else None
        assigned = _assigned(preds, system, gold_notes, op)
        metrics["at_threshold"] = {**_f1(assigned, gold_pairs), "macro_f1": _macro_f1(assigned, gold_pairs),
                                   "threshold": op}
        best = {"f1": -1.0}
        if preds.has_scores:
            for t in np.arange(0.05, 1.0, 0.05):
                candidate = {**_f1(_assigned(preds, system, gold_notes, float(t)), gold_pairs), "threshold": round(float(t), 2)}
                if candidate["f1"] > best["f1"]:
                    best = candidate
        else:
            for k in (1, 2, 3, 5, 10, 15, 20, 30):
                cut = {(n, c) for n in gold_notes for c in ranked.get(n, [])[:k]}
                candidate = {**_f1(cut, gold_pairs), "top_k": k}
                if candidate["f1"] > best["f1"]:
                    best = candidate
        metrics["best_cut"] = best

        support, tp, predicted = Counter(), Counter(), Counter()
        for note, code in gold_pairs:
            support[code] += 1
        for note, code in assigned:
            predicted[code] += 1
            tp[code] += (note, code) in gold_pairs
        codes = sorted(set(support) | set(predicted), key=lambda c: (-support[c], c))
        metrics["per_code"] = [{"code": c, "chapter": chapter(c, system), "support": support[c], "predicted": predicted[c],
                                "true_positives": tp[c], "precision": tp[c] / predicted[c] if predicted[c] else None,
                                "recall": tp[c] / support[c] if support[c] else None} for c in codes]
        chapters: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for row in metrics["per_code"]:
            ch = chapters[row["chapter"]]
            ch[0] += row["support"]; ch[1] += row["predicted"]; ch[2] += row["true_positives"]
        metrics["per_chapter"] = [{"chapter": k, "support": v[0], "predicted": v[1],
                                   "precision": v[2] / v[1] if v[1] else None, "recall": v[2] / v[0] if v[0] else None}
                                  for k, v in sorted(chapters.items(), key=lambda kv: -kv[1][0])]
        missed = Counter({c: support[c] - tp[c] for c in support if support[c] > tp[c]})
        wrong = Counter({c: predicted[c] - tp[c] for c in predicted if predicted[c] > tp[c]})
        examples = {}
        for (note, code), text in preds.evidence.items():
            if (note, code) not in gold_pairs:
                examples.setdefault(code, text)
        metrics["most_missed"] = [{"code": c, "missed": n} for c, n in missed.most_common(top_codes)]
        metrics["most_wrongly_suggested"] = [{"code": c, "wrong": n, "example_evidence": examples.get(c)}
                                             for c, n in wrong.most_common(top_codes)]
        metrics["curves"] = {"k": list(range(1, 31)),
                             "precision": [float(np.mean([len(set(g[n]) & set(ranked.get(n, [])[:k])) / k for n in gold_notes])) for k in range(1, 31)],
                             "recall": [float(np.mean([len(set(g[n]) & set(ranked.get(n, [])[:k])) / len(set(g[n])) for n in gold_notes])) for k in range(1, 31)]}
        if preds.has_scores:
            scores, labels = [], []
            for n in gold_notes:
                truth = set(g[n])
                for code, score in zip(ranked.get(n, []), preds.scores[system].get(n, [])):
                    scores.append(score); labels.append(code in truth)
            table = reliability_table(np.array(scores), np.array(labels, dtype=float))
            metrics["calibration"] = {"ece": expected_calibration_error(table), "bins": table}
        out[system] = metrics
    return out


def write_per_code_csv(result: dict, path: str | Path) -> None:
    """The per-code tables of both systems as one CSV."""
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
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
    rng = np.random.default_rng(seed)
    out = {}
    for system in SYSTEMS:
        g = gold[system]
        if not any(g.values()):
            continue
        pa = per_note_scores(a.ranked[system], g)["MAP"]
        pb = per_note_scores(b.ranked[system], g)["MAP"]
        diff = pa - pb
        idx = rng.integers(0, len(diff), size=(rounds, len(diff)))
        boot = diff[idx].mean(axis=1)
        observed = float(diff.mean())
        beyond = int(np.sum(boot <= 0)) if observed > 0 else int(np.sum(boot >= 0))
        tail = (beyond + 1) / (rounds + 1)
        out[system] = {"MAP_A": float(pa.mean()), "MAP_B": float(pb.mean()), "difference": observed,
                       "ci95": (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))),
                       "p_value": min(1.0, 2 * tail), "bootstrap_rounds": rounds, "notes": int(len(diff))}
    return out
