"""Exact-code and category recall of a model on a vignette file, overall, per chapter and for PCS.

``python -m devtools.eval_vignettes corpora/vignettes/tune.jsonl -m models/default [--misses]``
(with ``PYTHONPATH=pipeline``). Prints JSON; ``--misses`` also lists the gold codes not in the top 5.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from medcode.about import CM, SYSTEMS
from medcode.evaluation.metrics import code_recall


def category(code: str, system: str) -> str:
    return code[:3] if system == CM else code[:4]


def vignette_recall(model, path: str | Path) -> dict:
    """Recall@1/@5 (exact) and category recall@5 per system, and per chapter for ICD-10-CM."""
    rows = [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line.strip()]
    records = model.predict([{"id": r["id"], "text": r["text"]} for r in rows], top_k=10)
    ranked = {s: {rec["id"]: [x["code"] for x in rec["suggestions"] if x["system"] == s] for rec in records}
              for s in SYSTEMS}
    gold = {s: {r["id"]: r["codes"][s] for r in rows if r["codes"][s]} for s in SYSTEMS}
    out = {"file": str(path), "notes": len(rows)}
    for s in SYSTEMS:
        out[s] = {"exact@1": code_recall(ranked[s], gold[s], 1), "exact@5": code_recall(ranked[s], gold[s], 5),
                  "category@5": code_recall(ranked[s], gold[s], 5, lambda c, s=s: category(c, s))}
    chapters: dict[str, dict] = defaultdict(dict)
    for r in rows:
        if r["codes"][CM]:
            chapters[r["chapter"]][r["id"]] = r["codes"][CM]
    out["per_chapter"] = {ch: {"notes": len(g), "exact@5": round(code_recall(ranked[CM], g, 5)["recall"], 3),
                               "category@5": round(code_recall(ranked[CM], g, 5, lambda c: c[:3])["recall"], 3)}
                          for ch, g in sorted(chapters.items(), key=lambda kv: (len(kv[0]), kv[0]))}
    out["misses"] = [{"id": r["id"], "system": s, "code": c, "top5": ranked[s][r["id"]][:5]}
                     for r in rows for s in SYSTEMS for c in r["codes"][s] if c not in ranked[s][r["id"]][:5]]
    return out


def main() -> None:
    import medcode

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("-m", "--model", default=None)
    parser.add_argument("--misses", action="store_true")
    args = parser.parse_args()
    result = vignette_recall(medcode.load(args.model), args.file)
    if not args.misses:
        result.pop("misses")
    for s in SYSTEMS:
        result[s] = {k: round(v["recall"], 3) for k, v in result[s].items()}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
