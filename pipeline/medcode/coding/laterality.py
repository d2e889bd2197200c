"""Both sides of a condition whose codes name one side each: a coder reports the right and the left code.

Where a category has codes for the right and the left side but none for both, a condition of both sides is coded
twice, once per side ("seropositive RA involving both hands": M05.741 and M05.742). The engine's words find the
unspecified side's code first (no title says "both"; M05.749 came first and the sides 4th and 6th, 1 of 120 fresh5
notes read); :class:`SidePairs` gives the two sides' codes of such an unspecified code, from the release's titles.
"""

from __future__ import annotations

import re

#: Note words (canonical) that name both sides.
BOTH = frozenset({"both", "bilateral"})
_UNSPECIFIED = re.compile(r"\bunspecified (?=\w)")


class SidePairs:
    """The right and left codes of each unspecified-side code without a bilateral sibling (built on first use)."""

    def __init__(self, codes: list[str], titles: list[str]):
        self._codes, self._titles = codes, titles
        self._pairs: dict[str, tuple[str, str]] | None = None

    def _build(self) -> dict[str, tuple[str, str]]:
        by_title = {title.lower(): code for code, title in zip(self._codes, self._titles)}
        pairs = {}
        for code, title in zip(self._codes, self._titles):
            low = title.lower()
            if "unspecified" not in low or "unilateral" in low:
                continue  # "Unilateral primary osteoarthritis, unspecified knee": one side, not both
            for m in _UNSPECIFIED.finditer(low):
                right, left, both = (by_title.get(low[:m.start()] + side + low[m.end():])
                                     for side in ("right ", "left ", "bilateral "))
                if right and left and not both:
                    pairs[code] = (right, left)
                    break
        return pairs

    def both(self, code: str, sentence: list) -> tuple[str, ...]:
        """The right and left codes of ``code`` when its sentence (``(token, words)`` pairs) names both sides."""
        if self._pairs is None:
            self._pairs = self._build()
        pair = self._pairs.get(code)
        if pair and any(not BOTH.isdisjoint(words) for _, words in sentence):
            return pair
        return ()
