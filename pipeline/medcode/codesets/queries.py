"""What an ICD-10-CM code leaves open, and the question to put to the physician about it.

* :func:`seventh_completions`: the valid codes with a 7th character for a code that needs one.
* :func:`specificity_query`: when a code is unspecified or a header, the detail it leaves open
  (laterality, acuity, type, stage, episode, encounter), the question, and the code each answer leads to.
"""

from __future__ import annotations

from medcode.about import CM
from medcode.codesets.kb import KnowledgeBase, normalize_code, seven_chr_def
from medcode.textnorm import content_words

#: Words whose presence in some sibling titles names the detail a code leaves open.
_DETAILS = (
    ("laterality", {"right", "left", "bilateral"}, "Which side is affected: right, left or both?"),
    ("acuity", {"acute", "chronic", "subacute"}, "Is the condition acute, chronic, or acute on chronic?"),
    ("type", {"type", "1", "2"}, "Which type does the note support?"),
    ("stage", {"stage"}, "Which stage is documented?"),
    ("episode", {"episode", "recurrent", "single"}, "Is this a single episode or recurrent?"),
)
ENCOUNTER_QUESTION = "Which encounter is this: initial (active treatment), subsequent, or sequela?"
SPECIFICITY_QUESTION = "Which more specific condition does the documentation support?"


def seventh_completions(code: str, kb: KnowledgeBase) -> dict[str, str]:
    """Valid codes with a 7th character for a code that needs one: ``{code: meaning}``."""
    base = code.replace(".", "")
    if len(base) >= 7:
        return {}
    cm = kb.cm
    definition = seven_chr_def(code, cm) if cm.is_valid_item(code) else {}
    if not definition:
        # Not a tabular item itself (W19.XXX): look at the category's definition.
        category = code[:3]
        definition = seven_chr_def(category, cm) if cm.is_valid_item(category) else {}
    out = {}
    padded = base.ljust(6, "X")
    for char, meaning in definition.items():
        full = normalize_code(padded + char, CM)
        if kb.get(full, CM):
            out[full] = meaning.split("/")[0].strip()
    return out


def specificity_query(code: str, kb: KnowledgeBase, max_options: int = 8) -> dict | None:
    """The question to ask the physician when an ICD-10-CM ``code`` leaves a documentable detail open.

    Returns:
        ``{"detail", "question", "options": [{"code", "title"}]}`` or ``None`` when the code is as
        specific as its category allows (or is not in the release and needs no 7th character).
    """
    entry = kb.get(code, CM)
    if entry is None or not entry.billable:
        completions = seventh_completions(code, kb)
        if completions:
            options = [{"code": c, "title": m} for c, m in completions.items()][:max_options]
            return {"detail": "encounter", "question": ENCOUNTER_QUESTION, "options": options}
    if entry is None:
        return None
    if entry.billable:
        if "unspecified" not in entry.title.lower() or not entry.parent:
            return None
        if len(code.replace(".", "")) == 7 and seven_chr_def(code, kb.cm):
            # Its siblings differ only by encounter, which the code already states.
            return None
        siblings = [c for c in kb.children(entry.parent, CM) if c != code and kb.get(c, CM).billable]
    else:
        siblings = list(kb.children(code, CM))
    if not siblings:
        return None
    words = {w for c in siblings for w in content_words(kb.title(c, CM))} - set(content_words(entry.title))
    # The first detail some sibling titles name and this code's title does not.
    found = next(((d, m, q) for d, m, q in _DETAILS if words & m), None)
    if found:
        detail, markers, question = found
        chosen = [c for c in siblings if set(content_words(kb.title(c, CM))) & markers] or siblings
    else:
        detail, question, chosen = "specificity", SPECIFICITY_QUESTION, siblings
    return {"detail": detail, "question": question,
            "options": [{"code": c, "title": kb.title(c, CM)} for c in chosen[:max_options]]}
