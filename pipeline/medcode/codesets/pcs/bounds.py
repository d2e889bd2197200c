"""The most a table's proposals can score for a passage, so that :meth:`PcsComposer.propose` can skip a table
whose proposals cannot reach the few it returns.

A proposal scores its operation, one value per axis and the index's bonuses (:meth:`_Call.proposals`). A value a
label names scores at most the weight of the label's words the passage has less the share
:meth:`_Call.match` takes for each word it lacks, or :data:`ALIAS_FACTOR` of the weight of an alias the passage has whole, plus
its side bonus, a stated quantity's range and the cues the passage fires; a value no word names scores 0 or
less. So the best such value per axis, summed, bounds every proposal of a table: a table whose bound is under
the score its proposals must beat (the last one returned, or :data:`MIN_SCORE`) adds nothing to the result and
is not scored. Exact: the same proposals are returned (tests/test_pcs.py compares both ways).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medcode.codesets.pcs.labels import _label_key
from medcode.codesets.pcs.quantities import _RANGE_RE
from medcode.codesets.pcs.records import (
    ALIAS_FACTOR,
    APPROACH_FEATURES,
    APPROACH_WEIGHT,
    INDEX_BONUS,
    INDEX_CODE_BONUS,
    LABEL_MISS,
    RANGE_WEIGHT,
    SIDE_BONUS,
    UNKNOWN_WEIGHT,
    _Op,
    _Table,
)

if TYPE_CHECKING:
    from medcode.codesets.pcs.axes import _Call
    from medcode.codesets.pcs.composer import PcsComposer

#: Added to a bound before it is compared: a complete proposal's score is rounded to 3 decimals (up by at most
#: 0.0005), and the bound adds the same weights in another order.
ROUNDING_MARGIN = 1e-3


class TableBounds:
    """Bounds on the scores of a table's proposals; see the module docstring."""

    def __init__(self, composer: PcsComposer):
        self._composer = composer
        self._axes: dict[str, tuple[tuple[frozenset[int], bool], ...]] = {}

    def _axis_labels(self, table: _Table) -> tuple[tuple[frozenset[int], bool], ...]:
        """For characters 4-7: the labels of the table's values (all rows), and whether one is a range."""
        found = self._axes.get(table.prefix)
        if found is None:
            labels = self._composer._labels
            axes = []
            for k in range(4):
                indices = frozenset(index for row in table.rows for _, index in row[k])
                axes.append((indices, any(_RANGE_RE.search(labels[i].text) for i in indices)))
            found = self._axes[table.prefix] = tuple(axes)
        return found

    def bound(self, call: _Call, table: _Table, op: _Op) -> float:
        """The most any proposal of ``table`` can score in ``call`` (whose operation scored ``op``)."""
        fired, prefix = call.fired, table.prefix
        axes = self._axis_labels(table)
        live = call.live
        cache = call.bounds
        # A value no word names (all its labels score 0 or less) is fixed, guessed or open: 0 at most.
        part = max((self._label(cache, call, i, False) for i in axes[0][0] & live), default=0.0)
        total = op.score
        if prefix in fired.tables:
            pointed = any(p.startswith(prefix) for p in fired.prefixes)
            part = max(part, INDEX_BONUS if pointed else 0.0)
            total += INDEX_BONUS if pointed else INDEX_BONUS / 2
            total += INDEX_CODE_BONUS if any(c.startswith(prefix) for c in fired.codes) else 0.0
        total += max(part, 0.0)
        cues = self._cue_weights(call, table)
        for pos, (indices, ranged) in zip((5, 6, 7), axes[1:], strict=True):
            if pos == 5 and table.titles[1] == "Approach":
                best = APPROACH_WEIGHT * len(APPROACH_FEATURES & call.q.bag)
            else:
                best = max(0.0, max((self._label(cache, call, i, True) for i in indices & live), default=0.0))
                best += RANGE_WEIGHT if ranged and call.q.quantities else 0.0
            total += best + cues.get(pos, 0.0)
        return total

    def _label(self, cache: dict, call: _Call, index: int, sided: bool) -> float:
        """The most a label can score (its side bonus too, on the body part axis)."""
        key = (index, sided)
        found = cache.get(key)
        if found is None:
            composer, bag = self._composer, call.q.bag
            idf = composer._idf
            label = composer._labels[index]
            words = label.full if sided else label.words
            found = sum(idf.get(w, UNKNOWN_WEIGHT) for w in words & bag)
            if not label.loose:  # a word of the label the passage lacks costs its share (as _Call.match takes it)
                found -= sum(idf.get(w, UNKNOWN_WEIGHT) * LABEL_MISS for w in words - bag)
            for alias in composer._aliases.get(_label_key(label.text), ()):
                if alias <= bag:
                    found = max(found, ALIAS_FACTOR * sum(idf.get(w, UNKNOWN_WEIGHT) for w in alias))
            if not sided and label.side is not None:
                found += SIDE_BONUS
            cache[key] = found
        return found

    def _cue_weights(self, call: _Call, table: _Table) -> dict[int, float]:
        """By position, the positive weights of the cues the passage fires that can apply in the table."""
        if not call.cues:
            return {}
        operation = self._composer._labels[table.op].text
        out: dict[int, float] = {}
        for cue in call.cues:
            prefix = cue["prefix"]
            if cue["weight"] > 0 and (prefix.startswith(table.prefix) or table.prefix.startswith(prefix)) \
                    and cue.get("op", operation) == operation:
                out[cue["pos"]] = out.get(cue["pos"], 0.0) + cue["weight"]
        return out
