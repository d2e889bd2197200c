"""A 7th character that states a detail of the condition, not the encounter: stage, eye, tophus, fetus.

Glaucoma's stage (H40.113 + "2 moderate stage"), diabetic retinopathy's eye (E11.329 + "3 bilateral"), chronic
gout's tophus (M1A.041 + "1 with tophus (tophi)") are 7th characters whose meanings are words a note says. The
encounter rule (:func:`medcode.coding.encounter.seventh_character`) had taken the lowest character for them:
every "POAG both eyes, moderate stage" was H40.1130 (stage unspecified), every retinopathy E11.3291 (right eye,
also when the note said "left" or no side; 9 of 1,300 development notes). A coder reads the note for the meaning;
so does :func:`stated_character`.
"""

from __future__ import annotations

import functools

from medcode.textnorm import content_words

#: Meaning words that say a detail is missing: no note states them.
_UNSAID = frozenset({"unspecified", "not", "applicable", "other"})
#: Note words that state a meaning in other words ("tophaceous gout" has tophi).
_SAID_AS = {"tophaceous": "tophus"}


def names_encounter(options: dict[str, str]) -> bool:
    """Whether a code's 7th characters are the encounter's (initial, subsequent, sequela)."""
    return any("encounter" in meaning or "sequela" in meaning for meaning in options.values())


@functools.lru_cache(maxsize=512)
def _weights(options: tuple[tuple[str, str], ...]) -> tuple[tuple[str, dict[str, float], bool], ...]:
    """Per character, its meaning's words weighted by how few meanings share them (negative for what it is
    *without*: "0 without tophus (tophi)"), and whether it is the unspecified one (what a note that states
    nothing gets)."""
    stated, lacking = {}, {}
    for char, meaning in options:
        have, _, without = meaning.lower().partition("without")
        stated[char] = set(content_words(have)) - _UNSAID
        lacking[char] = set(content_words(without)) - _UNSAID
    shared: dict[str, int] = {}
    for ws in stated.values():
        for w in ws:
            shared[w] = shared.get(w, 0) + 1
    out = []
    for char, meaning in options:
        weights = {w: 1.0 / shared[w] for w in stated[char] if shared[w] < len(options)}
        weights.update(dict.fromkeys(lacking[char], -1.0))
        out.append((char, weights, "unspecified" in meaning))
    return tuple(out)


def stated_character(options: dict[str, str], words: set[str]) -> str:
    """The 7th character whose meaning the note's canonical words state best; the unspecified one (else the
    lowest) when they state none."""
    said = words | {_SAID_AS[w] for w in words if w in _SAID_AS}

    def fit(item: tuple[str, dict[str, float], bool]) -> tuple:
        char, weights, unspecified = item
        return (-sum(weight for w, weight in weights.items() if w in said), not unspecified, char)

    return min(_weights(tuple(sorted(options.items()))), key=fit)[0]
