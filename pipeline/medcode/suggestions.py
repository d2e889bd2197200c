"""From ranked candidates to what a coder sees: evidence, demotion, queries, conflicts, output records.

* :func:`describe` gives each candidate its evidence (the words that name the code), its source, and
  the reason it is set aside when the note names the condition only as negated or a relative's, or
  states a value its code contradicts.
* :class:`Suggester` runs the learned stages on processed notes (candidates, features, ranker) and
  writes the output records of ``medcode predict``.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from medcode.about import CM, RELEASE, SYSTEMS
from medcode.candidates import CandidatePool, demoting, propose
from medcode.codesets.excludes import Excludes1Index
from medcode.codesets.kb import CATEGORY_LENGTH
from medcode.coding.encounter import encounter_query, encounter_stated
from medcode.coding.guidelines import apply_guidelines
from medcode.config import TrainConfig
from medcode.features import SOURCE_RANK, CodeTable, feature_matrices
from medcode.mentions import Mention
from medcode.notemodel import NoteModel
from medcode.ranker import CalibratedRanker
from medcode.textnorm import content_words

#: Candidates per note, system and demotion a second stage scores with all trees (at least the depth and
#: :data:`SECOND_STAGE_MARGIN` more). Fewer lose procedures: at depth 10 (``suggest``), 20 rows instead of 60 cost
#: ICD-10-PCS exact@5 0.013 on each of three sets of unseen vignettes (fresh2 0.782 -> 0.769, fresh3 0.736 -> 0.726,
#: fresh4 0.701 -> 0.688): the first stage's 40 trees place a right procedure lower than the full walk does. 40 rows
#: lose none there (fresh2 0.795, fresh3 0.736, fresh4's odd half 0.711 with 60 or 40; 30 rows: fresh3 0.726), and
#: the second stage was the ranker's largest cost: 0.98 -> 0.70 ms a CodiEsp dev note (CPU, default model, depth 30).
SECOND_STAGE_ROWS = 40
#: Rows past the depth a second stage scores (the first stage's order near the cut is not the full walk's): 10
#: rather than the depth again (40 rows instead of 60 at depth 30, as ``medcode predict`` and ``evaluate`` rank) moved
#: CodiEsp dev MAP (train-only model) 0.4778 -> 0.4797 ICD-10-CM, 0.4675 -> 0.4674 ICD-10-PCS.
SECOND_STAGE_MARGIN = 10
#: Score factor for a demoted candidate.
DEMOTION_FACTOR = 0.2
#: A learned alias counts as evidence when it predicted its code at least this often in training.
EVIDENCE_MIN_WEIGHT = 0.6


@dataclass(slots=True)
class Candidate:
    """One (note, code) pair and the mentions that support it (its features are a row of a matrix)."""

    code: str
    evidence: list[Mention] = field(default_factory=list)
    source: str = "classifier"
    #: Why the candidate is moved down: all its mentions are negated or about someone else.
    demoted: str | None = None


def describe(pool: CandidatePool) -> list[Candidate]:
    """Evidence, source and demotion of every candidate of a pool, in pool order."""
    return [candidate(pool, code, demotion(pool, code)) for code in pool.codes]


def demotions(pool: CandidatePool) -> list[str | None]:
    """:func:`demotion` of every candidate of a pool, in pool order.

    Most candidates cannot be set aside (no stated value of their category, an affirmed mention, or no
    demoting mention of their category), so the full test runs only where one can apply: testing all
    ~300 candidates of a pool was 0.5 ms of a CodiEsp dev note's ~20.
    """
    stated = pool.stated_values if pool.system == CM else {}
    size = CATEGORY_LENGTH[pool.system]
    links = pool.links
    # The categories a negated or relative's mention names (most categories of the map have none).
    aside = {cat for cat, kinds in pool.category_demoting.items() if kinds}
    out = []
    for code in pool.codes:
        found = links.get(code)
        # A linked code's first mention is most often affirmed: the test of all its mentions is then skipped.
        maybe = (found[0].mention.status and all(link.mention.status for link in found) if found else
                 code[:size] in aside) or (stated and code[:3] in stated)
        out.append(demotion(pool, code) if maybe else None)
    return out


def demotion(pool: CandidatePool, code: str) -> str | None:
    """Why a candidate of a pool is set aside (its mentions are all negated or a relative's, or the note states
    another value of its category), or ``None``."""
    links = pool.links.get(code)
    demoted = pool.contradicted(code)
    if not links:
        # A code the note-level signals propose for a condition the note names only as denied or
        # a relative's ("mother had breast cancer" -> C50.91) is as wrong as the linked code.
        cat = code[:CATEGORY_LENGTH[pool.system]]
        if pool.category_demoting.get(cat) and cat not in pool.category_affirmed:
            kinds = " or ".join(sorted(k.lower() for k in pool.category_demoting[cat]))
            demoted = f"the note mentions this condition only as {kinds}"
        return demoted
    if all(demoting(code, pool.system, link.mention.status) for link in links):
        kinds = sorted({k.lower() for link in links for k in demoting(code, pool.system, link.mention.status)})
        demoted = f"every mention in the note is {' or '.join(kinds)}"
    return demoted


def candidate(pool: CandidatePool, code: str, demoted: str | None) -> Candidate:
    """A candidate's evidence and source (``demoted``: its :func:`demotion`)."""
    links = pool.links.get(code)
    if not links:
        source = "related-mention" if pool.child_links.get(code) else (
            "neighbours" if pool.knn_votes.get(code, (0.0, 0.0))[0] > pool.ridge[code] else "classifier")
        return Candidate(code, [], source, demoted)
    # Evidence is what a coder can check: words that name the code. A learned alias is only
    # a correlate ("type 2" for I10) unless it predicted the code most of the time in training.
    shown: dict[int, tuple[int, Mention]] = {}
    for m, hit, _ in links:
        if hit.source != "learned" or hit.weight >= EVIDENCE_MIN_WEIGHT:
            rank = SOURCE_RANK[hit.source]
            held = shown.get(id(m))
            if held is None or held[0] < rank:
                shown[id(m)] = (rank, m)
    evidence = [m for _, m in (sorted(shown.values(), key=lambda rm: (-rm[0], rm[1].start)) if len(shown) > 1
                               else shown.values())]
    return Candidate(code, evidence, "mention" if evidence else "related-mention", demoted)


def _evidence(m: Mention) -> dict:
    """A mention as a suggestion's evidence: its span, text and statuses."""
    found = {"start": m.start, "end": m.end, "text": m.text}
    if m.status:
        found["status"] = sorted(m.status)
    return found


def _pcs_query(code: str) -> dict | None:
    """The question an ICD-10-PCS prefix leaves open (the axis it lacks), from the PCS tables."""
    from medcode.codesets.pcs import PcsComposer

    return PcsComposer.load().query(code)


@contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector for one batch.

    Scoring allocates millions of small objects; each allocation burst triggered full collections
    that walked the model's hundreds of thousands of container objects, a fifth of prediction time.
    Almost nothing a batch makes is cyclic, and what is gets collected when the pause ends, so
    memory stays bounded by the batch.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _best_per_group(rows: np.ndarray, key: np.ndarray, note_of: np.ndarray, flags: np.ndarray, limit: int) -> np.ndarray:
    """The best ``limit`` of ``rows`` (ascending row numbers) in each (note, flag) group, by ``key`` highest first
    with ties in row order (as a stable argsort of ``-key`` gives), note by note, unflagged rows first.

    One stable sort for the batch: an argsort per note and group was ~1,500 numpy calls per 250 notes.
    """
    order = rows[np.lexsort((-key[rows], flags[rows], note_of[rows]))]
    if not len(order):
        return order
    group = note_of[order] * 2 + flags[order]
    starts = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
    within = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
    return order[within < limit]


class Suggester:
    """The learned stages after the spaCy pipeline: candidates, features, ranker, output records.

    Args:
        note_model: the fitted note model.
        rankers: one calibrated ranker per code system.
        codes: ``{(system, code): (billable, title)}`` for every code the model can suggest.
        config: the training config (candidate settings).
        meta: the model folder's metadata (release mapping, training data).
        queries: ``{code: physician query}`` for unspecified and header ICD-10-CM codes, or a
            callable that returns it when first needed (most predictions need few queries, and load
            time matters more).
        excludes1: the Excludes1 index, or a callable that returns it when first needed.
    """

    def __init__(self, note_model: NoteModel, rankers: dict[str, CalibratedRanker],
                 codes: dict[tuple[str, str], tuple[bool, str]], config: TrainConfig, meta: dict | None = None,
                 queries=None, excludes1=None):
        self.note_model = note_model
        self.rankers = rankers
        self.codes = codes
        self.config = config
        self.meta = meta or {}
        self.code_info = CodeTable(lambda code, system: codes.get((system, code)))
        self._queries = queries if queries is not None else {}
        self._excludes1 = excludes1 if excludes1 is not None else Excludes1Index({}, {})
        #: ``code without its 7th character -> {character: meaning}`` (the engine's index), for the
        #: encounter query of a code whose 7th character the note did not state.
        self.seventh = None
        #: Set when the model is used with a release other than its own
        #: (:class:`medcode.codesets.mapping.ReleaseHook`): rewrites each record's suggestions for it.
        self.release_hook = None

    @property
    def queries(self) -> dict:
        """``{code: specificity query}`` for the unspecified and header codes the model can suggest."""
        if callable(self._queries):
            self._queries = self._queries()
        return self._queries

    @property
    def excludes1(self) -> Excludes1Index:
        """The ICD-10-CM Excludes1 notes of the release the model was built with (or is used with)."""
        if self.release_hook is not None:
            return self.release_hook.excludes1
        if callable(self._excludes1):
            self._excludes1 = self._excludes1()
        return self._excludes1

    def rank(self, texts: list[str], mentions: list[list[Mention]], depth: int) -> list[dict[str, list[dict]]]:
        """Rank candidate codes for processed notes.

        Args:
            texts: note texts.
            mentions: each note's mentions (:func:`medcode.mentions.doc_mentions`).
            depth: how many codes per system to keep (and, after them, up to as many demoted ones).

        Returns:
            One ``{system: [suggestion, ...]}`` per text, best first (see :meth:`suggestion`).
        """
        if not texts:
            return []
        with cyclic_gc_paused():
            ridge, knn = self.note_model.signals(texts)
            words = [frozenset(content_words(t)) for t in texts]
            stated = [encounter_stated(w) for w in words]
            results: list[dict[str, list[dict]]] = [{} for _ in texts]
            for s in SYSTEMS:
                # Every note's classifier ranking in one sort (a row's stable order is the one its own sort gives).
                orders = np.argsort(-ridge[s], axis=1, kind="stable")
                pools = [propose(s, ridge[s][i], knn[s][i], mentions[i], self.note_model, self.config.ridge_candidates,
                                 self.config.max_candidates, orders[i]) for i in range(len(texts))]
                x = feature_matrices(pools, self.note_model, self.code_info, [len(t) for t in texts], words)
                self._rank_system(s, pools, x, depth, results, stated)
        return results

    def _rank_system(self, system: str, pools: list[CandidatePool], x: np.ndarray, depth: int,
                     results: list[dict[str, list[dict]]], stated: list[bool]) -> None:
        # Every candidate's demotion (it decides where a candidate can go), but the evidence of only those
        # that reach the list: describing all ~150 candidates of a pool was 1 ms of a CodiEsp dev note's 21.
        per_note = [demotions(pool) for pool in pools]
        ranker = self.rankers[system]
        demoted = np.array([reason is not None for reasons in per_note for reason in reasons], dtype=bool)
        # Two stages: the first trees on every candidate, all trees on the few that can reach the list.
        # A candidate outside a note's best `keep` after the first stage is never shown, so its full
        # score is not computed (most of a note's ~300 candidates; the tree walks were 60% of the time).
        first = ranker.first_stage(x)
        sizes = [len(r) for r in per_note]
        offsets, note_of = np.cumsum([0] + sizes), np.repeat(np.arange(len(per_note)), sizes)
        keep = max(SECOND_STAGE_ROWS, depth + SECOND_STAGE_MARGIN)
        chosen = np.sort(_best_per_group(np.arange(len(x)), first, note_of, demoted, keep))
        scored = np.zeros(len(x), dtype=bool)
        scored[chosen] = True
        raw = np.zeros(len(x))
        raw[chosen] = ranker.second_stage(x[chosen], first[chosen])
        score = np.zeros(len(x))
        score[chosen] = ranker.score(raw[chosen])
        raw[demoted] *= DEMOTION_FACTOR
        score[demoted] *= DEMOTION_FACTOR
        # Demoted candidates go after the others, whatever their score, and do not take their places: up to
        # `depth` of each.
        shown = _best_per_group(np.flatnonzero(scored), raw, note_of, demoted, depth)
        bounds = np.searchsorted(note_of[shown], np.arange(len(per_note) + 1)).tolist()
        for i, reasons in enumerate(per_note):
            pool, start = pools[i], int(offsets[i])
            results[i][system] = [self.suggestion(candidate(pool, pool.codes[j - start], reasons[j - start]), system,
                                                  float(score[j]), stated[i]) for j in shown[bounds[i]:bounds[i + 1]].tolist()]

    def suggestion(self, cand: Candidate, system: str, score: float, encounter_stated: bool = True) -> dict:
        """The output record of one suggested code (see the README's Output section).

        ``encounter_stated`` is false when the note does not say which encounter it is: a code whose
        7th character the engine then assumed (the initial encounter) carries the encounter query.
        """
        info = self.codes.get((system, cand.code))
        billable, title = info if info else (False, "")
        warning = None
        if not title:
            warning = f"not a code in {RELEASE[system]}: the training corpus uses it; validate before reporting"
        elif not billable:
            warning = "header or partial code: not billable as it stands"
        query = self.queries.get(cand.code) if system == CM else _pcs_query(cand.code) if not billable else None
        if query is None and system == CM and self.seventh and not encounter_stated:
            options = self.seventh(cand.code[:-1]) if len(cand.code) == 8 else None
            if options and len(options) > 1:
                query = encounter_query(cand.code, options)
        current = self.meta.get("release_mapping", {}).get("mapped", {}).get(cand.code) if system == CM else None
        # Optional keys set in place, in the record's key order: a dict per absent key, unpacked, was a
        # third of this method's time (~70 records a note).
        record = {"code": cand.code, "system": system, "score": round(score, 4),
                  "description": title or "(not in this release)", "billable": billable}
        if warning:
            record["warning"] = warning
        if current:
            record["current_code"] = current
        if query:
            record["query"] = query
        record["evidence"] = [_evidence(m) for m in cand.evidence]
        record["source"] = cand.source
        if cand.demoted:
            record["demoted"] = cand.demoted
        return record

    def record(self, note_id: str, by_system: dict[str, list[dict]]) -> dict:
        """One note's output line: suggestions by score, codes set aside, Excludes1 conflicts, releases.

        Codes whose every mention is negated or about a relative are not suggested: they are listed
        under ``excluded`` with the reason, so a coder sees what was set aside and why.
        """
        merged = [sug for s in SYSTEMS for sug in by_system.get(s, [])]
        if self.release_hook is not None:
            merged = self.release_hook(merged)
        apply_guidelines([sug for sug in merged if "demoted" not in sug])
        merged.sort(key=lambda sug: -sug["score"])
        suggestions = [sug for sug in merged if "demoted" not in sug]
        return {"id": note_id,
                "suggestions": suggestions,
                "excluded": [sug for sug in merged if "demoted" in sug],
                "conflicts": self.mark_conflicts(suggestions),
                "release": self.release_hook.release if self.release_hook is not None else RELEASE}

    def mark_conflicts(self, suggestions: list[dict]) -> list[dict]:
        """Excludes1 pairs among the suggested diagnoses.

        Each suggestion in a pair gets ``excludes1``: the codes it cannot be reported with. The
        pair stays in the list: which one the note supports is the coder's call, and the scores
        say which the model prefers.
        """
        conflicts = self.excludes1.conflicts([sug["code"] for sug in suggestions if sug["system"] == CM])
        partners: dict[str, list[str]] = {}
        for conflict in conflicts:
            a, b = conflict["codes"]
            partners.setdefault(a, []).append(b)
            partners.setdefault(b, []).append(a)
        for sug in suggestions:
            if sug["code"] in partners and sug["system"] == CM:
                sug["excludes1"] = sorted(set(partners[sug["code"]]))
        return conflicts
