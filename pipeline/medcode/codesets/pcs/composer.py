"""The PCS composer: the vendored tables, their aliases and index hints, and proposals for a passage."""

from __future__ import annotations

import functools
import logging
import math
import re
from collections import defaultdict
from itertools import chain

from medcode.codesets.pcs.axes import _Call
from medcode.codesets.pcs.bounds import ROUNDING_MARGIN, TableBounds
from medcode.codesets.pcs.labels import (
    _SUFFIX_IN,
    _json,
    _label_key,
    _make_label,
    _norm,
    _norm_cached,
    _read_titles,
    _split_side,
    _variants,
)
from medcode.codesets.pcs.passage import PassageReader
from medcode.codesets.pcs.records import (
    _GENERIC_ACTION_WORDS,
    AXIS_NAMES,
    FAMILY_CAP,
    INDEX_BONUS,
    LATERALITY,
    MAX_TABLES,
    MIN_SCORE,
    OP_WEIGHT,
    TABLE_SHARE,
    TABLES_FILE,
    TERMS_FILE,
    UNKNOWN_WEIGHT,
    WORDS_FILE,
    PcsProposal,
    _Fired,
    _Query,
    _Table,
)
from medcode.textnorm import norm_word

logger = logging.getLogger(__name__)


class PcsComposer:
    """Builds ICD-10-PCS codes from canonical words; see the module docstring.

    Build it with :meth:`load`; the constructor takes the parsed data files so tests can pass others.
    """

    def __init__(self, tables: dict, terms: dict, words: dict, titles: dict[str, str] | None = None):
        self._title_map = titles
        self._lex = words
        self._labels = [_make_label(text) for text in tables["labels"]]
        self._tables = [self._table(prefix, t) for prefix, t in sorted(tables["tables"].items())]
        self._tables_by_word: dict[str, set[str]] | None = None
        self._hints_by_word: dict[str, list] | None = None
        self._part_words_cache: dict[str, tuple[frozenset[str], bool]] = {}
        self._label_words_cache: dict[int, frozenset[str]] = {}
        self._labels_by_word: dict[str, list[int]] | None = None
        self._prefix_titles: dict[str, str] = {}
        self._queries: dict[tuple[str, int], dict | None] = {}
        self._defaults: dict[tuple[str, int], str | None] = {}  # _Call.default's answers, by prefix and position
        self._fallbacks: dict[tuple, tuple] = {}  # _Call.fallback's conventions, by axis, prefix and position
        self._codes_by_table: dict[str, list[str]] | None = None
        self._by_prefix = {t.prefix: t for t in self._tables}
        self._idf = self._weights()
        self._aliases = self._build_aliases(terms)
        self._hints = self._build_hints(terms["index"])
        self._reader = PassageReader(words, self._idf, tables["labels"])
        self._bounds = TableBounds(self)

    @classmethod
    @functools.cache
    def load(cls) -> PcsComposer:
        """The composer over the vendored FY2026 data (built on first call, then cached)."""
        composer = cls(_json(TABLES_FILE), _json(TERMS_FILE), _json(WORDS_FILE))
        logger.info("PCS composer: %d tables, %d alias keys, %d index hints", len(composer._tables),
                    len(composer._aliases), len(composer._hints))
        return composer

    @property
    def _titles(self) -> dict[str, str]:
        """The 79,115 official titles, read on the first proposal (a third of the load time otherwise)."""
        if self._title_map is None:
            self._title_map = _read_titles()
        return self._title_map

    # ----------------------------------------------------------------- loading

    def _table(self, prefix: str, raw: dict) -> _Table:
        """One table from its vendored form: rows as ``(code, label index)`` pairs per axis."""
        rows = [tuple(tuple(zip(codes, labels, strict=True)) for codes, labels in row) for row in raw["rows"]]
        titles = tuple(self._labels[i].text for i in raw["titles"])
        op = self._labels[raw["fixed"][2]].text
        # synonyms.json reads "removal" as "resection" (of an organ); the root operation Removal (of a
        # device) must keep its own word, which pcs_words.json restores where a device is named.
        op_words = frozenset([norm_word(op)]) if " " not in op else self._labels[raw["fixed"][2]].words
        return _Table(prefix, raw["fixed"][2], op_words, raw["fixed"][1], titles, rows)

    def _weights(self) -> dict[str, float]:
        """Inverse document frequency of each word over the distinct labels: "joint" weighs less than "hip"."""
        keys = {label.words for label in self._labels}
        df: dict[str, int] = defaultdict(int)
        for key in keys:
            for word in key:
                df[word] += 1
        return {w: math.log(1 + len(keys) / n) for w, n in df.items()}

    def _build_aliases(self, terms: dict) -> dict[str, list[frozenset[str]]]:
        """Label text (side dropped) -> other names: Body Part Key, Device Key, index "use" entries."""
        aliases: dict[str, set[frozenset[str]]] = defaultdict(set)

        def add(title: str, name: str) -> None:
            """Record ``name`` as another name of the label ``title``."""
            words, _ = _split_side(_norm(re.sub(r"\([^)]*\)", " ", name)))
            if words and len(words) <= 6:
                aliases[_label_key(_SUFFIX_IN.sub("", title))].add(words)
                # "Non-tunneled central venous catheter": a note names the usual device without the negative
                # ("central venous catheter"); the other kind says so ("tunneled").
                plain = frozenset(w for w in words if not w.startswith("non"))
                if len(plain) >= 2 and plain != words:
                    aliases[_label_key(_SUFFIX_IN.sub("", title))].add(plain)

        for section in terms["definitions"]["sections"].values():
            for axis in section["axes"].values():
                for term in axis["terms"]:
                    for title in term.get("titles", []):
                        for name in term.get("includes", []):
                            add(title, name)
        for path, kind, text, _code in terms["index"]:
            if kind == "use" and len(path) == 1:
                add(text, path[0])
        return {k: sorted(v, key=sorted) for k, v in aliases.items()}

    def _build_hints(self, index: list) -> list[tuple[frozenset[str], str, str]]:
        """Index entries as ``(words, target, kind)``: the words name a code prefix or a root operation."""
        op_names = {self._labels[t.op].text.lower() for t in self._tables}
        findings = frozenset(self._lex.get("findings", ()))
        hints = []
        for path, kind, text, code in index:
            # Entries under a root operation ("Resection > Appendix") restate the tables, which are scored
            # anyway; those under a procedure's name ("Cholecystectomy", "EGD") add what the tables lack.
            if kind == "use" or path[0].lower() in op_names:
                continue
            op = text.split(",")[0].strip().lower()
            if len(code) < 3 and op not in op_names:
                continue
            if len(code) < 3 and not findings.isdisjoint(_norm_cached(path[0])):
                # "Enlargement see Dilation": alone, a finding ("lymph node enlargement in the axilla" was a
                # Repair of the axillary lymphatic) is no procedure.
                continue
            target, kind = (code, "prefix") if len(code) >= 3 else (op, "op")
            hints += [(words, target, kind) for words in _variants(path)]
        return hints

    def _fire(self, query: _Query) -> _Fired:
        """Index entries all of whose words the query has."""
        if self._hints_by_word is None:
            # Each entry filed under its rarest word: a passage reads the few entries it can fire, not all 5,000.
            frequency: dict[str, int] = defaultdict(int)
            for words, _, _ in self._hints:
                for w in words:
                    frequency[w] += 1
            by_word: dict[str, list] = defaultdict(list)
            for hint in self._hints:
                if hint[0]:
                    by_word[min(hint[0], key=lambda w: (frequency[w], w))].append(hint)
            self._hints_by_word = dict(by_word)
        fired = _Fired()
        for words, target, kind in (h for w in sorted(query.bag) for h in self._hints_by_word.get(w, ())):
            if not words <= query.bag:
                continue
            if kind == "op":
                fired.ops[target] = fired.ops.get(target, frozenset()) | words
                continue
            fired.prefixes[target[:4]] = fired.prefixes.get(target[:4], frozenset()) | words
            fired.tables[target[:3]] = fired.tables.get(target[:3], frozenset()) | words
            if len(target) == 7:
                fired.codes.add(target)
            if len(target) >= 5:
                fired.targets.add(target)
        return fired

    # ----------------------------------------------------------------- proposals

    def propose(self, words: list[str], limit: int = 5) -> list[PcsProposal]:
        """Propose codes (or prefixes with their open axes) for the canonical words of a passage.

        Args:
            words: canonical content words, as :func:`medcode.textnorm.content_words` returns them.
            limit: how many proposals to return at most.

        Returns:
            Proposals, best supported first; every code is a valid FY2026 code or prefix of one.
        """
        query = self._reader.read(list(words))
        if not query.tokens:
            return []
        call = _Call(self, query)
        found: dict[str, PcsProposal] = {}
        # Rows are scored only in the tables whose operation the words name best: a passage names one or
        # two operations, and scoring the body parts of every table an operation word touches cost ~2 ms.
        ops = []
        for i, table in enumerate(self._candidate_tables(call)):
            op = call.operation(table).score
            if op > 0:
                words, fixed = self._part_words(table)
                parts = sum(self._idf.get(w, UNKNOWN_WEIGHT) for w in words & call.q.bag) or (INDEX_BONUS if fixed else 0)
                # An operation only the index points to ("bone graft": Replacement or Supplement) names its
                # tables' body parts at its own strength: at full weight, the many body parts of such tables
                # crowded out the table the words name ("spinal fusion ... bone graft" lost 0SG).
                ops.append((op + parts * min(1.0, op / OP_WEIGHT), i, table))
        best = max((score for score, _, _ in ops), default=0.0)
        top = {t.prefix for score, _, t in sorted(ops, key=lambda o: (-o[0], o[1]))[:MAX_TABLES]
               if score >= TABLE_SHARE * best}
        # A table the index points into is always scored: the index is the coder's own route to it.
        tables = [t for _, _, t in ops if t.prefix in top or t.prefix in call.fired.tables]
        # Most promising first, and none that cannot reach the result (see medcode.codesets.pcs.bounds): a code is
        # its own table's, so the order changes no proposal.
        bounded = sorted(((self._bounds.bound(call, t, call.operation(t)), k, t) for k, t in enumerate(tables)),
                         key=lambda b: (-b[0], b[1]))
        for bound, _, table in bounded:
            if bound + ROUNDING_MARGIN < _to_beat(found, limit):
                break
            for proposal in call.table(table):
                if proposal.code not in found or found[proposal.code].score < proposal.score:
                    found[proposal.code] = proposal
        ranked = sorted(found.values(), key=lambda p: (-p.score, not p.complete, p.code))
        return _diverse([p for p in ranked if p.score >= MIN_SCORE], limit)

    @functools.cached_property
    def action_words(self) -> frozenset[str]:
        """Canonical note words that name a procedure: root operations' words, index main terms, and the words
        medcode's PCS word knowledge expands (a sentence with none of them names no procedure)."""
        words = set().union(*(t.op_words for t in self._tables))
        words |= {w for hint_words, _, _ in self._hints for w in hint_words}
        words |= self._reader.known_words
        return frozenset(words - _GENERIC_ACTION_WORDS)

    def _label_words(self, index: int) -> frozenset[str]:
        """Every word a label can be matched by: its own (with the side) and its aliases' (cached)."""
        found = self._label_words_cache.get(index)
        if found is None:
            label = self._labels[index]
            words = set(label.full | label.words)
            for alias in self._aliases.get(_label_key(label.text), ()):
                words |= alias
            found = self._label_words_cache[index] = frozenset(words)
        return found

    def _labels_named_by(self, bag: frozenset[str]) -> frozenset[int]:
        """The labels (indices) one of whose names (:meth:`_label_words`) has a word of ``bag``."""
        if self._labels_by_word is None:  # 9 ms, on the first proposal
            by_word: dict[str, list[int]] = defaultdict(list)
            for index in range(len(self._labels)):
                for word in self._label_words(index):
                    by_word[word].append(index)
            self._labels_by_word = dict(by_word)
        get = self._labels_by_word.get
        return frozenset(chain.from_iterable([get(word, ()) for word in bag]))

    def _part_words(self, table: _Table) -> tuple[frozenset[str], bool]:
        """Every word a body part of the table is named by (labels and aliases), and whether one is fixed."""
        found = self._part_words_cache.get(table.prefix)
        if found is None:
            words: set[str] = set()
            fixed = table.single_part
            for row in table.rows:
                for _, index in row[0]:
                    label = self._labels[index]
                    fixed = fixed or label.none
                    words |= label.full | label.words
                    for alias in self._aliases.get(_label_key(label.text), ()):
                        words |= alias
            found = self._part_words_cache[table.prefix] = (frozenset(words), fixed)
        return found

    def _candidate_tables(self, call: _Call) -> list[_Table]:
        """The tables whose operation the words can name or the index points into (the rest score 0).

        Scoring every one of the 914 tables cost ~40 ms a sentence; a table's operation scores only
        when a word of it is in the passage or a fired index entry names it, so those are read first.
        """
        if self._tables_by_word is None:
            by_word: dict[str, set[str]] = defaultdict(set)
            by_op: dict[str, set[str]] = defaultdict(set)
            for table in self._tables:
                for word in table.op_words:
                    by_word[word].add(table.prefix)
                if table.prefix[0] == "0":
                    by_op[self._labels[table.op].text.lower()].add(table.prefix)
            self._tables_by_word, self._tables_by_op = dict(by_word), dict(by_op)
        wanted: set[str] = set()
        for word in call.q.bag:
            wanted |= self._tables_by_word.get(word, set())
        wanted |= set(call.fired.tables)
        for op in call.fired.ops:
            wanted |= self._tables_by_op.get(op, set())
        return [self._by_prefix[p] for p in sorted(wanted) if p in self._by_prefix]

    def axis_title(self, prefix: str, axis: str) -> str:
        """The title a table gives an axis ("Contrast" for character 5 of an imaging code).

        Args:
            prefix: a code or prefix of at least 3 characters.
            axis: one of the names :attr:`PcsProposal.missing` uses.

        Returns:
            The table's axis title, or ``axis`` itself when the table or the name is unknown.
        """
        table = self._by_prefix.get(prefix[:3])
        positions = {name: pos for pos, name in AXIS_NAMES.items()}
        if table is None or axis not in positions:
            return "Laterality" if axis == LATERALITY else axis
        return "Operation" if positions[axis] == 3 else table.titles[positions[axis] - 4]

    def query(self, prefix: str, max_options: int = 8) -> dict | None:
        """The question for the axis a partial code leaves open, and a code for each answer.

        Args:
            prefix: a valid ICD-10-PCS prefix of 3 to 6 characters.

        Returns:
            ``{"detail", "question", "options": [{"code", "title"}]}`` (the detail is the table's name
            for the axis: "approach", "device", "contrast", ...), or ``None`` for a complete or unknown code.
        """
        if not 3 <= len(prefix) < 7 or prefix[:3] not in self._by_prefix:
            return None
        # Every answer is kept, "no question" too: the suggester asks for each partial code it shows.
        key = (prefix, max_options)
        if key not in self._queries:
            axis = self.axis_title(prefix, AXIS_NAMES.get(len(prefix) + 1, "qualifier")).lower()
            self._queries[key] = self._query_for(prefix, axis, max_options)
        return self._queries[key]

    def _query_for(self, prefix: str, axis: str, max_options: int) -> dict | None:
        if self._codes_by_table is None:
            by_table: dict[str, list[str]] = defaultdict(list)
            for code in self._titles:
                by_table[code[:3]].append(code)
            self._codes_by_table = dict(by_table)
        examples: dict[str, tuple[str, str]] = {}
        for code, title in ((c, self._titles[c]) for c in self._codes_by_table.get(prefix[:3], ())):
            # For each answer, its plainest code (no device, no qualifier: the shortest title).
            if code.startswith(prefix) and len(title) < len(examples.get(code[len(prefix)], ("", "x" * 999))[1]):
                examples[code[len(prefix)]] = (code, title)
        if not examples:
            return None
        return {"detail": axis, "question": f"Which {axis} does the documentation support?",
                "options": [{"code": code, "title": title} for code, title in sorted(examples.values())[:max_options]]}

    def _prefix_title(self, prefix: str) -> str:
        """The operation (and body part) a prefix has fixed: PCS gives prefixes no titles (kept per prefix:
        the rows' scan was 3% of the composer's time; there are a few thousand prefixes)."""
        found = self._prefix_titles.get(prefix)
        if found is None:
            found = self._prefix_titles[prefix] = self._new_prefix_title(prefix)
        return found

    def _new_prefix_title(self, prefix: str) -> str:
        table = self._by_prefix[prefix[:3]]
        title = self._labels[table.op].text
        if len(prefix) >= 4:
            for row in table.rows:
                for code, index in row[0]:
                    if code == prefix[3]:
                        return f"{title} of {self._labels[index].text}"
        return f"{title}, {self._labels[table.system].text}"


def _to_beat(found: dict[str, PcsProposal], limit: int) -> float:
    """The score a new proposal must reach to be returned: :data:`MIN_SCORE`, or once ``limit`` codes are found, the
    last returned one's (with ``limit`` up to :data:`FAMILY_CAP`, :func:`_diverse` returns the best ``limit``)."""
    if limit > FAMILY_CAP or len(found) < limit:
        return MIN_SCORE
    return max(MIN_SCORE, sorted((p.score for p in found.values()), reverse=True)[limit - 1])


def _diverse(ranked: list[PcsProposal], limit: int) -> list[PcsProposal]:
    """The best proposals, at most :data:`FAMILY_CAP` per table until other tables have had a turn.

    A note with two procedures (a CABG and its vein harvest) would otherwise fill the list with variants
    of the better supported one.
    """
    first, rest, count = [], [], defaultdict(int)
    for proposal in ranked:
        count[proposal.code[:3]] += 1
        (first if count[proposal.code[:3]] <= FAMILY_CAP else rest).append(proposal)
    picked = (first + rest)[:limit]
    return sorted(picked, key=lambda p: (-p.score, not p.complete, p.code))
