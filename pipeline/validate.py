"""Coder checks against the FY2026 code sets: validation, look-up, search, specificity queries.

* :func:`validate_codes`: is each code in the release, billable or a header (with its billable codes),
  missing its 7th character (with the valid ones), under an Excludes1 note with another code of the list,
  and what "code first" / "use additional code" notes apply.
* :func:`show_code`: title, hierarchy, inclusion terms and notes of one code.
* :func:`search_codes`: codes whose titles and aliases share the most words with a query.
* :func:`specificity_query`: the question to put to the physician when a code is unspecified or a
  header, and the code each answer leads to.
"""

from __future__ import annotations

import functools
from collections import defaultdict

from pipeline.about import CM, PCS, RELEASE
from pipeline.corpus import guess_system
from pipeline.kb import KnowledgeBase, as_notes, normalize_code, seven_chr_def
from pipeline.textnorm import content_words

#: Words whose presence in some sibling titles names the detail a code leaves open.
_DETAILS = (
    ("laterality", {"right", "left", "bilateral"}, "Which side is affected: right, left or both?"),
    ("acuity", {"acute", "chronic", "subacute"}, "Is the condition acute, chronic, or acute on chronic?"),
    ("type", {"type", "1", "2"}, "Which type does the note support?"),
    ("stage", {"stage"}, "Which stage is documented?"),
    ("episode", {"episode", "recurrent", "single"}, "Is this a single episode or recurrent?"),
)
_ENCOUNTER_QUESTION = "Which encounter is this: initial (active treatment), subsequent, or sequela?"


def _cm():
    import simple_icd_10_cm as cm  # imported on first use: parsing its XML takes seconds

    return cm


def seventh_completions(code: str, kb: KnowledgeBase) -> dict[str, str]:
    """Valid codes with a 7th character for a code that needs one: ``{code: meaning}``."""
    base = code.replace(".", "")
    if len(base) >= 7:
        return {}
    definition = seven_chr_def(code) if _cm().is_valid_item(code) else {}
    if not definition:
        # Not a tabular item itself (W19.XXX): look at the category's definition.
        category = code[:3]
        definition = seven_chr_def(category) if _cm().is_valid_item(category) else {}
    out = {}
    padded = base.ljust(6, "X")
    for char, meaning in definition.items():
        full = normalize_code(padded + char, CM)
        if kb.get(full):
            out[full] = meaning.split("/")[0].strip()
    return out


def billable_descendants(code: str, kb: KnowledgeBase) -> list[str]:
    """All billable codes under a header, in code order."""
    return sorted(c for c, e in kb.code_to_entry.items() if e.billable and c.startswith(code) and c != code)


def _notes_of(code: str, getter) -> list[str]:
    """A note kind of a code and of every ancestor (notes at category or block level apply below)."""
    cm = _cm()
    out = []
    for item in [code, *cm.get_ancestors(code)]:
        try:
            out += as_notes(getter(item))
        except ValueError:
            continue
    return out


def _check_cm(code: str, kb: KnowledgeBase) -> dict:
    cm = _cm()
    entry = kb.get(code)
    result = {"code": code, "system": CM, "title": entry.title if entry else "", "messages": []}
    completions = seventh_completions(code, kb) if (not entry or not entry.billable) else {}
    if completions:
        result.update(status="needs_7th_character", valid=False, seventh_characters=completions)
        options = ", ".join(f"{c} ({m})" for c, m in list(completions.items())[:4])
        result["messages"].append(f"{code} needs a 7th character for the encounter: {options}"
                                  f"{' …' if len(completions) > 4 else ''}")
    elif entry is None:
        result.update(status="unknown", valid=False)
        parent = next((code[:n].rstrip(".") for n in range(len(code) - 1, 2, -1) if kb.get(code[:n].rstrip("."))), None)
        hint = f"; the nearest valid code is {parent} ({kb.title(parent)})" if parent else ""
        result["messages"].append(f"{code} is not a code in {RELEASE[CM]}{hint}")
    elif not entry.billable:
        children = billable_descendants(code, kb)
        result.update(status="header", valid=False, billable_children=children[:20],
                      n_billable_children=len(children))
        result["messages"].append(f"{code} is a header, not billable: choose one of its {len(children)} billable "
                                  f"codes ({', '.join(children[:5])}{' …' if len(children) > 5 else ''})")
    else:
        result.update(status="billable", valid=True)
    if entry:
        result["code_first"] = _notes_of(code, cm.get_code_first)
        result["use_additional_code"] = _notes_of(code, cm.get_use_additional_code)
        for note in result["code_first"]:
            result["messages"].append(f"code first: {note}")
        for note in result["use_additional_code"]:
            result["messages"].append(f"use additional code: {note}")
    return result


def _check_pcs(code: str, kb: KnowledgeBase) -> dict:
    entry = kb.get(code)
    result = {"code": code, "system": PCS, "title": entry.title if entry else "", "messages": []}
    if entry is None:
        result.update(status="unknown", valid=False)
        result["messages"].append(f"{code} is not a code in {RELEASE[PCS]}")
    elif not entry.billable:
        children = billable_descendants(code, kb)
        result.update(status="header", valid=False, billable_children=children[:20], n_billable_children=len(children))
        result["messages"].append(f"{code} is a partial ICD-10-PCS code: a reportable code has 7 characters "
                                  f"({len(children)} under it, e.g. {', '.join(children[:3])})")
    else:
        result.update(status="billable", valid=True)
    return result


def validate_codes(raw: list[str], kb: KnowledgeBase | None = None) -> dict:
    """Check a list of codes as a claim would carry them.

    Args:
        raw: codes as written (case and dots are normalised; the system is guessed per code).
        kb: the knowledge base (the full FY2026 one when ``None``).

    Returns:
        ``{"release", "valid", "codes": [per-code result], "conflicts": [Excludes1 pairs]}``; ``valid``
        is false when any code is unknown, a header, missing its 7th character, or in conflict.
    """
    kb = kb or KnowledgeBase.load()
    results = []
    for item in raw:
        system = guess_system(item)
        code = normalize_code(item, system)
        results.append(_check_cm(code, kb) if system == CM else _check_pcs(code, kb))
    cm_codes = [r["code"] for r in results if r["system"] == CM and r["status"] != "unknown"]
    conflicts = kb.excludes1.conflicts(cm_codes)
    return {"release": RELEASE, "valid": all(r["valid"] for r in results) and not conflicts,
            "codes": results, "conflicts": conflicts}


def show_code(raw: str, kb: KnowledgeBase | None = None) -> dict:
    """Everything a coder looks up about one code."""
    kb = kb or KnowledgeBase.load()
    system = guess_system(raw)
    code = normalize_code(raw, system)
    entry = kb.get(code)
    if entry is None:
        raise KeyError(f"{code} is not a code in {RELEASE[system]}")
    out = {"code": code, "system": entry.system, "title": entry.title, "billable": entry.billable,
           "release": RELEASE[entry.system], "aliases": list(entry.aliases[1:])}
    hierarchy, parent = [], entry.parent
    while parent and kb.get(parent):
        hierarchy.append({"code": parent, "title": kb.title(parent)})
        parent = kb.get(parent).parent
    out["hierarchy"] = hierarchy
    if entry.system == CM:
        cm = _cm()
        out.update({
            "chapter": entry.chapter,
            "inclusion_terms": cm.get_inclusion_term(code), "includes": cm.get_includes(code),
            "excludes1": cm.get_excludes1(code), "excludes2": cm.get_excludes2(code),
            "code_first": as_notes(cm.get_code_first(code)),
            "use_additional_code": as_notes(cm.get_use_additional_code(code)),
            "code_also": as_notes(cm.get_code_also(code)), "seventh_characters": seven_chr_def(code),
            "children": [{"code": c, "title": kb.title(c)} for c in cm.get_children(code)][:50],
        })
    else:
        out["children"] = [{"code": c, "title": kb.title(c)} for c in billable_descendants(code, kb)[:50]]
    query = specificity_query(code, kb)
    if query:
        out["query"] = query
    return out


@functools.cache
def _word_index(kb: KnowledgeBase) -> dict[str, set[str]]:
    index: dict[str, set[str]] = defaultdict(set)
    for code, entry in kb.code_to_entry.items():
        for alias in entry.aliases:
            for word in content_words(alias):
                index[word].add(code)
    return index


def search_codes(text: str, kb: KnowledgeBase | None = None, limit: int = 20, system: str | None = None) -> list[dict]:
    """Codes whose titles and aliases share the most words with ``text``, billable and shorter first."""
    kb = kb or KnowledgeBase.load()
    words = set(content_words(text))
    if not words:
        return []
    index = _word_index(kb)
    counts: dict[str, int] = defaultdict(int)
    for word in words:
        for code in index.get(word, ()):
            counts[code] += 1
    def key(code: str):
        entry = kb.code_to_entry[code]
        title_words = set(content_words(entry.title))
        return (-counts[code] / len(words), -len(words & title_words) / max(len(title_words), 1),
                not entry.billable, len(entry.title), code)
    ranked = sorted((c for c in counts if system is None or kb.code_to_entry[c].system == system), key=key)
    return [{"code": c, "system": kb.code_to_entry[c].system, "title": kb.code_to_entry[c].title,
             "billable": kb.code_to_entry[c].billable, "matched": round(counts[c] / len(words), 3)}
            for c in ranked[:limit]]


def specificity_query(code: str, kb: KnowledgeBase, max_options: int = 8) -> dict | None:
    """The question to ask the physician when ``code`` leaves a documentable detail open.

    Returns:
        ``{"detail", "question", "options": [{"code", "title"}]}`` or ``None`` when the code is as
        specific as its category allows (or is not an ICD-10-CM code).
    """
    entry = kb.get(code)
    if (entry is None and guess_system(code) == CM) or (entry and entry.system == CM and not entry.billable):
        completions = seventh_completions(code, kb)
        if completions:
            options = [{"code": c, "title": m} for c, m in completions.items()][:max_options]
            return {"detail": "encounter", "question": _ENCOUNTER_QUESTION, "options": options}
    if entry is None or entry.system != CM:
        return None
    if entry.billable:
        if "unspecified" not in entry.title.lower() or not entry.parent:
            return None
        if len(code.replace(".", "")) == 7 and seven_chr_def(code):
            # Its siblings differ only by encounter, which the code already states.
            return None
        siblings = [c for c in kb.children(entry.parent) if c != code and kb.code_to_entry[c].billable]
    else:
        siblings = list(kb.children(code))
    if not siblings:
        return None
    words = {w for c in siblings for w in content_words(kb.title(c))} - set(content_words(entry.title))
    for detail, markers, question in _DETAILS:
        if words & markers:
            chosen = [c for c in siblings if set(content_words(kb.title(c))) & markers] or siblings
            break
    else:
        detail, question, chosen = "specificity", "Which more specific condition does the documentation support?", siblings
    return {"detail": detail, "question": question,
            "options": [{"code": c, "title": kb.title(c)} for c in chosen[:max_options]]}
