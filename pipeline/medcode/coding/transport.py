"""Transport accidents (V00-V89) composed as a coder reads them from the Index to External Causes.

A coder codes a transport accident by its axes: who the injured person was (the victim's vehicle and role:
"car driver", "pedestrian"), what the vehicle collided with (another car, a heavy truck, a fixed object, or no
collision at all), and whether it happened on a public road (traffic) or not; the category is the victim's block
and the counterpart's digit (V43: car occupant in collision with car, pick-up truck or van). A note says
"restrained driver whose car was struck by another car on the interstate", which shares few words with "Car driver
injured in collision with other type car in traffic accident, initial encounter", so the word matcher never found
these codes. The vocabulary (vehicles, counterparts, road words) is data: ``transport`` in ``coding_rules.json``.
Guidelines: a vehicle accident not stated as nontraffic is a traffic accident (Chapter 20 notes, V10-V82).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from medcode.coding.rules import rules_data
from medcode.textnorm import content_words

#: Words after a collision verb that may name the counterpart ("struck by another car", "into a tree").
_AFTER_COLLISION = 5
_ROLE = re.compile(r"\b(driver|passenger|rider|riding|occupant|pedestrian|bicyclist|cyclist|motorcyclist|drove|driving)\b")
_COLLISION = re.compile(r"\b(?:hit|struck|collided|collision|crashed|crash|rear-ended|t-boned|ran|swerved|slammed)\b"
                        r"(?:\s+(?:by|with|into|head-on))*")
_WORD = re.compile(r"[a-z][a-z0-9'-]*")


@functools.cache
def transport_rules() -> dict:
    """The ``transport`` section of ``coding_rules.json`` (read on first use)."""
    return rules_data().get("transport", {})


def _find(words: list[str], table: dict[str, list]) -> tuple[int, list] | None:
    """The first ``(position, entry)`` of a table word (one or two words long) among ``words``."""
    for i, word in enumerate(words):
        pair = f"{word} {words[i + 1]}" if i + 1 < len(words) else ""
        if pair in table:
            return i, table[pair]
        if word in table:
            return i, table[word]
    return None


def _victim(words: list[str], rules: dict) -> tuple[list, str] | None:
    """The injured person's vehicle entry and role word ("driver", "passenger"), or None."""
    vehicles = rules["vehicles"]
    role_at = next((i for i, w in enumerate(words) if _ROLE.fullmatch(w)), None)
    if role_at is None:
        return None
    role = words[role_at]
    if role in rules["roles"]:  # "pedestrian", "bicyclist", "motorcyclist" name the vehicle too
        entry = rules["roles"][role]
        return vehicles[entry[0]], entry[1]
    near = words[max(role_at - 3, 0):role_at + 5]  # "car driver", "driver of a car", "passenger in a car"
    found = _find(near, vehicles)
    if found is None:
        return None
    return found[1], "passenger" if role == "passenger" else "driver"


def _counterpart(text: str, rules: dict) -> list | None:
    """The counterpart entry (another vehicle, an object, or no collision), or None when the note does not say."""
    for m in _COLLISION.finditer(text):
        after = _WORD.findall(text[m.end():])[:_AFTER_COLLISION]
        if "into" in after[:3]:  # "crashed car into a tree": the counterpart follows "into", not the own car
            after = after[after.index("into") + 1:]
        found = _find(after, rules["counterparts"])
        if found is not None:
            return found[1]
    if re.search(rules["noncollision"], text):
        return rules["counterparts"]["noncollision"]
    return None


def transport_codes(text: str, refine: Callable[[str, set[str]], str | None],
                    note_words: set[str] = frozenset()) -> list[tuple[int, int, str]]:
    """``(start char, end char, code)`` of the transport accident a note tells of (at most one).

    Args:
        text: the note.
        refine: completes a category with words to its reportable code (the engine's, 7th character included).
        note_words: the note's canonical words (for the 7th character).
    """
    rules = transport_rules()
    low = text.lower()
    if not rules or not _ROLE.search(low):
        return []  # most notes: no injured driver, passenger, rider or pedestrian
    for sentence in re.finditer(r"[^.;\n]+", low):
        words = _WORD.findall(sentence.group())
        victim = _victim(words, rules)
        if victim is None:
            continue
        (block, victim_words), role = victim
        other = _counterpart(sentence.group(), rules)
        if other is None:
            continue
        digit, other_words = other
        category = rules["categories"].get(f"{block}{digit}")
        if category is None:
            continue
        where = "nontraffic" if re.search(rules["nontraffic"], sentence.group()) else "traffic"
        role_words = "" if block in ("pedestrian", "animal") else role
        phrase = f"{victim_words} {role_words} injured in collision with {other_words} in {where} accident"
        code = refine(category, set(content_words(phrase)) | note_words)
        if code:
            # The evidence is the victim's role word: the sentence's negations ("no collision", "no fracture")
            # say nothing of the accident.
            at = _ROLE.search(sentence.group())
            return [(sentence.start() + at.start(), sentence.start() + at.end(), code)]
    return []
