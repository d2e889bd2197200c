"""The Excludes1 notes of ICD-10-CM: which codes cannot be reported together.

Small enough to ship in a model folder (about 2,700 of the tabular's 98,000 nodes carry a note), so a
prediction checks its suggestions without the code-set package.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right

#: A code reference inside an ICD-10-CM note: "(E08.-)", "(P70.2)", "(A00-A09)".
_REF_RE = re.compile(r"\b([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?)(?:\.?-)?(?:-([A-Z][0-9][0-9A-Z]))?")


def as_notes(value) -> list[str]:
    """simple-icd-10-cm gives some notes as a list and others as one multi-line string."""
    if isinstance(value, str):
        lines = [line.strip() for line in value.splitlines() if line.strip()]
        return ["; ".join(lines)] if lines else []
    return list(value)


@functools.cache
def _references(note: str) -> tuple[tuple[str, str | None], ...]:
    """The codes a note names: ``(code or prefix, None)`` or ``(first, last)`` category of a range."""
    return tuple((match.group(1), match.group(2)) for match in _REF_RE.finditer(note))


def _names(references: tuple[tuple[str, str | None], ...], code: str) -> bool:
    """Whether references name ``code``, by itself, by a prefix (``E08.-``) or in a range (``A00-A09``)."""
    for start, end in references:
        if end:
            if start[:3] <= code[:3] <= end:
                return True
        elif code.startswith(start):
            return True
    return False


def _named_in(ordered: list[str], start: str, end: str | None) -> list[str]:
    """The codes of a sorted list that a reference names (as :func:`_names`), found by bisection."""
    if end:
        return ordered[bisect_left(ordered, start[:3]):bisect_right(ordered, end + "\uffff")]
    return ordered[bisect_left(ordered, start):bisect_left(ordered, start + "\uffff")]


class Excludes1Index:
    """The Excludes1 notes of ICD-10-CM.

    A note written at a category, block or chapter applies to every code below it, so a code's
    notes are those of its dotted prefixes plus those of its category's ancestors. Only nodes
    that carry a note are stored.

    Attributes:
        notes: ``{node: [note, ...]}`` for the nodes that have Excludes1 notes.
        parents: ``{category: [block, chapter, ...]}`` for categories whose non-prefix ancestors
            have notes.
    """

    def __init__(self, notes: dict[str, list[str]], parents: dict[str, list[str]]):
        self.notes = notes
        self.parents = parents
        # Per code: its notes with their parsed references and the chapter letters they can name
        # (None when a range may span letters). Filled on first use: a prediction asks about a
        # few dozen codes, and the same codes again and again.
        self._checks: dict[str, list[tuple[str, tuple, frozenset | None]]] = {}

    @classmethod
    def from_code_set(cls, cm=None) -> Excludes1Index:
        """Build the index from an ICD-10-CM tabular (default: the bundled one, simple-icd-10-cm)."""
        if cm is None:
            import simple_icd_10_cm as cm  # parsing its XML takes seconds: only when building

        nodes = list(dict.fromkeys(cm.get_all_codes(True)))
        notes = {}
        for node in nodes:
            found = as_notes(cm.get_excludes1(node))
            if found:
                notes[node] = found
        parents = {}
        for node in nodes:
            if cm.is_category(node):
                above = list(dict.fromkeys(a for a in cm.get_ancestors(node) if a in notes and a != node))
                if above:
                    parents[node] = above
        return cls(notes, parents)

    def to_dict(self) -> dict:
        return {"notes": self.notes, "parents": self.parents}

    @classmethod
    def from_dict(cls, data: dict) -> Excludes1Index:
        return cls(data["notes"], data["parents"])

    def notes_for(self, code: str) -> list[str]:
        """Excludes1 notes of a code and of every ancestor, nearest first."""
        nodes = [code[:i] for i in range(len(code), 2, -1) if code[i - 1] != "."]
        nodes += self.parents.get(code[:3], [])
        return [note for node in nodes for note in self.notes.get(node, [])]

    def conflicts(self, codes: list[str]) -> list[dict]:
        """Pairs of codes that an Excludes1 note says cannot be reported together.

        Args:
            codes: ICD-10-CM codes with dots (``E11.9``), in any order; repeats count once.

        Returns:
            ``[{"codes": [a, b], "note": note}]``, one entry per (code whose note it is, code it names).
        """
        codes = list(dict.fromkeys(codes))
        # A note is checked only against the codes of the chapters it can name: most name none of a
        # note's codes, and testing every pair was 0.6 ms of a CodiEsp dev note's ~20 (30 codes each).
        by_letter: dict[str, list[int]] = {}
        for i, b in enumerate(codes):
            by_letter.setdefault(b[0], []).append(i)
        out = []
        for a in codes:
            for note, references, letters in self._checks_of(a):
                if letters is None:
                    named = codes
                else:
                    found = [i for letter in letters for i in by_letter.get(letter, ())]
                    if not found:
                        continue
                    named = [codes[i] for i in sorted(found)]  # input order, as the pairs are listed
                for b in named:
                    if b != a and _names(references, b):
                        out.append({"codes": [a, b], "note": note})
        return out

    def grouped_conflicts(self, codes: list[str]) -> list[dict]:
        """Excludes1 conflicts within a list of codes, one entry per (code, note) that names others.

        Unlike :meth:`conflicts`, which lists every pair, the output grows with the codes and their
        notes, not with their pairs, and each note's references are looked up by bisection in the
        sorted codes: thousands of codes from one chapter take well under a second.

        Args:
            codes: ICD-10-CM codes with dots, in any order; repeats count once.

        Returns:
            ``[{"codes": [a, b, ...], "note": note}]``: ``a``'s note names the other codes (in input order).
        """
        codes = list(dict.fromkeys(codes))
        ordered = sorted(codes)
        position = {code: i for i, code in enumerate(codes)}
        out = []
        for a in codes:
            for note, references, _ in self._checks_of(a):
                named = {c for start, end in references for c in _named_in(ordered, start, end)} - {a}
                if named:
                    out.append({"codes": [a, *sorted(named, key=position.__getitem__)], "note": note})
        return out

    def _checks_of(self, code: str) -> list[tuple[str, tuple, frozenset | None]]:
        checks = self._checks.get(code)
        if checks is None:
            checks = []
            for note in self.notes_for(code):
                references = _references(note)
                if references:
                    spans_letters = any(end and end[0] != start[0] for start, end in references)
                    checks.append((note, references, None if spans_letters else frozenset(s[0] for s, _ in references)))
            self._checks[code] = checks
        return checks
