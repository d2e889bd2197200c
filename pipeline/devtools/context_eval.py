"""Accuracy of the assertion-status rules on medcode's one-sentence test cases.

Each case (``corpora/context/cases.tsv``) names a sentence, a target phrase in it and the expected status
(``AFFIRMED`` or one of the ConText categories). A case is right when the mention of the target gets exactly
the expected categories.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from medcode.about import CM, MENTIONS_KEY
from medcode.nlp import build_nlp
from medcode.nlp.context import status
from medcode.textnorm import alias_key, content_words

CASES_FILE = Path(__file__).resolve().parents[2] / "corpora" / "context" / "cases.tsv"
AFFIRMED = "AFFIRMED"


def read_cases(path: Path = CASES_FILE) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def evaluate_context(cases: list[dict] | None = None) -> dict:
    """Run the cases; return accuracy overall and per expected status, and the failures."""
    cases = cases if cases is not None else read_cases()
    lexicon = {alias_key(content_words(c["target"])): [("X00", CM, "title", 1.0)] for c in cases}
    nlp = build_nlp(lexicon)
    right: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    failures = []
    for case in cases:
        doc = nlp(case["sentence"])
        target = case["target"].lower()
        spans = [s for s in doc.spans[MENTIONS_KEY] if s.text.lower() == target]
        found = status(spans[0]) if spans else None
        expected = [] if case["status"] == AFFIRMED else case["status"].split(",")
        total[case["status"]] += 1
        if found is not None and sorted(found) == sorted(expected):
            right[case["status"]] += 1
        else:
            failures.append({**case, "found": "no mention" if found is None else (",".join(found) or AFFIRMED)})
    n = sum(total.values())
    return {"cases": n, "accuracy": round(sum(right.values()) / max(n, 1), 4),
            "per_status": {s: {"cases": total[s], "accuracy": round(right[s] / total[s], 4)} for s in sorted(total)},
            "failures": failures}
