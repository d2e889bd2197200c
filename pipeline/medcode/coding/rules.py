"""Coding conventions that join what a note says in different places: combination and history codes.

A coder does not code "hypertension" and "CKD stage 4" as two unrelated codes: the Official Guidelines
presume them linked (I.C.9.a.2: I12.9 with N18.4), as they presume "diabetes" linked to every condition the
Alphabetic Index lists under its "with" (I.A.15: a foot ulcer makes E11.621). And a relative's or a past
cancer is coded by the site's history code (Z80-/Z85-), found from the same Table of Neoplasms row as the
cancer. These rules are data (``medcode/data/coding_rules.json``); this module applies them to the codes the
engine found in one note.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

RULES_FILE = "coding_rules.json"


@dataclass(frozen=True)
class Combination:
    """One combination rule (see the data file's ``about``)."""

    all: tuple[tuple[str, ...], ...]
    none: tuple[str, ...]
    words: tuple[frozenset[str], ...]
    add: str
    replace: tuple[tuple[str, str], ...]
    group: str


@functools.cache
def combinations() -> tuple[Combination, ...]:
    """The combination rules, in file order."""
    data = json.loads(resources.files("medcode.data").joinpath(RULES_FILE).read_text("utf-8"))
    return tuple(Combination(tuple(tuple(g) for g in r["all"]), tuple(r.get("none", ())),
                             tuple(frozenset(w) for w in r.get("words", ())), r.get("add", ""),
                             tuple(sorted(r.get("replace", {}).items(), key=lambda kv: -len(kv[0]))),
                             r.get("group", ""))
                 for r in data["combinations"])


@functools.cache
def history_codes(kind: str) -> tuple[tuple[str, str], ...]:
    """``((code prefix, history code), ...)`` for ``family`` or ``personal``, longest prefix first."""
    data = json.loads(resources.files("medcode.data").joinpath(RULES_FILE).read_text("utf-8"))
    return tuple(sorted(data["history"][kind].items(), key=lambda kv: -len(kv[0])))


@functools.lru_cache(maxsize=65536)
def history_code(kind: str, code: str) -> str | None:
    """The ``family`` or ``personal`` history code of a condition's code (``C18.7`` -> ``Z80.0``), or ``None``."""
    return next((z for prefix, z in history_codes(kind) if code.startswith(prefix)), None)


def combination_codes(found: Iterable[tuple[str, int, object]], words: set[str]) -> list[tuple[object, str]]:
    """The combination codes a note's conditions call for.

    Args:
        found: ``(code, rank, where)`` of the note's current (affirmed) conditions; ``rank`` orders the
            codes of one group (0: the engine's best for its sentence), ``where`` is returned with the code.
        words: the note's canonical words (for rules that read words, such as "poorly controlled").

    Returns:
        ``(where of the first group's code, combination code)`` per rule that applies; the caller checks
        that the code exists in its release.
    """
    found = list(found)
    if not any(code.startswith(_leading_prefixes()) for code, _, _ in found):
        return []  # no code any rule starts from: most notes
    out: list[tuple[object, str]] = []
    done: set[str] = set()
    for rule in combinations():
        if rule.group and rule.group in done:
            continue
        best = []
        for prefixes in rule.all:
            # The best-ranked code of the list; among equals, the list's order (E11 before E10: the Index's
            # default for "diabetes" is type 2).
            hit = min(((rank, next(k for k, p in enumerate(prefixes) if code.startswith(p)), code, where)
                       for code, rank, where in found if code.startswith(prefixes)), default=None)
            if hit is None:
                break
            best.append(hit)
        else:
            if rule.none and any(code.startswith(rule.none) for code, _, _ in found):
                continue
            if rule.words and not any(w <= words for w in rule.words):
                continue
            code = _combined(rule, [code for _, _, code, _ in best])
            if code:
                out.append((best[0][3], code))
                if rule.group:
                    done.add(rule.group)
    return out


@functools.cache
def _leading_prefixes() -> tuple[str, ...]:
    """Every prefix of the rules' first lists (a note with none of them has no combination)."""
    return tuple(sorted({p for rule in combinations() for p in rule.all[0]}))


def _combined(rule: Combination, codes: list[str]) -> str | None:
    if rule.replace:
        last = codes[-1]
        return next((new + last[len(old):] for old, new in rule.replace if last.startswith(old)), None)
    return rule.add.format(codes[0][:3])
