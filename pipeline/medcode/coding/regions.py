"""A site named by its part where the code names its region (``coding_rules.json`` ``site_regions``).

ICD-10-CM codes a joint's or the skin's condition by region: "Idiopathic gout, left ankle and foot" for a great
toe, "... of right arm" for a lipoma of the forearm, "Cellulitis of right lower limb" for the foot. A note names
the part, which no word of those titles has, and the unspecified site's code had won (M10.9 for "acute gout flare,
left great toe"). In a sentence about such a condition the part's region words are added, as a coder reads the
tabular's site axis.
"""

from __future__ import annotations

import functools

from medcode.coding.rules import rules_data
from medcode.coding.tables import INJURY, INJURY_KINDS
from medcode.textnorm import content_words


@functools.cache
def _groups() -> tuple[tuple[frozenset[str], bool, tuple[tuple[frozenset[str], frozenset[str]], ...]], ...]:
    """Per group, its condition words, whether a part's words give way to its region's, and its (part words,
    region words), canonical."""
    out = []
    for group in rules_data().get("site_regions", {}).get("groups", ()):
        when = frozenset(w for phrase in group["when"] for w in content_words(phrase))
        regions = tuple((frozenset(content_words(part)), frozenset(content_words(region)))
                        for part, region in group["regions"].items())
        out.append((when, bool(group.get("replace")), regions))
    return tuple(out)


def read_regions(bag: set[str]) -> None:
    """Add to a sentence's canonical words the regions of the parts it names, if it names a condition coded by
    region (in place); drop the parts' words where the group says so and the sentence tells of no injury."""
    for when, replace, regions in _groups():
        if when.isdisjoint(bag):
            continue
        parts = [(part, region) for part, region in regions if part <= bag]
        for _, region in parts:
            bag |= region
        if replace and parts and bag.isdisjoint(INJURY) and bag.isdisjoint(INJURY_KINDS):
            bag -= set().union(*(part for part, _ in parts))
