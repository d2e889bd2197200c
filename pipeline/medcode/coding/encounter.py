"""The 7th character of an ICD-10-CM code, from what the note says about the encounter.

Injury, poisoning and some other categories take a 7th character: A (initial encounter: active
treatment), D (subsequent: healing, recovery), S (sequela: a late effect), and for fractures whether
the fracture is open and how it heals. A coder reads the note for it; so does :func:`seventh_character`.
The default is the initial encounter for a closed fracture (a fracture not stated as open is closed),
and never a sequela unless the note names a late effect.
"""

from __future__ import annotations

from medcode.coding.seventh import names_encounter, stated_character

#: Words (canonical, see :mod:`medcode.textnorm`) that put the encounter after active treatment. A nonunion or a
#: malunion is a fracture's subsequent encounter (K, P: the tabular has no initial one): "persistent nonunion of R
#: scaphoid fracture 6 months out" had been S62.001A (2 of 505 fresh2/fresh3 notes).
SUBSEQUENT = frozenset({"subsequent", "healing", "healed", "followup", "recheck", "aftercare", "nonunion", "malunion"})
#: Words that name a late effect.
SEQUELA = frozenset({"sequela", "sequelae", "late", "residual"})
#: Words that state the initial encounter (active treatment) outright.
INITIAL = frozenset({"initial", "acute", "emergency", "ed", "er", "admitted", "admission", "presented", "presents",
                     "today", "new", "fresh"})
#: Words that say the "open" of a note is no open fracture: an open reduction ("ORIF of a displaced Colles
#: fracture" had been coded S52.531B, open fracture), an open bite or wound of the skin; unless the note grades
#: the fracture as open (Gustilo) or compound.
NOT_AN_OPEN_FRACTURE = frozenset({"reduction", "orif", "bite"})
OPEN_FRACTURE = frozenset({"gustilo", "compound"})
#: Fracture healing words and the meaning phrase of their 7th characters.
HEALING = (("nonunion", "nonunion"), ("malunion", "malunion"), ("delayed", "delayed healing"))


def encounter_of(words: set[str]) -> str:
    """``initial``, ``subsequent`` or ``sequela`` from a sentence's (or note's) canonical words."""
    if words & SEQUELA or {"late", "effect"} <= words:
        return "sequela"
    if words & SUBSEQUENT or {"follow", "up"} <= words:
        return "subsequent"
    return "initial"


def encounter_stated(words: set[str]) -> bool:
    """Whether the note says which encounter it is (else the initial encounter is an assumption to query)."""
    return bool(words & (SUBSEQUENT | SEQUELA | INITIAL)) or {"follow", "up"} <= words


def encounter_query(code: str, options: dict[str, str]) -> dict:
    """The physician query for a 7th character the note did not state: every valid completion."""
    base = code[:-1]
    return {"detail": "encounter",
            "question": "Which encounter is this: initial (active treatment), subsequent, or sequela? "
                        f"The note does not say; {code} assumes the initial encounter.",
            "options": [{"code": base + char, "title": meaning}
                        for char, meaning in sorted(options.items(), key=lambda kv: (kv[0] not in "ADS", kv[0]))][:8]}


def seventh_character(options: dict[str, str], words: set[str]) -> str:
    """The 7th character, among ``options`` (``{character: meaning}``), that the words support.

    Args:
        options: the valid 7th characters of a code and their meanings (from the tabular).
        words: canonical words of the sentence (and of the note, for the encounter).

    Returns:
        The chosen character: the one whose meaning names the encounter, the fracture's openness and
        its healing, preferring the plainest meaning when the note says no more.
    """
    if not names_encounter(options):
        return stated_character(options, words)  # a stage, an eye, a tophus (medcode.coding.seventh)
    encounter = encounter_of(words)
    opened = "open" in words and "closed" not in words and (not words & NOT_AN_OPEN_FRACTURE or words & OPEN_FRACTURE)
    healing = next((phrase for word, phrase in HEALING if word in words), "routine healing")

    def fit(item: tuple[str, str]) -> tuple:
        char, meaning = item
        meaning = meaning.lower()
        kind = "sequela" if "sequela" in meaning else "subsequent" if "subsequent" in meaning else "initial"
        is_open = "open fracture" in meaning
        heals = next((p for _, p in HEALING if p in meaning), "routine healing")
        return (kind != encounter, is_open != opened, encounter == "subsequent" and heals != healing,
                "type iii" in meaning, char)

    return min(options.items(), key=fit)[0]
