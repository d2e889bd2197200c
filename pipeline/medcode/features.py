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
from typing import NamedTuple

import numpy as np

from medcode.about import FAMILY, HISTORICAL, HYPOTHETICAL, NEGATED, UNCERTAIN
from medcode.candidates import CandidatePool
from medcode.codesets.kb import category
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
    "title_coverage", "title_words_missing", "engine_coverage", "engine_rank",
)
#: Column of each feature.
COLUMN = {name: i for i, name in enumerate(FEATURES)}
#: Statuses that make a mention a possibility rather than a fact.
_UNSURE = frozenset({HYPOTHETICAL, UNCERTAIN})
#: The engine rank of a code the engine did not propose.
NO_ENGINE_RANK = 10
#: How much a source is worth: title 4, alias 3, engine 2, learned 1.
SOURCE_RANK = {s: len(SOURCES) - i for i, s in enumerate(SOURCES)}


class CodeFacts(NamedTuple):
    """What a note does not change about a code (cached per code and system)."""

    prior_log: float
    seen_in_training: float
    billable: float
    in_code_set: float
    category: str
    category_prior_log: float
    title_words: frozenset[str]


class CodeTable:
    """Read-only view of the code sets for feature building: ``(code, system) -> (billable, title)``.

    Args:
        lookup: returns ``(billable, title)`` for a code of a system, or ``None`` for a code the
            release does not have.
    """

    def __init__(self, lookup: Callable[[str, str], tuple[bool, str] | None]):
        self._lookup = lookup
        self._words: dict[tuple[str, str], frozenset[str]] = {}
        self._facts: dict[str, tuple[Counter, Counter, dict[str, CodeFacts]]] = {}

    def get(self, code: str, system: str) -> tuple[bool, str] | None:
        return self._lookup(code, system)

    def facts(self, code: str, system: str, prior: Counter, cat_prior: Counter) -> CodeFacts:
        """The :class:`CodeFacts` of a code, given the priors of the note model in use."""
        return self.facts_of([code], system, prior, cat_prior)[0]

    def facts_of(self, codes: list[str], system: str, prior: Counter, cat_prior: Counter) -> list[CodeFacts]:
        """The :class:`CodeFacts` of each code (as :meth:`facts`), the cache found once for the list: a
        method call per code was a tenth of the feature time (~300 codes per pool)."""
        # One cache per system, valid for the priors it was made with: training makes new priors
        # for each fold. They are held, not compared by id, since a freed object's id can return.
        entry = self._facts.get(system)
        if entry is None or entry[0] is not prior or entry[1] is not cat_prior:
            entry = self._facts[system] = (prior, cat_prior, {})
        cache = entry[2]
        return [cache.get(code) or self._new_facts(cache, code, system, prior, cat_prior) for code in codes]

    def _new_facts(self, cache: dict, code: str, system: str, prior: Counter, cat_prior: Counter) -> CodeFacts:
        info = self._lookup(code, system)
        cat = category(code, system)
        found = cache[code] = CodeFacts(
            math.log1p(prior.get(code, 0)), float(code in prior), float(info[0]) if info else 0.0,
            float(info is not None), cat, math.log1p(cat_prior.get(cat, 0)), self.title_words(code, system))
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
    codes, system = pool.codes, pool.system
    x = np.zeros((len(codes), len(FEATURES)), dtype=np.float64)
    if not codes:
        return x.astype(np.float32)
    prior, cat_prior = model.prior[system], model.category_prior[system]
    facts = code_info.facts_of(codes, system, prior, cat_prior)
    _note_columns(x, pool, facts, len(model.labels[system]), note_length, note_words)
    link_default = (model.link_base, 0)
    links = pool.links
    linked = [i for i, code in enumerate(codes) if links.get(code)]
    if linked:
        x[np.array(linked)[:, None], _LINK_COLUMNS] = [
            _link_values(links[codes[i]], codes[i], note_length, model.link_stats, link_default) for i in linked]
    return x.astype(np.float32)


#: The columns :func:`_note_columns` writes row by row, in the order of its row tuples.
_NOTE_COLUMNS = [COLUMN[name] for name in (
    "ridge_score", "ridge_rank", "knn_vote", "knn_max_sim", "prior_log", "seen_in_training", "billable",
    "in_code_set", "category_prior_log", "category_ridge_max", "n_child_links", "code_length", "ridge_relative",
    "knn_rank_log", "title_coverage", "title_words_missing")]


def _note_columns(x: np.ndarray, pool: CandidatePool, facts: list[CodeFacts], n_labels: int,
                  note_length: int, note_words: frozenset[str]) -> None:
    """The columns every candidate has: classifier, neighbours, code facts, title coverage.

    One tuple per candidate, written in one numpy step: a list per column (16 passes over the pool,
    each looking its codes up again) was a fifth of the feature time.
    """
    codes, ridge, ridge_rank, knn, system = pool.codes, pool.ridge, pool.ridge_rank, pool.knn_votes, pool.system
    log1p = math.log1p
    # The log of each neighbour code's vote rank, and of the rank of the rest, once a pool: most candidates
    # have no vote.
    vote_log = {c: log1p(r) for r, c in enumerate(sorted(knn, key=lambda c: -knn[c][0]))}
    cat_max: dict[str, float] = {}
    for code in codes:
        if ridge_rank[code] >= 0:
            cat = category(code, system)
            cat_max[cat] = max(cat_max.get(cat, -1.0), ridge[code])
    no_rank, no_vote_log, top, no_vote = log1p(n_labels), log1p(len(vote_log) + 10), pool.top_ridge, (0.0, 0.0)
    child_links = pool.child_links
    rows = []
    for code, f in zip(codes, facts):
        r, rank, (vote, sim), title = ridge[code], ridge_rank[code], knn.get(code, no_vote), f.title_words
        covered = len(title & note_words)
        rows.append((r, log1p(rank) if rank >= 0 else no_rank, vote, sim, f.prior_log, f.seen_in_training,
                     f.billable, f.in_code_set, f.category_prior_log, cat_max.get(f.category, 0.0),
                     child_links.get(code, 0), len(code), r / top, vote_log.get(code, no_vote_log),
                     covered / len(title) if title else 0.0, len(title) - covered))
    x[:, _NOTE_COLUMNS] = rows
    x[:, COLUMN["first_position"]] = 1.0  # "at the very end": overwritten for linked codes
    x[:, COLUMN["engine_rank"]] = NO_ENGINE_RANK
    x[:, COLUMN["note_length_log"]] = math.log1p(note_length)


#: The mention columns, in the order :func:`_link_values` gives them.
_LINK_COLUMNS = [COLUMN[name] for name in (
    "n_affirmed", "n_mentions", "n_negated", "n_family", "n_historical", "n_hypothetical_uncertain", "best_source",
    "learned_weight", "max_words", "min_ambiguity", "dominated", "first_position", "n_sentences", "link_precision",
    "link_support_log", "engine_coverage", "engine_rank")]


def _link_values(links: list, code: str, note_length: int, link_stats: dict, link_default: tuple[float, int]) -> tuple:
    """The mention columns of one linked candidate (:data:`_LINK_COLUMNS`): counts by status, link quality,
    position. Plain locals and one tuple per candidate: a Counter and a dict per candidate, written into the
    row one numpy item at a time, were 1.5 of the 2.8 ms a CodiEsp dev note spent building features."""
    affirmed = negated = family = historical = unsure = 0
    best_source, learned_weight, max_words, ambiguity = 0, 0.0, 0, 1 << 30
    engine_coverage, engine_rank = 0.0, NO_ENGINE_RANK
    all_dominated, first, sentences, best_link = True, note_length, set(), None
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
            math.log1p(best_link[1]), engine_coverage, engine_rank)
