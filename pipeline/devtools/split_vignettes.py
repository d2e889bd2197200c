"""Build ``corpora/vignettes/tune.jsonl`` and ``heldout.jsonl`` from the group files.

Every fourth vignette of each group, in id order (the 4th, 8th, ...), is held out: rules, weights and
code are never tuned on it, and ``make bench`` reports it separately. Run after editing a group file:
``python pipeline/devtools/split_vignettes.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[2] / "corpora" / "vignettes"
HELD_OUT_EVERY = 4


def split(folder: Path = FOLDER) -> dict[str, int]:
    """Write the two files; return how many vignettes each holds."""
    tune, held_out = [], []
    for group in sorted(folder.glob("group-*.jsonl")):
        rows = [json.loads(line) for line in group.read_text("utf-8").splitlines() if line.strip()]
        for i, row in enumerate(sorted(rows, key=lambda r: r["id"]), start=1):
            (held_out if i % HELD_OUT_EVERY == 0 else tune).append(row)
    for name, rows in (("tune.jsonl", tune), ("heldout.jsonl", held_out)):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return {"tune": len(tune), "heldout": len(held_out)}


if __name__ == "__main__":
    print(split())
