"""Both sides of a condition whose codes name one side each: a coder reports the right and the left code.

Where a category has codes for the right and the left side but none for both, a condition of both sides is coded
twice, once per side ("seropositive RA involving both hands": M05.741 and M05.742). The engine's words find the
unspecified side's code first (no title says "both"; M05.749 came first and the sides 4th and 6th, 1 of 120 fresh5
notes read); :class:`SidePairs` gives the two sides' codes of such an unspecified code, from the release's titles.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from medcode.textnorm import norm_words

#: Note words (canonical) that name both sides.
BOTH = frozenset({"both", "bilateral"})
_UNSPECIFIED = re.compile(r"\bunspecified (?=\w)")
#: The side words of titles, each with the other.
SIDES = {"right": "left", "left": "right"}
_SIDE = re.compile(r"\b(right|left)\b")


class SidePairs:
    """The right and left codes of each unspecified-side code without a bilateral sibling (built on first use)."""

    def __init__(self, codes: list[str], titles: list[str]):
        self._codes, self._titles = codes, titles
        self._pairs: dict[str, tuple[str, str]] | None = None
        self._other: dict[str, str] | None = None
        self._after: dict[str, str] = {}

    def _code_by_title(self) -> dict[str, str]:
        """Every code by its title in lower case (built for each first use: most notes name neither need)."""
        return {title.lower(): code for code, title in zip(self._codes, self._titles)}

    def _build(self) -> dict[str, tuple[str, str]]:
        by_title = self._code_by_title()
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

    def nearest(self, code: str, matched: set[str], sentence: list) -> str:
        """``code``, or its other side's code when the sentence names both sides and the code's side goes with
        the other side's word.

        A title's side word goes with the word after it ("left middle cerebral artery", "left eye"): the note's
        side word whose next word is that one is the code's side ("embolic occlusion of the L MCA; residual R
        hemiparesis" is a left artery: I63.411, right, had come first). When both side words come before it
        ("AMD of the left eye with active CNV; right eye shows early dry AMD"), the side most of the code's words
        go with: a side word is read as the side of the words after it, up to the next side word (and of the
        words before the first); a word of both sides ("eye", "AMD") says neither. 2 of 659 fresh2, tune-b and
        tune notes.

        Args:
            code: a code the sentence's words found (without a 7th character).
            matched: the code's words the sentence has (canonical).
            sentence: the sentence's ``(token, words)`` pairs.
        """
        own = next((side for side in SIDES if side in matched), None)
        if own is None:
            return code
        sides = sorted({(i, side) for i, words in sentence for side in SIDES if side in words})
        if len({side for _, side in sides}) < 2:
            return code
        if self._other is None:
            self._other, self._after = self._build_other()
        swapped, word = self._other.get(code), self._after.get(code)
        if swapped is None:
            return code
        by_token: dict[int, set[str]] = {}
        for i, words in sentence:  # a token's own words and its phrases' words ("MCA": middle cerebral artery)
            by_token.setdefault(i, set()).update(words)
        order = sorted(i for i, words in by_token.items() if not words <= SIDES.keys())
        before = {side: any(word in by_token[j] for i, s in sides if s == side
                            for j in order[bisect_right(order, i):][:1]) for side in SIDES}
        if before[own] != before[SIDES[own]]:
            return code if before[own] else swapped
        if not before[own]:
            return code
        of_word: dict[str, set[str]] = {}  # the sides of each of the code's words (a word of both sides says neither)
        for j in order:
            for w in by_token[j].intersection(matched).difference(SIDES):
                side = next((side for i, side in reversed(sides) if i < j), None) or next(side for i, side in sides if i > j)
                of_word.setdefault(w, set()).add(side)
        votes = sum(1 if found == {own} else -1 for found in of_word.values() if len(found) == 1)
        return code if votes >= 0 else swapped

    def _build_other(self) -> tuple[dict[str, str], dict[str, str]]:
        """Each one-sided code's code of the other side (same title, the side word swapped), and the title's
        word after its side word (canonical)."""
        by_title = self._code_by_title()
        other, after = {}, {}
        for code, title in zip(self._codes, self._titles):
            low = title.lower()
            found = _SIDE.search(low)
            if found:
                swapped = by_title.get(_SIDE.sub(lambda m: SIDES[m.group(1)], low))
                if swapped:
                    other[code] = swapped
                    words = norm_words(" ".join(low[found.end():].split()[:1]))
                    after[code] = words[0] if words else ""
        return other, after
