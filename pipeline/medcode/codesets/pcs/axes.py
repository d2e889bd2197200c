"""Scoring one PCS call, axis by axis: operation, body part, side, approach, device, qualifier."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from medcode.codesets.pcs.labels import _label_key
from medcode.codesets.pcs.quantities import _range_match
from medcode.codesets.pcs.records import (
    _NO_MATCH,
    ALIAS_FACTOR,
    APPROACH_FEATURES,
    APPROACH_WEIGHT,
    AXIS_NAMES,
    CONTRAST_MENTION,
    DECAY,
    DEFAULT_PENALTY,
    GUESS_PENALTY,
    INDEX_BONUS,
    INDEX_CODE_BONUS,
    INDEX_OP_WEIGHT,
    LABEL_MISS,
    LATERALITY,
    MIN_SCORE,
    MISSING_PENALTY,
    OP_WEIGHT,
    PAST_FACTOR,
    RANGE_WEIGHT,
    ROUTE_FACTOR,
    SIDE_BONUS,
    SIDE_WINDOW_AFTER,
    SIDE_WINDOW_BEFORE,
    SIDES,
    TOP_VALUES,
    UNKNOWN_WEIGHT,
    PcsProposal,
    _Choice,
    _Label,
    _Op,
    _Query,
    _settle_rows,
    _Table,
    _top,
)

if TYPE_CHECKING:
    from medcode.codesets.pcs.composer import PcsComposer

class _Call:
    """The scoring state of one :meth:`PcsComposer.propose` call: the query, caches, fired index entries."""

    def __init__(self, composer: PcsComposer, query: _Query):
        self.c = composer
        self.q = query
        self.fired = composer._fire(query)
        self.cache: dict = {}
        self.bounds: dict = {}      # the most each label can score (medcode.codesets.pcs.bounds)
        self.ops: dict[str, _Op] = {}
        self.op_matches: dict[frozenset[str], tuple[float, frozenset[str], float]] = {}
        self.prefix = ""            # the table being scored

    @functools.cached_property
    def live(self) -> frozenset[int]:
        """The labels some name of which has a word of the passage (~170 of 2,392): the others match nothing
        (read on the first table scored, as the cues: 202 of 750 CodiEsp dev calls have no candidate table)."""
        return self.c._labels_named_by(self.q.bag)

    @functools.cached_property
    def cues(self) -> list[dict]:
        """The cues of the word data one of whose words the passage has, with those words."""
        return [dict(cue, words=frozenset(cue["any"]) & self.q.bag) for cue in self.c._lex["cues"] if frozenset(cue["any"]) & self.q.bag]

    # ----------------------------------------------------------------- matching

    def closeness(self, word: str, near: frozenset[int], decay: tuple[float, float, float]) -> float:
        """1 for a word close to the operation's words, less the further it is."""
        if not near:
            return 1.0
        full, floor, span = decay
        distance = min(abs(a - b) for a in self.q.origin[word] for b in near)
        if distance <= full:
            return 1.0
        return max(floor, 1.0 - (1.0 - floor) * (distance - full) / span)

    def match(self, words: frozenset[str], near, used, decay, full=False, loose=False):
        """Score one label or alias against the words not yet used; ``(score, words matched)``."""
        hit = (words & self.q.bag) - used
        if not hit or (full and hit != words):
            return 0.0, frozenset()
        gain = loss = 0.0
        for word in words:
            weight = self.c._idf.get(word, UNKNOWN_WEIGHT)
            if word in hit:
                close = self.closeness(word, near, decay)
                gain += close * weight
                loss += (1.0 - close) * weight * LABEL_MISS
            elif not loose:
                loss += weight * LABEL_MISS
        return gain - loss, hit

    def label(self, index: int, near, used, decay, sided=False) -> tuple[float, frozenset[str]]:
        """A label's score: the best of its own words and its aliases (Body Part Key, Device Key, index).

        A body part's side is settled apart (``sided`` false); on other axes it is one more word.
        """
        if index not in self.live:
            return _NO_MATCH  # what matching gives a label none of whose names has a word of the passage
        key = (index, near, used, decay, sided)
        if key in self.cache:
            return self.cache[key]
        label = self.c._labels[index]
        words = label.full if sided else label.words
        best = self.match(words, near, used, decay, loose=label.loose) if words else (0.0, frozenset())
        for alias in self.c._aliases.get(_label_key(label.text), ()):
            score, hit = self.match(alias, near, used, decay, full=True)
            if ALIAS_FACTOR * score > best[0]:
                best = (ALIAS_FACTOR * score, hit)
        self.cache[key] = best
        return best

    def used(self, tokens: Iterable[str]) -> frozenset[str]:
        """Tokens an axis took that a later axis may not take again (unless the note says them twice)."""
        return frozenset(t for t in tokens if len(self.q.origin.get(t, ())) == 1)

    # ----------------------------------------------------------------- axes

    def operation(self, table: _Table) -> _Op:
        """How well the words name a table's root operation, or the index points into the table (cached:
        :meth:`PcsComposer.propose` asks it to choose the tables, :meth:`table` again to score one)."""
        op = self.ops.get(table.prefix)
        if op is None:
            op = self.ops[table.prefix] = self._operation(table)
        return op

    def _operation(self, table: _Table) -> _Op:
        # Tables share their operation's words (a passage's ~24 candidate tables name a few operations):
        # matched once per distinct words.
        found = self.op_matches.get(table.op_words)
        if found is None:
            total = sum(self.c._idf.get(w, UNKNOWN_WEIGHT) for w in table.op_words) or 1.0
            found = self.op_matches[table.op_words] = (
                *self.match(table.op_words, frozenset(), frozenset(), DECAY["default"]), total)
        score, hit, total = found
        op = _Op(OP_WEIGHT * max(score, 0.0) / total, hit if score > 0 else frozenset())
        hint = self.fired.tables.get(table.prefix)
        if hint is None and self.fired.ops and table.prefix[0] == "0":
            hint = self.fired.ops.get(self.c._labels[table.op].text.lower())
        if hint is not None:
            op.hint = hint
            op.score = max(op.score, INDEX_OP_WEIGHT)
        # (op.hit | op.hint is never empty when op.score is set, so no past words: not past.)
        if op.score and self.q.past and self.q.positions(op.hit | op.hint) <= self.q.past:
            # "Rehabilitation after total hip arthroplasty": the arthroplasty is not this encounter's.
            op.score *= PAST_FACTOR
        return op

    def may_name_a_body_part(self, table: _Table) -> bool:
        """Whether any body part of the table can be chosen: named by a word of its label or an alias, pointed
        at by a fired index entry, or fixed. Tables where none can are skipped whole (exact, and most are)."""
        words, fixed = self.c._part_words(table)
        return fixed or not words.isdisjoint(self.q.bag) or any(p.startswith(table.prefix) for p in self.fired.prefixes)

    def body_parts(self, axis, near, used, decay) -> list[_Choice]:
        """Body part values of a row the words name, with the side settled or left open."""
        choices, live = [], self.live
        for code, index in axis:
            if index not in live:
                continue  # no name of the label has a word of the passage: it scores 0 (a call each cost ~5%)
            label = self.c._labels[index]
            score, hit = self.label(index, near, used, decay)
            if score <= 0:
                continue
            if self.q.route and self.by_route(hit):
                score *= ROUTE_FACTOR
            if label.side is None:
                choices.append(_Choice(code, score, hit))
                continue
            stated = _side_of(hit, self.q)
            if stated is None:
                choices.append(_Choice(code, score, hit, "side-missing"))
            elif stated == label.side or (stated == "bilateral" and not self.has_bilateral(axis, label)):
                # "Bilateral myringotomy": a body part with no Bilateral value is coded on each side.
                choices.append(_Choice(code, score + SIDE_BONUS, hit | {stated}))
        if not choices and self.fired.prefixes:
            # The index names the body part ("EGD": Upper Intestinal Tract) where the words do not.
            for code, _ in axis:
                hint = self.fired.prefixes.get(self.prefix + code)
                if hint:
                    choices.append(_Choice(code, INDEX_BONUS, hint))
        if not choices:
            # The table has one body part ("Products of Conception"), or the row's is "None" (rehabilitation
            # of no particular region): naming the operation names it.
            nothing = [code for code, index in axis if self.c._labels[index].none]
            if len(axis) == 1 and self.c._by_prefix[self.prefix].single_part or nothing:
                choices.append(_Choice((nothing or [axis[0][0]])[0], 0.0, how="fixed"))
        return _top(choices)

    def has_bilateral(self, axis, label: _Label) -> bool:
        """Whether the axis has a Bilateral value of the body part ``label`` names one side of."""
        labels = self.c._labels
        return any(labels[i].side == "bilateral" and labels[i].words == label.words for _, i in axis)

    def by_route(self, hit: frozenset[str]) -> bool:
        """Whether a body part is named mostly by the words of the access route ("via right femoral vein"):
        the vessel a catheter goes in by, not the body part the filter or catheter ends in. The part still
        leads when nothing else is named, at a lower score."""
        idf = self.c._idf
        route = sum(idf.get(t, UNKNOWN_WEIGHT) for t in hit if self.q.origin.get(t, set()) <= self.q.route)
        return route >= 0.5 * sum(idf.get(t, UNKNOWN_WEIGHT) for t in hit)

    def approach(self, table: _Table, part: str, axis, prefix: str) -> list[_Choice]:
        """Character 5: the approach words a note states (or, outside surgery, its own labels)."""
        if table.titles[1] != "Approach":
            return self.values(table, part, axis, prefix, 5, frozenset())
        choices = []
        for code, index in axis:
            features = self.c._labels[index].words & APPROACH_FEATURES
            hit = features & self.q.bag
            if hit:
                score = APPROACH_WEIGHT * (len(hit) - 0.75 * len(features - hit))
                if score > 0:
                    choices.append(_Choice(code, score, hit))
        choices = self.cued(choices, axis, prefix, 5)
        return _top(choices) or self.fallback(table, part, axis, prefix, 5)

    def cued(self, choices: list[_Choice], axis, prefix: str, pos: int) -> list[_Choice]:
        """Add the weight of the cues that fire for this axis ("colostomy": the bypass ends at the skin)."""
        if not self.cues:
            return choices  # most passages fire no cue
        bonus = {}
        operation = self.c._labels[self.c._by_prefix[prefix[:3]].op].text
        for cue in self.cues:
            if cue["pos"] == pos and prefix.startswith(cue["prefix"]) and cue.get("op", operation) == operation:
                bonus[cue["code"]] = (cue["weight"], cue["words"])
        if not bonus:
            return choices
        out = {c.code: c for c in choices}
        for code, _ in axis:
            if code in bonus:
                weight, words = bonus[code]
                old = out.get(code, _Choice(code, 0.0))
                out[code] = _Choice(code, old.score + weight, old.tokens | words)
        # A negative cue takes back what a word gave ("before incision" is no open approach to a vein).
        return [c for c in out.values() if c.score > 0]

    def values(self, table: _Table, part: str, axis, prefix: str, pos: int, used) -> list[_Choice]:
        """Device, qualifier and the non-surgical axes: labels, keys, ranges, else the fallback."""
        decay = DECAY.get(table.prefix[0], DECAY["default"])
        choices = []
        for code, index in axis:
            label = self.c._labels[index]
            if label.none:
                continue
            # Without a stated quantity no range can hold or fail (None): the label's regex search was a
            # twentieth of the composer's time.
            held = _range_match(label.text, self.q) if self.q.quantities else None
            if held is False:
                continue
            score, hit = self.label(index, frozenset(), used, decay, sided=True) if index in self.live else _NO_MATCH
            if held is not None:
                score, hit = score + RANGE_WEIGHT, hit | held
            if score > 0:
                choices.append(_Choice(code, score, hit))
        choices = self.cued(choices, axis, prefix, pos)
        if choices:
            return _top(choices)
        ambiguous = table.titles[pos - 4] == "Contrast" and CONTRAST_MENTION in self.q.bag
        return self.fallback(table, part, axis, prefix, pos, ambiguous)

    def fallback(self, table: _Table, part: str, axis, prefix: str, pos: int, ambiguous=False) -> list[_Choice]:
        """No word names a value: the only one, the "No ..." one, a coding convention, or an open axis."""
        indexed = {t[pos - 1] for t in self.fired.targets if len(t) >= pos and t.startswith(prefix)}
        if len(indexed) == 1 and indexed <= {code for code, _ in axis}:
            # The index entry the note fires spells this axis ("Cardioversion 5A2204Z"): no convention needed.
            return [_Choice(indexed.pop(), 0.0, how="fixed")]
        # The rest reads only the tables, so it is kept by axis, prefix and position (prefix[:3] is the table,
        # prefix[3] the body part): a fallback per axis and passage was a tenth of propose (cProfile, CodiEsp dev).
        key = (id(axis), prefix, pos, ambiguous)
        found = self.c._fallbacks.get(key)
        if found is None:
            found = self.c._fallbacks[key] = tuple(self._convention(table, part, axis, prefix, pos, ambiguous))
        return list(found)

    def _convention(self, table: _Table, part: str, axis, prefix: str, pos: int, ambiguous: bool) -> list[_Choice]:
        """:meth:`fallback` when no index entry spells the axis."""
        labels = self.c._labels
        nothing = [code for code, index in axis if labels[index].none]
        if ambiguous and nothing:
            others = [code for code, _ in axis if code != nothing[0]]
            return [_Choice(nothing[0], -DEFAULT_PENALTY, how="default"),
                    *(_Choice(code, -GUESS_PENALTY, how="missing") for code in others[:1])]
        default = self.default(prefix, pos)
        if len(axis) == 1:
            code, index = axis[0]
            options = table.options(part, pos)
            if labels[index].none or len(options) <= 1 or default == code:
                return [_Choice(code, 0.0 if default != code else -DEFAULT_PENALTY, how="fixed")]
            # One row of several for this body part, naming a value the note does not: an unlikely
            # alternative when another row has "No ..." or a convention names another value; else the
            # value a later axis's words pick the row for ("Stent Retriever" is percutaneous), or open.
            how = "default" if default or "Z" in options else "row"
            return [_Choice(code, -GUESS_PENALTY, how=how)]
        if nothing:
            return [_Choice(nothing[0], 0.0, how="fixed")]
        if default in {c for c, _ in axis}:
            return [_Choice(default, -DEFAULT_PENALTY, how="default")]
        return [_Choice(code, -GUESS_PENALTY, how="missing") for code, _ in axis[:TOP_VALUES]]

    def default(self, prefix: str, pos: int) -> str | None:
        """The coding convention for an axis the note leaves unsaid, by the longest matching prefix (kept by
        prefix: the scan was 3.6% of propose, py-spy on CodiEsp dev)."""
        key = (prefix[:6], pos)
        if key not in self.c._defaults:
            defaults = self.c._lex["defaults"][AXIS_NAMES[pos]]
            self.c._defaults[key] = next((defaults[key[0][:n]] for n in range(len(key[0]), 0, -1) if key[0][:n] in defaults), None)
        return self.c._defaults[key]

    # ----------------------------------------------------------------- codes

    def table(self, table: _Table) -> list[PcsProposal]:
        """Proposals from every row of a table whose operation the words support."""
        op = self.operation(table)
        if op.score <= 0 or not self.may_name_a_body_part(table):
            return []
        # Distances count from the operation's own words; the index's words only when the note has none.
        near = self.q.positions(op.hit or op.hint)
        decay = DECAY.get(table.prefix[0], DECAY["default"])
        # The index's words may name the body part too ("CT of brain"): only the operation's own are used up.
        used = self.used(op.hit)
        out = []
        for row in table.rows:
            self.prefix = table.prefix
            for part in self.body_parts(row[0], near, used, decay):
                here = table.prefix + part.code
                # The body part's words name no device or qualifier ("Bypass Descending Colon to Descending
                # Colon" is not what "descending colostomy" says).
                taken = used | part.tokens
                for ap in self.approach(table, part.code, row[1], here):
                    for dev in self.values(table, part.code, row[2], here + ap.code, 6, taken):
                        for qual in self.values(table, part.code, row[3], here + ap.code + dev.code, 7, taken):
                            out += self.proposals(table.prefix, (part, ap, dev, qual), op)
        return out

    def proposals(self, prefix: str, choices: tuple[_Choice, ...], op: _Op) -> list[PcsProposal]:
        """The code the choices make; where an axis is open, its prefix and the guessed completion.

        A proposal under MIN_SCORE is never kept (propose keeps a code's best, then drops those under it), so
        none is made: 0.27 of propose's 1.64 s (cProfile, CodiEsp dev) went here, most of it under MIN_SCORE.
        """
        titles = self.c._titles  # a property: read once
        code = prefix + choices[0].code + choices[1].code + choices[2].code + choices[3].code
        title = titles.get(code)
        if title is None:
            return []
        choices = _settle_rows(choices)
        score = op.score + sum(c.score for c in choices)
        hint = self.fired.prefixes.get(code[:4]) or self.fired.tables.get(code[:3])
        if hint is not None:
            score += INDEX_BONUS if code[:4] in self.fired.prefixes else INDEX_BONUS / 2
            score += INDEX_CODE_BONUS if code in self.fired.codes else 0.0
        open_axes = [i for i, c in enumerate(choices) if c.how in ("missing", "side-missing")]
        if not open_axes:
            score = round(score, 3)
            return [PcsProposal(code, True, (), score, self._evidence(choices, op, hint), title)] \
                if score >= MIN_SCORE else []
        missing = tuple(LATERALITY if choices[i].how == "side-missing" else AXIS_NAMES[4 + i] for i in open_axes)
        cut = 3 + open_axes[0]
        asked = round(score - sum(c.score for c in choices if c.how == "missing") - MISSING_PENALTY * len(missing), 3)
        guessed = round(score - GUESS_PENALTY * sum(c.how == "side-missing" for c in choices), 3)
        if asked < MIN_SCORE and guessed < MIN_SCORE:
            return []
        evidence = self._evidence(choices, op, hint)
        return [*([PcsProposal(code[:cut], False, missing, asked, evidence, self.c._prefix_title(code[:cut]))]
                  if asked >= MIN_SCORE else []),
                *([PcsProposal(code, True, (), guessed, evidence, title)] if guessed >= MIN_SCORE else [])]

    def _evidence(self, choices: tuple[_Choice, ...], op: _Op, hint: frozenset[str] | None) -> frozenset[str]:
        """The input words behind the operation, the choices and the index entry that fired."""
        tokens = set(op.hit | op.hint).union(*(c.tokens for c in choices), hint or ())
        return self.q.sources(tokens)


def _side_of(hit: frozenset[str], query: _Query) -> str | None:
    """The side stated for a body part: the nearest side word before it, else just after, else the only one."""
    sides = [(src, word) for word, src in query.tokens if word in SIDES]
    if not sides:
        return None
    at = min(min(query.origin[w]) for w in hit)
    before = [(at - s, w) for s, w in sides if 0 <= at - s <= SIDE_WINDOW_BEFORE]
    after = [(s - at, w) for s, w in sides if 0 < s - at <= SIDE_WINDOW_AFTER]
    for found in (before, after):
        if found:
            return min(found)[1]
    distinct = {w for _, w in sides}
    return distinct.pop() if len(distinct) == 1 else None
