"""Numbers a passage states (durations, counts, amounts) and the label ranges they fall in."""

from __future__ import annotations

import re

from medcode.codesets.pcs.records import _Query

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "single": 1, "double": 2, "triple": 3,
                 "quadruple": 4, "x1": 1, "x2": 2, "x3": 3, "x4": 4, "x5": 5}
#: Units a note states a quantity in, as (dimension, factor): days are 24 hours.
_UNITS = {"hour": ("hour", 1.0), "hr": ("hour", 1.0), "hrs": ("hour", 1.0), "h": ("hour", 1.0),
          "day": ("hour", 24.0), "days": ("hour", 24.0), "minute": ("hour", 1 / 60), "min": ("hour", 1 / 60),
          "mins": ("hour", 1 / 60), "week": ("hour", 168.0), "mv": ("mev", 1.0), "mev": ("mev", 1.0)}
_RANGE_WORDS = frozenset("less than greater hour per day consecutive mev".split())
#: Endings that make a label's adjective from a note's noun ("axilla" -> "Axillary").
_QUANTITY_FILLERS = frozenset({"consecutive", "continuous", "total", "full"})
_QUANTITY_RE = re.compile(r"^(\d+)([a-z]*)$")
_RANGE_RE = re.compile(r"(less than|greater than|<|>)?\s*(\d+)(?:\s*-\s*(\d+))?\s*(?:consecutive\s+)?(hour|mev)",
                       re.IGNORECASE)


#: Units of a measured amount: the number before one is an amount ("1.2 liters"), never a label's number
#: ("1 to 2 Ribs" took a thoracentesis's "1.2 liters" for the first two ribs).
_MEASURE_UNITS = frozenset({"liter", "l", "ml", "cc", "cm", "mm", "mg", "g", "kg", "unit", "french", "fr",
                            "gauge", "percent"}) | frozenset(_UNITS)


def _measured(words: list[str], i: int) -> bool:
    """Whether ``words[i]`` is a number (or a run of digits, "1.2") that an amount's unit follows."""
    if not words[i].isdigit():
        return False
    j = i + 1
    while j < len(words) and words[j].isdigit():
        j += 1
    return j < len(words) and words[j] in _MEASURE_UNITS


#: How far past its number a bound ("more than 96 hours") puts the quantity: "more than 96" is not 96.
_BOUND_STEP = 1e-6


def _quantities(words: list[str], comparators: dict[tuple[str, ...], str]) -> dict[str, tuple[float, frozenset[str]]]:
    """Quantities the words state ("6 day", "72 hour", "4hour", "6 mv"), by dimension, with their words.

    A comparator just before the number ("more than 96 hours", "at least 97", "less than 24") makes it a
    bound: a quantity above (below) the number, so "more than 96 consecutive hours" is in "Greater than 96
    Consecutive Hours", not in "24-96 Consecutive Hours" as the bare 96 is.
    """
    out: dict[str, tuple[float, frozenset[str]]] = {}
    for i, word in enumerate(words):
        m = _QUANTITY_RE.match(word)
        if not m:
            continue
        unit, used = m.group(2), {word}
        if not unit:
            # "6 days", and "120 consecutive hours": the unit may follow a filler word.
            at = i + 1 + (i + 1 < len(words) and words[i + 1] in _QUANTITY_FILLERS)
            if at < len(words):
                unit, used = words[at], {word, *words[i + 1:at + 1]}
        if unit in _UNITS:
            dimension, factor = _UNITS[unit]
            value = float(m.group(1))
            for size in (2, 1):
                bound = comparators.get(tuple(words[max(0, i - size):i])) if i >= size else None
                if bound:
                    value += _BOUND_STEP * ((bound == ">") - (bound == "<"))
                    used |= set(words[i - size:i])
                    break
            out.setdefault(dimension, (value * factor, frozenset(used)))
    return out


def _range_match(label: str, query: _Query) -> frozenset[str] | bool | None:
    """Whether a label's range ("24-96 Consecutive Hours", "Photons 1 - 10 MeV") holds the quantity stated.

    Returns:
        The quantity's words when it holds, ``False`` when it does not, ``None`` when the label has no
        range or the words state no quantity of its kind.
    """
    m = _RANGE_RE.search(label)
    if not m:
        return None
    found = query.quantities.get(m.group(4).lower())
    if found is None:
        return None
    value, used = found
    if "per day" in label.lower():
        value = min(value, 24.0)
    low = float(m.group(2))
    high = float(m.group(3)) if m.group(3) else low
    kind = (m.group(1) or "").lower()
    if kind in ("less than", "<"):
        ok = value < low
    elif kind in ("greater than", ">"):
        ok = value > low
    else:
        ok = low <= value <= high
    return frozenset(t for t in used if t in query.bag) if ok else False
