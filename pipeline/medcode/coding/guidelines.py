"""Where the ICD-10-CM Official Guidelines and a corpus's coding habits differ, a coder sees the guideline.

* A sign or symptom routinely part of a documented, established diagnosis (guideline I.B.5) stays in the list,
  below the diagnosis, marked ``integral_to`` it (rules as data: ``medcode/data/integral_symptoms.json``).
* A fully specified code comes before its header (CodiEsp's coders often stopped at the header) when the note
  supports it at least half as well.

Both act on the suggestions of one note, after ranking; they reorder and mark, they never drop a code.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from medcode.about import CM

SYMPTOMS_FILE = "integral_symptoms.json"
#: A symptom integral to a diagnosis is scored at most this share of the diagnosis's score.
BELOW_DIAGNOSIS = 0.9
#: A diagnosis owns its integral symptoms only when it is established: its calibrated score says it is more likely
#: than not. Any documented diagnosis did before, and an engine's near miss (I95.1 at 0.003 beside "syncope", J18.9
#: at 0.002 beside "cough") pushed a symptom the note states (R55 at 0.50) below itself: 9 gold symptoms of devmix + fresh4/5 out of the top 5.
#: With it: CodiEsp dev MAP CM 0.4778 -> 0.4889, devmix CM exact@5 0.931 -> 0.935, fresh4 cm 0.874 -> 0.880 (train-only).
#: (A share of the symptom's score instead: 0.5 -> MAP 0.4881; 1.0, which never reorders, 0.4913, same vignettes.)
ESTABLISHED = 0.5
#: A full code goes before its header when its score is at least this share of the header's.
FULL_CODE_SHARE = 0.5


@functools.cache
def integral_symptoms() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``((symptom prefix, (diagnosis prefixes, ...)), ...)``, longest symptom prefix first."""
    data = json.loads(resources.files("medcode.data").joinpath(SYMPTOMS_FILE).read_text("utf-8"))
    return tuple(sorted(((s, tuple(d)) for s, d in data["symptoms"].items()), key=lambda item: -len(item[0])))


@functools.cache
def _integral_rule(code: str) -> tuple[str, ...] | None:
    """The diagnosis prefixes a symptom code is integral to (its longest listed prefix's), or ``None``."""
    return next((d for prefix, d in integral_symptoms() if code.startswith(prefix)), None)


def apply_guidelines(suggestions: list[dict]) -> None:
    """Mark and move down integral symptoms; put full codes before their headers (in place, scores only).

    (Codes a stated value contradicts are set aside earlier, with the candidates: see
    :meth:`medcode.candidates.CandidatePool.contradicted`.)
    """
    _integral(suggestions)
    _full_codes_first(suggestions)


def _integral(suggestions: list[dict]) -> None:
    documented = [s for s in suggestions if s["system"] == CM and s["evidence"]]
    for sug in suggestions:
        if sug["system"] != CM:
            continue
        rule = _integral_rule(sug["code"])
        if not rule:
            continue
        owners = [d for d in documented if d is not sug and d["code"].startswith(rule) and d["billable"]
                  and d["score"] >= ESTABLISHED]
        if owners:
            sug["integral_to"] = sorted({d["code"] for d in owners})
            ceiling = round(max(d["score"] for d in owners) * BELOW_DIAGNOSIS, 4)
            sug["score"] = min(sug["score"], ceiling)


def _full_codes_first(suggestions: list[dict]) -> None:
    # Only a full code the note supports about as well: a header ranked far above its full code says the
    # note lacks the detail (an ICD-10-PCS approach, a side), and the header carries the question for it.
    # (On CodiEsp dev, swapping regardless cost 0.063 PCS MAP; with this rule, under 0.001.)
    # Each header's full codes from a map of the headers' codes (in list order), not a scan of the list per
    # header: ~18 headers of ~60 suggestions, 0.2 ms of a CodiEsp dev note.
    headers = {(s["system"], s["code"]) for s in suggestions if not s["billable"]}
    if not headers:
        return
    full_codes: dict[tuple[str, str], list[dict]] = {}
    for s in suggestions:
        if s["billable"]:
            for n in range(len(s["code"]) + 1):  # every prefix startswith() accepts
                if (s["system"], s["code"][:n]) in headers:
                    full_codes.setdefault((s["system"], s["code"][:n]), []).append(s)
    for header in suggestions:
        if header["billable"]:
            continue
        below = [s for s in full_codes.get((header["system"], header["code"]), ()) if s is not header
                 and FULL_CODE_SHARE * header["score"] <= s["score"] < header["score"]]
        if below:
            best = max(below, key=lambda s: s["score"])
            header["score"], best["score"] = best["score"], header["score"]
