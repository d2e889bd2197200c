"""Measure the ICD-10-PCS composer on a vignette file: recall of the gold PCS codes in its proposals.

Usage::

    python pipeline/devtools/eval_pcs.py corpora/vignettes/tune.jsonl [--chapter pcs] [--misses]

Each vignette's text goes through :func:`medcode.textnorm.content_words` and
:meth:`medcode.codesets.pcs.PcsComposer.propose` (limit 5). Prints, over the gold PCS codes of the selected
rows: exact 7-character recall at 1 (the top proposal) and at 5, and 4-character-prefix recall at 5 (a
proposal, complete or prefix, agrees with the gold code on its first four characters: section, body
system, root operation and body part). Recall@1 counts a gold code found at rank 1; a vignette with two
gold codes can score at most one of them at rank 1. ``--misses`` lists the gold codes not found in the top
five with what was proposed. Use tune.jsonl only: heldout.jsonl measures the final system.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from medcode.codesets.pcs import PcsComposer
from medcode.textnorm import content_words

logger = logging.getLogger("eval_pcs")


def read_rows(path: Path, chapter: str | None) -> list[dict]:
    """Vignettes of a JSONL file, those of one chapter if given, that have gold PCS codes."""
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [r for r in rows if (chapter is None or r.get("chapter") == chapter) and r["codes"].get("ICD-10-PCS")]


def evaluate(rows: list[dict], composer: PcsComposer, limit: int = 5) -> dict:
    """Recall figures over the gold codes of ``rows``, and the misses for a report."""
    gold_total = at1 = at5 = prefix5 = 0
    misses = []
    for row in rows:
        proposals = composer.propose(content_words(row["text"]), limit=limit)
        codes = [p.code for p in proposals]
        for gold in row["codes"]["ICD-10-PCS"]:
            gold_total += 1
            at1 += bool(codes) and codes[0] == gold
            at5 += gold in codes
            prefix5 += any(len(c) >= 4 and c[:4] == gold[:4] for c in codes)
            if gold not in codes:
                misses.append({"id": row["id"], "gold": gold, "proposed": [
                    f"{p.code}{'' if p.complete else '?' + '/'.join(p.missing)} {p.score:.2f}" for p in proposals]})
    return {"vignettes": len(rows), "gold_codes": gold_total,
            "recall@1": at1 / max(gold_total, 1), "recall@5": at5 / max(gold_total, 1),
            "prefix4_recall@5": prefix5 / max(gold_total, 1), "misses": misses}


def main(argv: list[str] | None = None) -> int:
    """Command line: print the recall figures (and, with ``--misses``, the misses) for a vignette file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("vignettes", type=Path)
    parser.add_argument("--chapter", default="pcs", help="chapter field to select ('' for every row)")
    parser.add_argument("--misses", action="store_true", help="list the gold codes not in the top five")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.vignettes.name.startswith(("heldout", "group")):
        logger.warning("%s holds held-out vignettes: report its figure, never tune on it", args.vignettes)
    result = evaluate(read_rows(args.vignettes, args.chapter or None), PcsComposer.load())
    logger.info("%d vignettes, %d gold PCS codes", result["vignettes"], result["gold_codes"])
    for key in ("recall@1", "recall@5", "prefix4_recall@5"):
        logger.info("%-18s %.3f", key, result[key])
    if args.misses:
        for miss in result["misses"]:
            logger.info("%s gold %s | %s", miss["id"], miss["gold"], ", ".join(miss["proposed"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
