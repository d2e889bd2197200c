"""Statuses the context rules give a mention that the mention's own codes overrule.

The context component reads triggers around a mention ("negative", "mother", "no"); some codes carry their own
evidence against what it reads: a poisoning is the patient's whoever owned the drug, a code that states an absence
is no negated finding, a drug opening its own clause is taken, and a receptor status states its own sign.
"""

from __future__ import annotations

import re

from spacy.tokens import Doc

from medcode.about import FAMILY, NEGATED
from medcode.coding.receptors import RECEPTOR_CATEGORY
from medcode.coding.screening import states_absence
from medcode.coding.stated import taken_in_own_clause

#: A poisoning by a drug (T36-T50, 6th character 1-4: accidental, intentional, assault, undetermined).
_POISONING = re.compile(r"T(?:3[6-9]|4\d|50)\.\w\w[1-4]")


def overruled_status(doc: Doc, extent: tuple[int, int], codes: list[str], status: frozenset, signed: bool) -> frozenset:
    """The status of a mention once its codes' own evidence is weighed.

    Args:
        doc: the note.
        extent: the mention's token extent.
        codes: the engine's codes of the mention.
        status: what the context rules read.
        signed: whether the mention is a receptor status read with its sign (medcode.coding.receptors).
    """
    status = frozenset(status)
    # "found with his grandmother's metoprolol, ingested 2 tabs" read as the grandmother's (FAMILY) and was set
    # aside (2 of 448 tune/fresh notes).
    if FAMILY in status and any(_POISONING.match(code) for code in codes):
        status -= {FAMILY}
    if {NEGATED, FAMILY} & status and states_absence(codes):
        status -= {NEGATED, FAMILY}  # medcode.coding.screening
    # "ER positive, PR positive, HER2 negative": the last status's "negative" negated the two before it (Z17.0 and
    # Z17.21 lost, 1 of 239 fresh2 notes); a status read with its sign says it itself.
    signed = signed and all(code.startswith(RECEPTOR_CATEGORY) for code in codes)
    if NEGATED in status and (signed or all(code.startswith("Z79") for code in codes) and taken_in_own_clause(doc, extent)):
        status -= {NEGATED}
    return status
