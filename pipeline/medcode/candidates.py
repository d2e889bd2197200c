"""Candidate codes for a note: which codes the ranker scores.

Three sources propose codes for each note and code system:

* **links**: mentions the spaCy pipeline found, through the alias lexicon (code-set titles, inclusion
  terms, and aliases learned from the training notes), plus the ancestors of a linked code that the
  training corpus uses (coders often stop at a header: ``C50.9`` for a linked ``C50.919``);
* **classifier**: the top codes of the note model's ridge classifier;
* **neighbours**: the codes of the most similar training notes.

:func:`propose` gathers them into a :class:`CandidatePool`, the one record the feature builder
(:mod:`medcode.features`) and the suggestion builder (:mod:`medcode.suggestions`) read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from medcode.about import CM, FAMILY, NEGATED
from medcode.codesets.kb import CATEGORY_LENGTH, ancestors
from medcode.coding import FAMILY_HISTORY
from medcode.coding.measurements import VALUE_CATEGORIES
from medcode.mentions import Mention
from medcode.nlp.matcher import CodeHit
from medcode.notemodel import NoteModel

#: Statuses that mean the condition is not the patient's current one: a code named only under them
#: is moved down whatever the ranker says (coding a denied or a relative's condition is an error).
DEMOTING = frozenset({NEGATED, FAMILY})
_FAMILY = frozenset({FAMILY})
#: The neighbour vote (share of the similarity of the knn_k nearest notes) an ICD-10-CM code no mention or
#: classifier top code brings needs to be a candidate: most codes a single neighbour brings are never shown.
KNN_MIN_VOTE = 0.25


def _expected(code: str, system: str) -> frozenset[str]:
    """The status a code's own mentions carry: FAMILY for a family-history code, none for the rest."""
    return _FAMILY if system == CM and code.startswith(FAMILY_HISTORY) else frozenset()


def demoting(code: str, system: str, status: frozenset[str]) -> frozenset[str]:
    """The statuses of a mention that set its code aside (a family-history code is a relative's condition)."""
    return status & (DEMOTING - _expected(code, system))


class Link(NamedTuple):
    """One mention naming one code (a named tuple: a note's pools make ~400 of them, and a frozen dataclass
    cost three times as much to make).

    Attributes:
        mention: the mention.
        hit: the lexicon entry that links it to the code.
        ambiguity: how many codes the mention's alias names (1: unambiguous).
    """

    mention: Mention
    hit: CodeHit
    ambiguity: int


@dataclass
class CandidatePool:
    """The candidates of one note and code system, and the signals they were chosen by.

    Attributes:
        system: the code system.
        codes: the candidate codes, in a fixed order (feature rows follow it).
        links: ``{code: [Link, ...]}`` for the codes a mention names.
        child_links: ``{code: n}``: links to codes below ``code`` (a header of a named code).
        ridge: the classifier's score of each candidate (0 for codes it does not know).
        ridge_rank: its rank among the classifier's labels (-1 for codes it does not know).
        top_ridge: the classifier's best score for the note (at least 1e-6).
        knn_votes: ``{code: (vote, max similarity)}`` of the neighbours.
        category_affirmed: categories some affirmed mention names.
        category_demoting: ``{category: statuses}`` of its negated / family mentions.
        stated_values: ``{category: codes}`` the engine read from a value the note states of the patient
            (BMI, weeks of gestation, burn extent; :mod:`medcode.coding.measurements`).
        engine_ranks: ``{(sentence, category): {code: best engine rank}}`` of the engine's proposals, for
            :meth:`category_rank`.
    """

    system: str
    codes: list[str]
    links: dict[str, list[Link]]
    child_links: Counter
    ridge: dict[str, float]
    ridge_rank: dict[str, int]
    top_ridge: float
    knn_votes: dict[str, tuple[float, float]]
    category_affirmed: set[str] = field(default_factory=set)
    category_demoting: dict[str, set[str]] = field(default_factory=dict)
    stated_values: dict[str, set[str]] = field(default_factory=dict)
    engine_ranks: dict[tuple[int, str], dict[str, int]] = field(default_factory=dict)

    def category_rank(self, sentence: int, code: str, rank: int) -> int:
        """How many other codes of ``code``'s category the engine ranked above ``rank`` in the sentence.

        The engine's rank is the sentence's: in "hypertensive heart and CKD with HF, CKD stage 4" the heart
        failure's near misses (I50.21, I13.10) come before N18.4, the first code of another condition. Within
        its category a code is its condition's first choice (0) or a runner-up.
        """
        group = self.engine_ranks.get((sentence, code[:CATEGORY_LENGTH[self.system]]))
        return sum(other < rank for other in group.values()) if group else 0

    def contradicted(self, code: str) -> str | None:
        """Why a code is set aside because the note states another value of its category, or ``None``.

        A note that states the gestation ("at 33 weeks") has its Z3A code from the value; the category's
        other codes, which learned words or similar notes bring ("liveborn" -> Z3A.39), contradict it: a
        pregnancy has one gestational age, a patient one BMI.
        """
        stated = self.stated_values.get(code[:3]) if self.system == CM else None
        if not stated or code in stated:
            return None
        return f"the note states the value: {', '.join(sorted(stated))}"


def _known_parents(model: NoteModel, system: str, index: dict[str, int]) -> dict[str, list[str]]:
    """``{code: its ancestors the classifier knows}`` of the codes seen so far, kept on the model for ``index``
    (a refit makes a new index): computed again for every note, they were a tenth of :func:`_gather_links`."""
    held = model.__dict__.setdefault("_known_parents", {}).get(system)
    if held is None or held[0] is not index:
        held = model.__dict__["_known_parents"][system] = (index, {})
    return held[1]


def _gather_links(system: str, mentions: list[Mention], index: dict[str, int],
                  parents: dict[str, list[str]] | None = None) -> tuple:
    """Links per code, links to codes below each known code, and per category what the note says of it
    (``parents``: :func:`_known_parents`, filled as codes come)."""
    links: dict[str, list[Link]] = defaultdict(list)
    # A plain dict while counting (Counter's missing-key hook is a Python call per new parent), a Counter after.
    child_links: dict[str, int] = {}
    # Per category: was it mentioned as the patient's, and was it mentioned only negated / for a relative?
    affirmed: set[str] = set()
    set_aside: dict[str, set[str]] = defaultdict(set)
    stated: dict[str, set[str]] = defaultdict(set)
    engine_ranks: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    # A note names the same codes many times: the ancestors a code adds a child link to, computed once.
    parents = {} if parents is None else parents
    # category() inlined: a call per hit was a tenth of this function's time.
    size = CATEGORY_LENGTH[system]
    # A Link made with tuple.__new__: the named tuple's own constructor is a Python function, a fifth of this loop.
    new_tuple = tuple.__new__
    for m in mentions:
        if m.system != system:
            continue
        status, ambiguity = m.status, len(m.hits)
        for hit in m.hits:
            code = hit.code
            links[code].append(new_tuple(Link, (m, hit, ambiguity)))
            if hit.source != "learned":
                cat = code[:size]
                if not (status and status - _expected(code, system)):
                    affirmed.add(cat)
                    # The engine codes these categories from a stated value only (their word matches are
                    # dropped), so an affirmed engine hit of one is the patient's value.
                    if hit.source == "engine" and system == CM and code.startswith(VALUE_CATEGORIES):
                        stated[code[:3]].add(code)
                if hit.source == "engine":
                    held = engine_ranks[m.sentence, cat].get(code)
                    if held is None or hit.rank < held:
                        engine_ranks[m.sentence, cat][code] = hit.rank
                # An affirmed mention (most are) sets nothing aside: no status sets are built for it.
                if status:
                    set_aside[cat] |= demoting(code, system, status)
                elif cat not in set_aside:
                    set_aside[cat] = set()
    # Child links counted per linked code rather than per link (a note names a code ~3 times): the parents
    # come in the order the per-link count first met them, as the links' codes are in first-link order.
    for code, named in links.items():
        found = parents.get(code)
        if found is None:
            found = parents[code] = [parent for parent in ancestors(code, system) if parent in index]
        n = len(named)
        for parent in found:
            child_links[parent] = child_links.get(parent, 0) + n
    return links, Counter(child_links), affirmed, set_aside, stated, engine_ranks


def propose(system: str, ridge_row: np.ndarray, knn_votes: dict[str, tuple[float, float]],
            mentions: list[Mention], model: NoteModel, n_ridge: int, max_candidates: int,
            order: np.ndarray | None = None) -> CandidatePool:
    """The candidates of one note and code system.

    Args:
        system: the code system.
        ridge_row: ridge scores over ``model.labels[system]``.
        knn_votes: neighbour votes ``{code: (vote, max_sim)}``.
        mentions: the note's mentions (all systems).
        model: the fitted note model (labels).
        n_ridge: how many top classifier labels become candidates (``TrainConfig.ridge_candidates``).
        max_candidates: cap per note, keeping the strongest by classifier, links and votes
            (``TrainConfig.max_candidates``).
        order: ``np.argsort(-ridge_row, kind="stable")`` when the caller sorted a batch's rows at once.
    """
    labels, index = model.labels[system], model.label_index[system]
    if order is None:
        order = np.argsort(-ridge_row, kind="stable")
    rank_of = np.empty(len(order), dtype=np.int64)
    rank_of[order] = np.arange(len(order))
    links, child_links, affirmed, set_aside, stated, engine_ranks = _gather_links(system, mentions, index, _known_parents(model, system, index))

    codes = [labels[j] for j in order[:n_ridge].tolist()]
    # Neighbour-only ICD-10-CM codes need KNN_MIN_VOTE: CodiEsp dev (train-only model) pools held 57 such codes
    # a note (28% of the rows, most from one neighbour) and 140 of the 7,500 shown; without them MAP CM 0.4804 -> 0.4805,
    # tune-b vignettes CM exact@5 0.978 -> 0.975 (PCS kept all: a threshold cost its MAP 0.0008).
    voted = ([c for c, (vote, _) in knn_votes.items() if vote >= KNN_MIN_VOTE or c in links or c in child_links]
             if system == CM else list(knn_votes))
    codes = list(dict.fromkeys(codes + voted + list(links) + list(child_links)))
    # Read the classifier's score and rank for the pool only, in one numpy step: element-wise
    # access to the full label arrays was the slowest part of this stage.
    pool_idx = np.array([index.get(c, -1) for c in codes], dtype=np.int64)
    known = pool_idx >= 0
    safe = np.where(known, pool_idx, 0)
    ridge = dict(zip(codes, np.where(known, ridge_row[safe], 0.0).tolist()))
    ridge_rank = dict(zip(codes, np.where(known, rank_of[safe], -1).tolist()))
    if len(codes) > max_candidates:
        def strength(code: str) -> float:
            return ridge[code] + knn_votes.get(code, (0, 0))[0] + 0.5 * bool(links.get(code))
        codes = sorted(codes, key=strength, reverse=True)[:max_candidates]
    top_ridge = max(float(ridge_row[order[0]]), 1e-6) if len(order) else 1.0
    return CandidatePool(system, codes, links, child_links, ridge, ridge_rank, top_ridge, knn_votes,
                         affirmed, set_aside, dict(stated), dict(engine_ranks))
