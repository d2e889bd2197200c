"""Coder look-ups against the code sets: ``medcode codes validate / show / search``.

* :func:`validate_codes`: is each code in the release, billable or a header (with its billable codes),
  missing its 7th character (with the valid ones), under an Excludes1 note with another code of the list,
  and what "code first" / "use additional code" notes apply.
* :func:`show_code`: title, hierarchy, inclusion terms and notes of one code.
* :func:`search_codes`: codes whose titles and aliases share the most words with a query.
"""

from __future__ import annotations

import functools
from collections import defaultdict

from medcode.about import CM, PCS
from medcode.codesets.excludes import as_notes
from medcode.codesets.kb import KnowledgeBase, seven_chr_def
from medcode.codesets.queries import seventh_completions, specificity_query
from medcode.errors import CodeNotFoundError
from medcode.textnorm import content_words


def _notes_of(code: str, getter, cm) -> list[str]:
    """A note kind of a code and of every ancestor (notes at category or block level apply below)."""
    out = []
    for item in dict.fromkeys([code, *cm.get_ancestors(code)]):
        try:
            out += as_notes(getter(item))
        except ValueError:
            continue
    return out


def _header(result: dict, code: str, system: str, kb: KnowledgeBase) -> None:
    children = kb.billable_descendants(code, system)
    result.update(status="header", valid=False, billable_children=children[:20], n_billable_children=len(children))
    if system == CM:
        result["messages"].append(f"{code} is a header, not billable: choose one of its {len(children)} billable "
                                  f"codes ({', '.join(children[:5])}{' …' if len(children) > 5 else ''})")
    else:
        result["messages"].append(f"{code} is a partial ICD-10-PCS code: a reportable code has 7 characters "
                                  f"({len(children)} under it, e.g. {', '.join(children[:3])})")


def _check_cm(code: str, kb: KnowledgeBase) -> dict:
    cm = kb.cm
    entry = kb.get(code, CM)
    result = {"code": code, "system": CM, "title": entry.title if entry else "", "messages": []}
    completions = seventh_completions(code, kb) if (not entry or not entry.billable) else {}
    if completions:
        result.update(status="needs_7th_character", valid=False, seventh_characters=completions)
        options = ", ".join(f"{c} ({m})" for c, m in list(completions.items())[:4])
        result["messages"].append(f"{code} needs a 7th character for the encounter: {options}"
                                  f"{' …' if len(completions) > 4 else ''}")
    elif entry is None:
        result.update(status="unknown", valid=False)
        parent = next((code[:n].rstrip(".") for n in range(len(code) - 1, 2, -1) if kb.get(code[:n].rstrip("."), CM)), None)
        hint = f"; the nearest valid code is {parent} ({kb.title(parent, CM)})" if parent else ""
        result["messages"].append(f"{code} is not a code in {kb.release[CM]}{hint}")
    elif not entry.billable:
        _header(result, code, CM, kb)
    else:
        result.update(status="billable", valid=True)
    if entry:
        result["code_first"] = _notes_of(code, cm.get_code_first, cm)
        result["use_additional_code"] = _notes_of(code, cm.get_use_additional_code, cm)
        result["messages"] += [f"code first: {note}" for note in result["code_first"]]
        result["messages"] += [f"use additional code: {note}" for note in result["use_additional_code"]]
    return result


def _check_pcs(code: str, kb: KnowledgeBase) -> dict:
    entry = kb.get(code, PCS)
    result = {"code": code, "system": PCS, "title": entry.title if entry else "", "messages": []}
    if entry is None:
        result.update(status="unknown", valid=False)
        result["messages"].append(f"{code} is not a code in {kb.release[PCS]}")
    elif not entry.billable:
        _header(result, code, PCS, kb)
    else:
        result.update(status="billable", valid=True)
    return result


def validate_codes(raw: list[str], kb: KnowledgeBase | None = None) -> dict:
    """Check a list of codes as a claim would carry them.

    Args:
        raw: codes as written (case and dots are normalised; the system is guessed per code, see
            :meth:`KnowledgeBase.resolve`). A code given twice is checked once.
        kb: the knowledge base (the full FY2026 one when ``None``).

    Returns:
        ``{"release", "valid", "codes": [per-code result], "conflicts": [{"codes": [a, b, ...], "note"}]}``
        (``a``'s Excludes1 note names ``b, ...``); ``valid``
        is false when any code is unknown, a header, missing its 7th character, or in conflict.
    """
    kb = kb or KnowledgeBase.load()
    results = []
    for system, code in dict.fromkeys(kb.resolve(item) for item in raw):
        results.append(_check_cm(code, kb) if system == CM else _check_pcs(code, kb))
    cm_codes = [r["code"] for r in results if r["system"] == CM and r["status"] != "unknown"]
    conflicts = kb.excludes1.grouped_conflicts(cm_codes)
    return {"release": kb.release, "valid": all(r["valid"] for r in results) and not conflicts,
            "codes": results, "conflicts": conflicts}


def show_code(raw: str, kb: KnowledgeBase | None = None) -> dict:
    """Everything a coder looks up about one code.

    Raises:
        CodeNotFoundError: when the release does not have the code.
    """
    kb = kb or KnowledgeBase.load()
    system, code = kb.resolve(raw)
    entry = kb.get(code, system)
    if entry is None:
        raise CodeNotFoundError(f"{code} is not a code in {kb.release[system]}")
    out = {"code": code, "system": entry.system, "title": entry.title, "billable": entry.billable,
           "release": kb.release[entry.system], "aliases": list(entry.aliases[1:])}
    hierarchy, parent = [], entry.parent
    while parent and kb.get(parent, system):
        hierarchy.append({"code": parent, "title": kb.title(parent, system)})
        parent = kb.get(parent, system).parent
    out["hierarchy"] = hierarchy
    if system == CM:
        cm = kb.cm
        out.update({
            "chapter": entry.chapter,
            "inclusion_terms": cm.get_inclusion_term(code), "includes": cm.get_includes(code),
            "excludes1": cm.get_excludes1(code), "excludes2": cm.get_excludes2(code),
            "code_first": as_notes(cm.get_code_first(code)),
            "use_additional_code": as_notes(cm.get_use_additional_code(code)),
            "code_also": as_notes(cm.get_code_also(code)), "seventh_characters": seven_chr_def(code, cm),
            "children": [{"code": c, "title": kb.title(c, CM)} for c in kb.children(code, CM)][:50],
        })
        query = specificity_query(code, kb)
        if query:
            out["query"] = query
    else:
        out["children"] = [{"code": c, "title": kb.title(c, PCS)} for c in kb.billable_descendants(code, PCS)[:50]]
    return out


@functools.cache
def _word_index(kb: KnowledgeBase) -> dict[str, set[tuple[str, str]]]:
    index: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for key, entry in kb.code_to_entry.items():
        for alias in entry.aliases:
            for word in content_words(alias):
                index[word].add(key)
    return index


def search_codes(text: str, kb: KnowledgeBase | None = None, limit: int = 20, system: str | None = None) -> list[dict]:
    """Codes whose titles and aliases share the most words with ``text``, billable and shorter first."""
    kb = kb or KnowledgeBase.load()
    words = set(content_words(text))
    if not words:
        return []
    index = _word_index(kb)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for word in words:
        for key in index.get(word, ()):
            counts[key] += 1

    def rank(key):
        entry = kb.code_to_entry[key]
        title_words = set(content_words(entry.title))
        return (-counts[key] / len(words), -len(words & title_words) / max(len(title_words), 1),
                not entry.billable, len(entry.title), key[1], key[0])

    ranked = sorted((k for k in counts if system is None or k[0] == system), key=rank)
    return [{"code": e.code, "system": e.system, "title": e.title, "billable": e.billable,
             "matched": round(counts[e.key] / len(words), 3)}
            for e in (kb.code_to_entry[k] for k in ranked[:limit])]
