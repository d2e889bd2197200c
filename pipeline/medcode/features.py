"""The ranker's features: one row per candidate, one named column per feature.

Most candidates have no mention: their rows are note-level signals and code facts, filled column by
column for the whole pool; the mention columns are then filled for the linked few. Values are computed
with Python's ``math`` (not numpy's vectorised functions) so they do not depend on how they are
computed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import numpy as np

from medcode.about import FAMILY, HISTORICAL, HYPOTHETICAL, NEGATED, UNCERTAIN
from medcode.candidates import CandidatePool
from medcode.codesets.kb import CATEGORY_LENGTH, category
from medcode.nlp.matcher import SOURCES
from medcode.notemodel import NoteModel
from medcode.textnorm import content_words, loose_words

#: The columns of a feature row, in order; the model card lists them.
FEATURES = (
    "ridge_score", "ridge_rank", "knn_vote", "knn_max_sim", "prior_log", "seen_in_training",
    "n_affirmed", "n_mentions", "n_negated", "n_family", "n_historical", "n_hypothetical_uncertain",
    "best_source", "learned_weight", "max_words", "min_ambiguity", "dominated", "first_position",
    "n_child_links", "billable", "in_code_set", "code_length", "category_ridge_max", "category_prior_log",
    "n_sentences", "note_length_log", "link_precision", "link_support_log", "ridge_relative", "knn_rank_log",
    "title_coverage", "title_words_missing", "engine_coverage", "engine_rank", "engine_category_rank",
)
#: Column of each feature.
COLUMN = {name: i for i, name in enumerate(FEATURES)}
#: Statuses that make a mention a possibility rather than a fact.
_UNSURE = frozenset({HYPOTHETICAL, UNCERTAIN})
#: The engine rank of a code the engine did not propose.
NO_ENGINE_RANK = 10
# engine_rank is the code's rank in its sentence, which mixes a condition's runners-up with the next condition's
# first code; engine_category_rank (CandidatePool.category_rank) tells them apart. With it (train-only recipe,
# retrained): N18.4 beside I13.0 + I50.23 rank 8 -> top 5, 13 golds of devmix + fresh4/5 gained, 5 lost at rank 6.
#: How much a source is worth: title 4, alias 3, engine 2, learned 1.
SOURCE_RANK = {s: len(SOURCES) - i for i, s in enumerate(SOURCES)}


#: The columns of :attr:`CodeTable.fact_rows`'s matrix.
_FACT_PRIOR, _FACT_SEEN, _FACT_BILLABLE, _FACT_IN_SET, _FACT_CATEGORY_PRIOR, _FACT_LENGTH, _FACT_CATEGORY, \
    _FACT_TITLE_LENGTH = range(8)


class _Facts:
    """What a note does not change about the codes of one system, one row per code seen so far.

    Rows are added as codes are first seen and kept as a list; the matrix takes the new rows when read.
    """

    def __init__(self, prior: Counter, cat_prior: Counter):
        self.prior, self.cat_prior = prior, cat_prior
        self.row: dict[str, int] = {}
        self.rows: list[tuple] = []
        self.titles: list[frozenset[str]] = []
        self.categories: dict[str, int] = {}
        self._matrix: np.ndarray | None = None
        self._filled = 0

    @property
    def matrix(self) -> np.ndarray:
        """The rows as a matrix (rows past the last one added are not meaningful)."""
        held = 0 if self._matrix is None else self._filled
        if held < len(self.rows):
            if self._matrix is None or len(self._matrix) < len(self.rows):
                # Twice the rows each time it fills: the first notes add codes pool after pool.
                grown = np.zeros((2 * len(self.rows), 8))
                if held:
                    grown[:held] = self._matrix[:held]
                self._matrix = grown
            self._matrix[held:len(self.rows)] = self.rows[held:]
            self._filled = len(self.rows)
        return self._matrix


class CodeTable:
    """Read-only view of the code sets for feature building: ``(code, system) -> (billable, title)``.

    Args:
        lookup: returns ``(billable, title)`` for a code of a system, or ``None`` for a code the
            release does not have.
    """

    def __init__(self, lookup: Callable[[str, str], tuple[bool, str] | None]):
        self._lookup = lookup
        self._words: dict[tuple[str, str], frozenset[str]] = {}
        self._facts: dict[str, _Facts] = {}

    def get(self, code: str, system: str) -> tuple[bool, str] | None:
        return self._lookup(code, system)

    def fact_rows(self, codes: list[str], system: str, prior: Counter, cat_prior: Counter) -> tuple[np.ndarray, _Facts]:
        """The row of each code in its system's facts (prior, billable, category, title...), and the facts.

        A row per code of a matrix (gathered with numpy) rather than a record per code: reading the
        records' fields into every candidate's row was a third of the feature time.
        """
        # One table per system, valid for the priors it was made with: training makes new priors
        # for each fold. They are held, not compared by id, since a freed object's id can return.
        facts = self._facts.get(system)
        if facts is None or facts.prior is not prior or facts.cat_prior is not cat_prior:
            facts = self._facts[system] = _Facts(prior, cat_prior)
        rows = list(map(facts.row.get, codes))
        if None in rows:
            rows = [self._new_row(facts, code, system) if r is None else r for code, r in zip(codes, rows)]
        return np.array(rows, dtype=np.int64), facts

    def _new_row(self, facts: _Facts, code: str, system: str) -> int:
        found = facts.row.get(code)  # a code listed twice
        if found is not None:
            return found
        info = self._lookup(code, system)
        cat = category(code, system)
        title = self.title_words(code, system)
        facts.rows.append((math.log1p(facts.prior.get(code, 0)), float(code in facts.prior),
                           float(info[0]) if info else 0.0, float(info is not None),
                           math.log1p(facts.cat_prior.get(cat, 0)), len(code),
                           facts.categories.setdefault(cat, len(facts.categories)), len(title)))
        facts.titles.append(title)
        found = facts.row[code] = len(facts.rows) - 1
        return found

    def title_words(self, code: str, system: str) -> frozenset[str]:
        """Canonical content words of the title, less the words that only add specificity."""
        words = self._words.get((code, system))
        if words is None:
            info = self._lookup(code, system)
            words = frozenset(loose_words(content_words(info[1]))) if info else frozenset()
            self._words[(code, system)] = words
        return words


def feature_matrix(pool: CandidatePool, model: NoteModel, code_info: CodeTable, note_length: int,
                   note_words: frozenset[str]) -> np.ndarray:
    """The feature rows of a candidate pool (``len(pool.codes) x len(FEATURES)``, float32)."""
    return feature_matrices([pool], model, code_info, [note_length], [note_words])


def feature_matrices(pools: list[CandidatePool], model: NoteModel, code_info: CodeTable, note_lengths: list[int],
                     note_words: list[frozenset[str]]) -> np.ndarray:
    """The feature rows of several notes' pools of one code system, pool after pool (float32).

    Each row is what :func:`feature_matrix` gives its pool alone: the values do not depend on the batch.
    The pools' codes are read one by one in Python and every column is then computed once for the batch
    with numpy: ~30 numpy steps per pool were a third of the feature time.
    """
    x = np.zeros((sum(len(pool.codes) for pool in pools), len(FEATURES)), dtype=np.float64)
    if not len(x):
        return x.astype(np.float32)
    system = pools[0].system
    rows, facts = code_info.fact_rows([c for pool in pools for c in pool.codes], system, model.prior[system],
                                      model.category_prior[system])
    read = _PoolReads()
    for pool, length, words in zip(pools, note_lengths, note_words):
        read.add(pool, rows, facts.titles, words, length, model.link_stats, (model.link_base, 0))
    _note_columns(x, read, rows, facts, len(model.labels[system]), note_lengths)
    if read.linked:
        x[np.array(read.linked)[:, None], _LINK_COLUMNS] = read.link_values
    return x.astype(np.float32)


class _PoolReads:
    """What :func:`feature_matrices` reads from its pools code by code, as flat lists over the batch's rows."""

    def __init__(self):
        self.sizes: list[int] = []
        self.ridge: list[float] = []
        self.rank: list[int] = []
        self.covered: list[int] = []
        self.top: list[float] = []
        self.n_votes: list[int] = []
        #: (row, vote rank, vote, max similarity) of the candidates the neighbours voted for.
        self.voted: list[tuple[int, int, float, float]] = []
        #: (row, links to codes below) of the candidates with child links.
        self.children: list[tuple[int, int]] = []
        self.linked: list[int] = []
        self.link_values: list[tuple] = []

    def add(self, pool: CandidatePool, rows: np.ndarray, titles: list, note_words: frozenset[str], note_length: int,
            link_stats: dict, link_default: tuple[float, int]) -> None:
        codes, knn, links = pool.codes, pool.knn_votes, pool.links
        offset = sum(self.sizes)
        self.sizes.append(len(codes))
        self.ridge += map(pool.ridge.__getitem__, codes)
        self.rank += map(pool.ridge_rank.__getitem__, codes)
        self.covered += [len(titles[i] & note_words) for i in rows[offset:offset + len(codes)].tolist()]
        self.top.append(pool.top_ridge)
        self.n_votes.append(len(knn))
        position = dict(zip(codes, range(offset, offset + len(codes))))
        self.voted += [(position[c], rank, vote, sim) for rank, (c, (vote, sim)) in
                       enumerate(sorted(knn.items(), key=lambda item: -item[1][0])) if c in position]
        self.children += [(position[c], n) for c, n in pool.child_links.items() if c in position]
        for i, code in enumerate(codes):
            found = links.get(code)
            if found:
                self.linked.append(offset + i)
                self.link_values.append(_link_values(found, code, note_length, link_stats, link_default, pool))


#: ``math.log1p(i)`` for ``i`` in ``range(n)``, by ``n`` (ranks' logs gathered with numpy, the same doubles).
_LOG1P: dict[int, np.ndarray] = {}


def _log1p_table(n: int) -> np.ndarray:
    table = _LOG1P.get(n)
    if table is None:
        table = _LOG1P[n] = np.array([math.log1p(i) for i in range(n)], dtype=np.float64)
    return table


def _note_columns(x: np.ndarray, read: _PoolReads, rows: np.ndarray, facts: _Facts, n_labels: int,
                  note_lengths: list[int]) -> None:
    """The columns every candidate has: classifier, neighbours, code facts, title coverage.

    Column by column with numpy over the batch, the code facts gathered from their table. Long because the
    16 columns are each a line or two.
    """
    fact = facts.matrix[rows]
    sizes = read.sizes
    r = np.array(read.ridge, dtype=np.float64)
    rank = np.array(read.rank, dtype=np.int64)
    # A code the classifier does not know has the rank after the last, n_labels.
    x[:, COLUMN["ridge_score"]] = r
    x[:, COLUMN["ridge_rank"]] = _log1p_table(n_labels + 1)[np.where(rank >= 0, rank, n_labels)]
    x[:, COLUMN["ridge_relative"]] = r / np.repeat(np.array(read.top, dtype=np.float64), sizes)
    # The log of each neighbour code's vote rank, and of the rank of the rest: most candidates have no vote.
    logs = _log1p_table(max(read.n_votes) + 11)
    x[:, COLUMN["knn_rank_log"]] = logs[np.repeat(np.array(read.n_votes, dtype=np.int64) + 10, sizes)]
    if read.voted:
        at, vote_rank, vote, sim = (list(column) for column in zip(*read.voted))
        x[at, COLUMN["knn_vote"]], x[at, COLUMN["knn_max_sim"]], x[at, COLUMN["knn_rank_log"]] = vote, sim, logs[vote_rank]
    for name, column in (("prior_log", _FACT_PRIOR), ("seen_in_training", _FACT_SEEN), ("billable", _FACT_BILLABLE),
                         ("in_code_set", _FACT_IN_SET), ("category_prior_log", _FACT_CATEGORY_PRIOR),
                         ("code_length", _FACT_LENGTH)):
        x[:, COLUMN[name]] = fact[:, column]
    # The best classifier score of a candidate's category among its pool's known candidates (at least -1), 0 if none.
    group = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes) * len(facts.categories) + fact[:, _FACT_CATEGORY].astype(np.int64)
    groups, of_row = np.unique(group, return_inverse=True)
    known = rank >= 0
    best = np.full(len(groups), -np.inf)
    np.maximum.at(best, of_row[known], r[known])
    x[:, COLUMN["category_ridge_max"]] = np.where(np.isneginf(best), 0.0, np.maximum(best, -1.0))[of_row]
    if read.children:
        at, counts = zip(*read.children)
        x[list(at), COLUMN["n_child_links"]] = counts
    covered = np.array(read.covered, dtype=np.float64)
    title_length = fact[:, _FACT_TITLE_LENGTH]
    x[:, COLUMN["title_coverage"]] = np.where(title_length > 0, covered / np.maximum(title_length, 1.0), 0.0)
    x[:, COLUMN["title_words_missing"]] = title_length - covered
    x[:, COLUMN["first_position"]] = 1.0  # "at the very end": overwritten for linked codes
    x[:, COLUMN["engine_rank"]] = NO_ENGINE_RANK
    x[:, COLUMN["engine_category_rank"]] = NO_ENGINE_RANK
    x[:, COLUMN["note_length_log"]] = np.repeat([math.log1p(n) for n in note_lengths], sizes)


#: The mention columns, in the order :func:`_link_values` gives them.
_LINK_COLUMNS = [COLUMN[name] for name in (
    "n_affirmed", "n_mentions", "n_negated", "n_family", "n_historical", "n_hypothetical_uncertain", "best_source",
    "learned_weight", "max_words", "min_ambiguity", "dominated", "first_position", "n_sentences", "link_precision",
    "link_support_log", "engine_coverage", "engine_rank", "engine_category_rank")]


def _link_values(links: list, code: str, note_length: int, link_stats: dict, link_default: tuple[float, int],
                 pool: CandidatePool) -> tuple:
    """The mention columns of one linked candidate (:data:`_LINK_COLUMNS`): counts by status, link quality,
    position. Plain locals and one tuple per candidate: a Counter and a dict per candidate, written into the
    row one numpy item at a time, were 1.5 of the 2.8 ms a CodiEsp dev note spent building features."""
    affirmed = negated = family = historical = unsure = 0
    best_source, learned_weight, max_words, ambiguity = 0, 0.0, 0, 1 << 30
    engine_coverage, engine_rank, category_rank = 0.0, NO_ENGINE_RANK, NO_ENGINE_RANK
    all_dominated, first, sentences, best_link = True, note_length, set(), None
    engine_ranks, cat = pool.engine_ranks, code[:CATEGORY_LENGTH[pool.system]]
    # Comparisons rather than max()/min() calls (the same values: a tie keeps the value held), a third faster.
    for m, hit, link_ambiguity in links:
        status = m.status
        if not status:
            affirmed += 1
        else:
            negated += NEGATED in status
            family += FAMILY in status
            historical += HISTORICAL in status
            unsure += not _UNSURE.isdisjoint(status)
        source = hit.source
        rank = SOURCE_RANK[source]
        if rank > best_source:
            best_source = rank
        if source == "learned" and hit.weight > learned_weight:
            learned_weight = hit.weight
        elif source == "engine":
            if hit.weight > engine_coverage:
                engine_coverage = hit.weight
            if hit.rank < engine_rank:
                engine_rank = hit.rank
            # pool.category_rank inlined, the category cut once per code: a method call per engine link.
            group = engine_ranks.get((m.sentence, cat))
            if group:
                within, hit_rank = 0, hit.rank
                for other in group.values():
                    if other < hit_rank:
                        within += 1
                if within < category_rank:
                    category_rank = within
            elif category_rank > 0:
                category_rank = 0
        if m.words > max_words:
            max_words = m.words
        if link_ambiguity < ambiguity:
            ambiguity = link_ambiguity
        all_dominated = all_dominated and m.dominated
        if m.start < first:
            first = m.start
        sentences.add(m.sentence)
        stat = link_stats.get((m.key, code), link_default)
        if best_link is None or stat > best_link:
            best_link = stat
    return (affirmed, len(links), negated, family, historical, unsure, best_source, learned_weight, max_words,
            ambiguity, float(all_dominated), first / max(note_length, 1), len(sentences), best_link[0],
            math.log1p(best_link[1]), engine_coverage, engine_rank, category_rank)
