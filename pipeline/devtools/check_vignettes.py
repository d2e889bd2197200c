"""Check vignette files: JSON shape, unique ids, every code valid and billable in FY2026.

Usage: ``python pipeline/devtools/check_vignettes.py corpora/vignettes/*.jsonl``. Prints one line per
problem and exits 1 if there is any.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

PCS_FILE = Path(__file__).resolve().parents[1] / "medcode" / "data" / "icd10pcs-codes-2026.txt.gz"
_OLD_PCS_FILE = Path(__file__).resolve().parents[1] / "data" / "icd10pcs-codes-2026.txt.gz"
FIELDS = {"id", "setting", "chapter", "text", "codes", "tags", "rationale"}
SETTINGS = {"ED", "discharge", "op", "clinic", "inpatient", "radiology", "consult"}


def pcs_codes() -> set[str]:
    path = PCS_FILE if PCS_FILE.exists() else _OLD_PCS_FILE
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return {line.split(" ", 1)[0] for line in lines if line.strip()}


def check(paths: list[str]) -> list[str]:
    import simple_icd_10_cm as cm

    pcs = pcs_codes()
    problems, seen = [], set()
    for path in paths:
        for number, line in enumerate(Path(path).read_text("utf-8").splitlines(), start=1):
            where = f"{path}:{number}"
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: not JSON ({exc.msg})")
                continue
            missing = FIELDS - set(row)
            if missing:
                problems.append(f"{where}: missing fields {sorted(missing)}")
                continue
            if row["id"] in seen:
                problems.append(f"{where}: duplicate id {row['id']}")
            seen.add(row["id"])
            if row["setting"] not in SETTINGS:
                problems.append(f"{where}: setting {row['setting']!r} not one of {sorted(SETTINGS)}")
            if not row["text"].strip() or len(row["text"]) > 600:
                problems.append(f"{where}: text empty or over 600 characters")
            codes = row["codes"]
            if set(codes) != {"ICD-10-CM", "ICD-10-PCS"}:
                problems.append(f"{where}: codes must have exactly the keys ICD-10-CM and ICD-10-PCS")
                continue
            if not codes["ICD-10-CM"] and not codes["ICD-10-PCS"]:
                problems.append(f"{where}: no codes")
            for code in codes["ICD-10-CM"]:
                if code != code.upper() or "." not in code and len(code) > 3:
                    problems.append(f"{where}: {code}: write ICD-10-CM codes upper case with the dot")
                elif not cm.is_valid_item(code):
                    problems.append(f"{where}: {code} is not an ICD-10-CM FY2026 code")
                elif not cm.is_leaf(code):
                    problems.append(f"{where}: {code} is not billable (a header, or missing its 7th character)")
            for code in codes["ICD-10-PCS"]:
                if code not in pcs:
                    problems.append(f"{where}: {code} is not a valid 7-character ICD-10-PCS FY2026 code")
            if len(set(codes["ICD-10-CM"])) != len(codes["ICD-10-CM"]):
                problems.append(f"{where}: repeated code")
    return problems


def main() -> None:
    problems = check(sys.argv[1:])
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
