"""``make bench``: accuracy, candidate recall, throughput ratio, load time and peak memory in one run.

Throughput is reported as a ratio to bare ``spacy.blank("en")`` tokenization of the same notes in the same
process, so it holds on a noisy shared machine; absolute figures are printed with the machine's CPU count.
Accuracy comes from a model trained on CodiEsp train only (built by ``make train`` if missing) and
evaluated on dev; speed, load time and memory from the default model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from pipeline.about import SYSTEMS
from pipeline.baseline import baseline_rankings
from pipeline.context_eval import evaluate_context
from pipeline.evaluate import ranking_metrics
from pipeline.ranker import expected_calibration_error, reliability_table

logger = logging.getLogger("medcode.bench")


def _throughput(fn, texts: list[str], repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def _child_load_and_predict(model_dir: str, corpus: str, split: str) -> dict:
    """Run in a fresh process: load time and peak memory must not include the parent's."""
    from pipeline.corpus import load_notes
    from pipeline.model import Medcoder

    start = time.perf_counter()
    model = Medcoder.load(model_dir)
    load_seconds = time.perf_counter() - start
    notes, _ = load_notes(corpus, split)
    model.predict(notes, top_k=30)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"load_seconds": round(load_seconds, 2), "peak_memory_mb": round(peak_mb, 1)}


def evidence_coverage(notes, ranked, k: int = 10) -> dict:
    """Share of correct top-``k`` suggestions that carry evidence, and whether every span slices its note."""
    out = {}
    for s in SYSTEMS:
        correct = with_evidence = 0
        for note, r in zip(notes, ranked):
            gold = set(note.gold(s))
            for sug in r[s][:k]:
                if sug["code"] in gold:
                    correct += 1
                    with_evidence += bool(sug["evidence"])
        out[s] = round(with_evidence / max(correct, 1), 4)
    spans_ok = all(note.text[e["start"]:e["end"]] == e["text"]
                   for note, r in zip(notes, ranked) for s in SYSTEMS for sug in r[s] for e in sug["evidence"])
    return {f"correct_top{k}_with_evidence": out, "all_spans_slice_the_note": spans_ok}


def calibration(notes, ranked, k: int = 30) -> dict:
    """Reliability of the top-``k`` scores on held-out notes: per score bin, mean score vs precision."""
    import numpy as np

    out = {}
    for s in SYSTEMS:
        scores, labels = [], []
        for note, r in zip(notes, ranked):
            gold = set(note.gold(s))
            for sug in r[s][:k]:
                scores.append(sug["score"])
                labels.append(sug["code"] in gold)
        table = reliability_table(np.array(scores), np.array(labels, dtype=float))
        out[s] = {"ece": round(expected_calibration_error(table), 4),
                  "bins": [{**row, "mean_score": round(row["mean_score"], 3), "precision": round(row["precision"], 3)}
                           for row in table]}
    return out


def run(corpus: str, default_model: str, train_only_model: str, split: str = "dev") -> dict:
    """All benchmark figures as a dict (see the module docstring)."""
    import spacy

    from pipeline import api
    from pipeline.corpus import Note, load_notes
    from pipeline.model import Medcoder

    if not (Path(train_only_model) / "meta.json").exists():
        logger.warning("no %s: training it on %s:train (a few minutes)", train_only_model, corpus)
        api.train(corpus, train_only_model, "train")
    report: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}

    held_out = Medcoder.load(train_only_model)
    metrics = api.evaluate(held_out, corpus, split)
    report["accuracy"] = {"model": train_only_model, "split": f"{Path(corpus).name}:{split}",
                          **{s: {k: round(metrics[s][k], 4) for k in ("MAP", "P@5", "P@10", "R@10", "R@30")}
                             for s in SYSTEMS}}
    notes, _ = load_notes(corpus, split)
    ranked = held_out.rank([n.text for n in notes], depth=100)
    report["candidate_recall@100"] = {}
    for s in SYSTEMS:
        gold = sum(len(n.gold(s)) for n in notes)
        found = sum(len(set(n.gold(s)) & {x["code"] for x in r[s]}) for n, r in zip(notes, ranked))
        report["candidate_recall@100"][s] = round(found / max(gold, 1), 4)
    report["training_report"] = {s: {k: v for k, v in r.items() if k != "calibration_fit"}
                                 for s, r in held_out.meta.get("training", {}).get("report", {}).items()}
    context = evaluate_context()
    report["context_rules"] = {"cases": context["cases"], "accuracy": context["accuracy"],
                               "per_status": {k: v["accuracy"] for k, v in context["per_status"].items()}}
    report["evidence"] = evidence_coverage(notes, ranked)
    report["calibration"] = calibration(notes, ranked)
    train_notes, _ = load_notes(corpus, "train")
    baseline = baseline_rankings(train_notes, notes)
    report["baseline_tfidf_logreg"] = {
        s: {k: round(v, 4) for k, v in ranking_metrics(baseline[s], {n.id: n.gold(s) for n in notes}).items()
            if k in ("MAP", "P@5", "R@30")} for s in SYSTEMS}

    model = Medcoder.load(default_model)
    texts = [n.text for n in notes]
    blank = spacy.blank("en")
    base = _throughput(lambda t: list(blank.pipe(t)), texts)
    ours = _throughput(lambda t: model.predict([Note(str(i), x) for i, x in enumerate(t)], top_k=30), texts)
    report["throughput"] = {"notes": len(texts), "blank_tokenizer_notes_per_s": round(base, 1),
                            "predict_notes_per_s": round(ours, 1), "ratio": round(ours / base, 3)}
    child = subprocess.run([sys.executable, "-m", "pipeline.bench", "--child", default_model, "--corpus", corpus,
                            "--split", split], capture_output=True, text=True, check=True)
    report["default_model"] = json.loads(child.stdout.strip().splitlines()[-1])
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="corpora/codiesp")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--default-model", default=None)
    parser.add_argument("--train-only-model", default="models/train-only")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--output", "-o", default=None, help="Also write the figures as JSON here.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if args.child:
        print(json.dumps(_child_load_and_predict(args.child, args.corpus, args.split)))
        return
    from pipeline.api import default_model_dir

    report = run(args.corpus, args.default_model or str(default_model_dir()), args.train_only_model, args.split)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
