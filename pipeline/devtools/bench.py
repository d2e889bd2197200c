"""``make bench``: accuracy, candidate recall, throughput ratio, load time, memory and scale in one run.

Throughput is reported as a ratio to bare ``spacy.blank("en")`` tokenization of the same notes in the same
process, so it holds on a noisy shared machine; absolute figures are printed with the machine's CPU count.
Accuracy comes from a model trained on CodiEsp train only (built by ``make train`` if missing) and
evaluated on dev; speed, load time and memory from the default model. The scale section runs
``medcode predict`` in fresh processes on 1,000 and 10,000 dev notes with bad rows mixed in (every good
note written once? every bad row reported? peak memory), with 1 and 2 workers, and checks that the Dask
engine writes what the local engine writes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devtools.context_eval import evaluate_context
from medcode.about import SYSTEMS
from medcode.evaluation.baseline import baseline_rankings
from medcode.evaluation.metrics import ranking_metrics

logger = logging.getLogger("medcode.bench")


def _throughputs(fns: dict, texts: list[str], repeat: int = 5) -> dict[str, float]:
    """Notes per second of each function, best of ``repeat`` runs taken in turn.

    Interleaving matters on a shared machine: a slow spell then hits every function alike, and
    the best run of each is the least disturbed one.
    """
    best = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(texts)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(texts) / seconds for name, seconds in best.items()}


def peak_memory_mb() -> float:
    """This process's peak resident memory, in MB.

    ``/proc/self/status`` ``VmHWM`` where there is one: ``getrusage``'s ``ru_maxrss`` survives ``exec``, so a
    child the bench starts reported the bench's own peak (it forks from a process holding two models: 983 MB
    for a run that peaks at 645 MB started from a shell).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_load_and_predict(model_dir: str, corpus: str, split: str) -> dict:
    """Run in a fresh process: load time and peak memory must not include the parent's."""
    from medcode.coder import Medcoder
    from medcode.corpus import load_notes

    start = time.perf_counter()
    model = Medcoder.load(model_dir)
    load_seconds = time.perf_counter() - start
    notes, _ = load_notes(corpus, split)
    # The code-set tables and the PCS composer load on first use: the first note pays for them.
    start = time.perf_counter()
    model.predict(notes[:1])
    first_note_seconds = time.perf_counter() - start
    model.predict(notes)
    peak_mb = peak_memory_mb()
    return {"load_seconds": round(load_seconds, 2), "first_note_seconds": round(first_note_seconds, 2),
            "load_and_first_note_seconds": round(load_seconds + first_note_seconds, 2),
            "peak_memory_mb": round(peak_mb, 1)}


def _child_predict(model_dir: str, input_path: str, output: str, workers: int, engine: str, max_chars: int) -> dict:
    """Run in a fresh process: one ``medcode predict`` run, its time and peak memory."""
    from medcode.batch.predict import predict_file

    result = predict_file(input_path, output, model_dir=model_dir, workers=workers, engine=engine,
                          max_chars=max_chars)
    figures = {"seconds": result["seconds"], "scored": result["scored"], "skipped": result["skipped"],
               "peak_memory_mb": round(peak_memory_mb(), 1)}
    if workers > 1:  # the largest worker process (the pool is joined, so it counts)
        figures["peak_worker_memory_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    return figures


def _run_child(*args: str) -> dict:
    child = subprocess.run([sys.executable, "-m", "devtools.bench", *args], capture_output=True, text=True)
    if child.returncode != 0:
        raise RuntimeError(f"benchmark child {args[:2]} failed:\n{child.stderr[-2000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


#: The bad rows mixed into the scale input, one reason each in turn (as ``medcode predict`` sees them).
_BAD_ROWS = (
    lambda i: json.dumps({"id": f"bad{i}", "text": "   "}).encode(),                     # empty text
    lambda i: f'{{"id": "bad{i}", "text": "cut off'.encode(),                            # malformed JSON
    lambda i: b'{"id": "bad%d", "text": "caf\xe9 au lait"}' % i,                         # not UTF-8
    lambda i: json.dumps({"id": f"bad{i}", "text": "x" * (SCALE_MAX_CHARS + 1)}).encode(),  # too long
    lambda i: json.dumps({"id": f"bad{i}"}).encode(),                                    # no text field
)
SCALE_MAX_CHARS = 50_000


def write_scale_input(path: Path, texts: list[str], good: int, bad: int) -> None:
    """A JSONL of ``good`` notes (the given texts in turn, unique ids) with ``bad`` bad rows spread in."""
    every = max(good // max(bad, 1), 1)
    with path.open("wb") as handle:
        b = 0
        for i in range(good):
            if b < bad and i % every == every // 2:
                handle.write(_BAD_ROWS[b % len(_BAD_ROWS)](b) + b"\n")
                b += 1
            handle.write(json.dumps({"id": f"n{i:06d}", "text": texts[i % len(texts)]}).encode() + b"\n")


def scale(model_dir: str, texts: list[str], workdir: Path, sizes=(1_000, 10_000), bad_per_10k: int = 50) -> dict:
    """Bounded memory, nothing lost, and worker scaling: ``medcode predict`` in fresh processes."""
    out: dict = {"inputs": {}}
    for n in sizes:
        bad = max(1, n * bad_per_10k // 10_000)
        src, dst = workdir / f"scale-{n}.jsonl", workdir / f"scale-{n}.out.jsonl"
        write_scale_input(src, texts, n, bad)
        run = _run_child("--child-predict", model_dir, str(src), str(dst), "1", "local")
        ids = [json.loads(line)["id"] for line in dst.read_text("utf-8").splitlines()]
        errors = [json.loads(line) for line in dst.with_name(dst.stem + ".errors.jsonl").read_text("utf-8").splitlines()]
        out["inputs"][n] = {"bad_rows": bad, **run, "notes_per_s": round(run["scored"] / run["seconds"], 1),
                            "every_good_note_once": len(ids) == len(set(ids)) == n,
                            "every_bad_row_reported": len(errors) == bad and all(e.get("error") for e in errors),
                            "error_reasons": sorted({e["error"].split(":")[0] for e in errors})}
    small, large = out["inputs"][sizes[0]], out["inputs"][sizes[-1]]
    out["peak_memory_ratio_largest_to_smallest"] = round(large["peak_memory_mb"] / small["peak_memory_mb"], 3)
    src = workdir / f"scale-{sizes[0]}.jsonl"
    for workers in (1, 2):
        run = _run_child("--child-predict", model_dir, str(src), str(workdir / f"w{workers}.jsonl"), str(workers),
                         "local")
        out[f"notes_per_s_{workers}_workers"] = round(run["scored"] / run["seconds"], 1)
    out["speedup_2_workers"] = round(out["notes_per_s_2_workers"] / out["notes_per_s_1_workers"], 2)
    return out


def dask_agreement(model_dir: str, corpus: str, split: str, workdir: Path) -> dict:
    """Does ``--engine dask`` (a 2-worker LocalCluster) write what the local engine writes?"""
    from medcode.batch.predict import predict_file

    local, dask = workdir / "local.jsonl", workdir / "dask.jsonl"
    predict_file(Path(corpus), local, model_dir=model_dir, split=split)
    start = time.perf_counter()
    predict_file(Path(corpus), dask, model_dir=model_dir, split=split, engine="dask", workers=2)
    a, b = local.read_text("utf-8").splitlines(), dask.read_text("utf-8").splitlines()
    return {"notes": len(a), "identical_lines": sum(x == y for x, y in zip(a, b)), "same_length": len(a) == len(b),
            "dask_seconds_incl_cluster_start": round(time.perf_counter() - start, 1)}


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


#: The untuned quarter of the vignette suite (never trained or tuned on).
VIGNETTES_HELDOUT = Path(__file__).resolve().parents[2] / "corpora" / "vignettes" / "heldout.jsonl"


def vignette_figures(model, path: Path) -> dict:
    """Exact-code recall@1/@5 and category recall@5 per system, per ICD-10-CM chapter, on a vignette file."""
    from devtools.eval_vignettes import vignette_recall

    result = vignette_recall(model, path)
    out = {"file": str(path.relative_to(path.parents[2])), "notes": result["notes"]}
    for s in SYSTEMS:
        out[s] = {k: {"recall": round(v["recall"], 3), "found": v["found"], "gold": v["gold"]} for k, v in result[s].items()}
    out["per_chapter_cm"] = result["per_chapter"]
    return out


def single_note_latency(model, texts: list[str], chars: int = 2000, repeat: int = 60) -> dict:
    """``suggest``-sized work with the model loaded: one note of about ``chars`` characters at a time, p50/p95."""
    import numpy as np

    pool = [t for t in texts if len(t) >= chars] or texts
    notes = [t[:chars] for t in pool]
    model.suggest(notes[0])
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        model.suggest(notes[i % len(notes)])
        times.append((time.perf_counter() - start) * 1000)
    return {"note_chars": chars, "runs": repeat, "p50_ms": round(float(np.percentile(times, 50)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1)}


def stage_shares(model, texts: list[str]) -> dict:
    """Share of prediction time per stage (one pass over the notes, each stage timed on its own)."""
    from medcode.mentions import doc_mentions

    nlp, spent = model.nlp, {}
    start = time.perf_counter()
    docs = [nlp.make_doc(t) for t in texts]
    spent["tokenizer"] = time.perf_counter() - start
    for name in ("medcode_sentences", "medcode_mentions", "medcode_context", "medcode_engine"):
        proc, start = nlp.get_pipe(name), time.perf_counter()
        docs = [proc(d) for d in docs]
        spent[name] = time.perf_counter() - start
    start = time.perf_counter()
    mentions = [doc_mentions(d) for d in docs]
    spent["mention records"] = time.perf_counter() - start
    start = time.perf_counter()
    model.suggester.rank(texts, mentions, 30)
    spent["candidates, features, ranker, records"] = time.perf_counter() - start
    total = sum(spent.values())
    return {k: round(v / total, 3) for k, v in spent.items()} | {"ms_per_note": round(total / len(texts) * 1000, 2)}


def run(corpus: str, default_model: str, train_only_model: str, split: str = "dev") -> dict:
    """All benchmark figures as a dict (see the module docstring)."""
    from medcode.corpus import load_notes
    from medcode.training import train_corpus

    if not (Path(train_only_model) / "meta.json").exists():
        logger.warning("no %s: training it on %s:train (a few minutes)", train_only_model, corpus)
        train_corpus(corpus, train_only_model, "train")
    from medcode.compiled import compiled_modules, stale_modules

    # The speed figures depend on the Cython-compiled hot path (setup.py): say how much of it ran compiled.
    report: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                                "compiled_modules": len(compiled_modules()), "stale_compiled": stale_modules()}}
    notes, _ = load_notes(corpus, split)
    report.update(accuracy_figures(corpus, split, train_only_model, notes))
    report.update(speed_figures(corpus, split, default_model, notes))
    with tempfile.TemporaryDirectory(prefix="medcode-bench-robust-") as workdir:
        from devtools import bench_robustness

        report["robustness"] = bench_robustness.run(default_model, Path(workdir))
    from devtools import bench_server

    report["server"] = bench_server.run(default_model, corpus, split)
    return report


def accuracy_figures(corpus: str, split: str, train_only_model: str, notes: list) -> dict:
    """The train-only model's accuracy on ``corpus:split`` and the held-out vignettes, candidate recall,
    context rules, evidence, calibration, and the TF-IDF baseline's figures."""
    from medcode.coder import Medcoder
    from medcode.corpus import load_notes
    from medcode.evaluation.run import evaluate_model

    report: dict = {}
    held_out = Medcoder.load(train_only_model)
    metrics = evaluate_model(held_out, corpus, split)
    report["accuracy"] = {"model": train_only_model, "split": f"{Path(corpus).name}:{split}",
                          **{s: {k: round(metrics[s][k], 4) for k in ("MAP", "P@5", "P@10", "R@10", "R@30")}
                             for s in SYSTEMS}}
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
    report["vignettes_heldout"] = vignette_figures(held_out, VIGNETTES_HELDOUT)
    # The audit's reliability table: scores of the suggestions `medcode predict` writes.
    report["calibration"] = {s: {"ece": round(metrics[s]["calibration"]["ece"], 4),
                                 "bins": [{**row, "mean_score": round(row["mean_score"], 3),
                                           "precision": round(row["precision"], 3)}
                                          for row in metrics[s]["calibration"]["bins"]]} for s in SYSTEMS}
    train_notes, _ = load_notes(corpus, "train")
    baseline = baseline_rankings(train_notes, notes)
    report["baseline_tfidf_logreg"] = {
        s: {k: round(v, 4) for k, v in ranking_metrics(baseline[s], {n.id: n.gold(s) for n in notes}).items()
            if k in ("MAP", "P@5", "R@30")} for s in SYSTEMS}
    return report


def excludes1_seconds(codes: int = 3000) -> float:
    """Seconds to group the Excludes1 conflicts of ``codes`` codes that all exclude each other (a pasted
    problem list of one chapter): the output is one entry per code, and the time must stay near linear."""
    from medcode.codesets.excludes import Excludes1Index

    index = Excludes1Index({"M00": ["any other M00 code (M00.-)"]}, {})
    listed = [f"M00.{i:03d}" for i in range(codes)] * 2
    start = time.perf_counter()
    index.grouped_conflicts(listed)
    return round(time.perf_counter() - start, 2)


def speed_figures(corpus: str, split: str, default_model: str, notes: list) -> dict:
    """The default model's throughput ratio, latency, stage shares, load time and memory, scale and
    worker figures, and its agreement with the Dask engine."""
    import spacy

    from medcode.coder import Medcoder
    from medcode.notes import Note

    report: dict = {}
    model = Medcoder.load(default_model)
    texts = [n.text for n in notes]
    blank = spacy.blank("en")
    model.predict([Note("warm-up", texts[0])])
    speeds = _throughputs({"blank": lambda t: list(blank.pipe(t)),
                           "predict": lambda t: model.predict([Note(str(i), x) for i, x in enumerate(t)])}, texts)
    base, ours = speeds["blank"], speeds["predict"]
    report["throughput"] = {"notes": len(texts), "blank_tokenizer_notes_per_s": round(base, 1),
                            "predict_notes_per_s": round(ours, 1), "ratio": round(ours / base, 3)}
    report["latency"] = single_note_latency(model, texts)
    report["excludes1_grouped_3000_codes_s"] = excludes1_seconds()
    report["stage_shares"] = stage_shares(model, texts)
    child = subprocess.run([sys.executable, "-m", "devtools.bench", "--child", default_model, "--corpus", corpus,
                            "--split", split], capture_output=True, text=True, check=True)
    report["default_model"] = json.loads(child.stdout.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory(prefix="medcode-bench-") as workdir:
        report["scale"] = scale(default_model, texts, Path(workdir))
        report["dask_vs_local"] = {"split": f"{Path(corpus).name}:{split}",
                                   **dask_agreement(default_model, corpus, split, Path(workdir))}
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="corpora/codiesp")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--default-model", default=None)
    parser.add_argument("--train-only-model", default="models/train-only")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-predict", nargs=5, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--output", "-o", default=None, help="Also write the figures as JSON here.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if args.child_predict:
        model_dir, src, dst, workers, engine = args.child_predict[0], *args.child_predict[1:]
        print(json.dumps(_child_predict(model_dir, src, dst, int(workers), engine, SCALE_MAX_CHARS)))
        return
    if args.child:
        print(json.dumps(_child_load_and_predict(args.child, args.corpus, args.split)))
        return
    from medcode.api import default_model_dir

    report = run(args.corpus, args.default_model or str(default_model_dir()), args.train_only_model, args.split)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
