"""Pregnancy codes in the trimester of the note's stated week (I.C.15.a.3).

The final character of a "..., <ordinal> trimester" code is the trimester: O10.012 at 22 weeks, not O10.019.
The engine reads the week (a Z3A code from :mod:`medcode.coding.measurements`) and asks this for each
pregnancy code's sibling in that trimester.
"""

from __future__ import annotations

from medcode.about import CM
from medcode.coding.index import CodeIndex


class TrimesterCodes:
    """The trimester siblings of an index's pregnancy codes (each found on first ask, then kept).

    Args:
        index: The engine's code index (codes and titles of the release).
        positions: Each index code's row (the engine's own map, shared rather than built twice).
    """

    def __init__(self, index: CodeIndex, positions: dict[str, int]) -> None:
        self.index = index
        self._positions = positions
        self._siblings: dict[tuple[str, str], str | None] = {}

    def apply(self, hits: dict, which: str | None) -> None:
        """Replace, in place, each pregnancy code of ``hits`` (extent -> CodeHit list) by its sibling of
        trimester ``which`` ("first", "second", "third"); nothing when the note states no week."""
        if which is None:
            return
        for found in hits.values():
            for k, hit in enumerate(found):
                if hit.system == CM and hit.code.startswith(("O", "Z34")):  # and normal-pregnancy supervision
                    sibling = self.sibling(hit.code, which)
                    if sibling:
                        found[k] = hit._replace(code=sibling)

    def sibling(self, code: str, which: str) -> str | None:
        """The code of the same category whose title names trimester ``which`` (None: no such code)."""
        key = (code, which)
        if key not in self._siblings:
            base, seventh = (code, "") if code in self._positions else (code[:-1], code[-1:])
            position = self._positions.get(base)
            found = None
            if position is not None and "trimester" in self.index.titles[position].lower():
                wanted = f"{which} trimester"
                found = next((base[:-1] + c + seventh for c in "0123456789"
                              if base[:-1] + c in self._positions
                              and wanted in self.index.titles[self._positions[base[:-1] + c]].lower()), None)
            self._siblings[key] = found
        return self._siblings[key]
