"""Candidate codes for a note and the features the ranker scores them by.

Three sources propose codes for each note and code system:

* **links**: mentions the spaCy pipeline found, through the alias lexicon (code-set titles, inclusion
  terms, and aliases learned from the training notes), plus the ancestors of a linked code that the
  training corpus uses (coders often stop at a header: ``C50.9`` for a linked ``C50.919``);
* **classifier**: a linear ridge model on the note's TF-IDF vector (solved in its dual form, so all
  labels are fit at once in closed form);
* **neighbours**: the codes of the most similar training notes (cosine on the same vectors).

:class:`NoteModel` holds everything learned from training notes; :func:`candidate_features` turns one
note's signals into a feature row per candidate.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from pipeline.about import CM, SYSTEMS
from pipeline.components.mentions import SOURCES
from pipeline.kb import normalize_code
from pipeline.textnorm import content_words, loose_words

#: Order of the features in a row; the model card lists them.
FEATURES = (
    "ridge_score", "ridge_rank", "knn_vote", "knn_max_sim", "prior_log", "seen_in_training",
    "n_affirmed", "n_mentions", "n_negated", "n_family", "n_historical", "n_hypothetical_uncertain",
    "best_source", "learned_weight", "max_words", "min_ambiguity", "dominated", "first_position",
    "n_child_links", "billable", "in_code_set", "code_length", "category_ridge_max", "category_prior_log",
    "n_sentences", "note_length_log", "link_precision", "link_support_log", "ridge_relative", "knn_rank_log",
    "title_coverage", "title_words_missing",
)
#: Statuses that mean the condition is not the patient's current one: a code named only under them
#: is moved down whatever the ranker says (coding a denied or a relative's condition is an error).
DEMOTING = frozenset({"NEGATED", "FAMILY"})
#: Statuses that make a mention a possibility rather than a fact.
_UNSURE = frozenset({"HYPOTHETICAL", "UNCERTAIN"})
#: Score factor for a demoted candidate.
DEMOTION_FACTOR = 0.2
#: A learned alias counts as evidence when it predicted its code at least this often in training.
EVIDENCE_MIN_WEIGHT = 0.6
#: Column of each feature.
_F = {name: i for i, name in enumerate(FEATURES)}
#: The mention features, n_affirmed to first_position (zero for a candidate no mention names, but
#: first_position, which is then 1: "at the very end").
_LINK_SLICE = slice(_F["n_affirmed"], _F["first_position"] + 1)
_SOURCE_RANK = {s: len(SOURCES) - i for i, s in enumerate(SOURCES)}  # title 3, alias 2, learned 1


@dataclass
class Mention:
    """A mention reduced to plain data: where it is, what it links to, its assertion status."""

    start: int
    end: int
    text: str
    words: int
    sentence: int
    system: str
    hits: tuple  # of CodeHit
    status: frozenset[str]
    key: str = ""
    dominated: bool = False


@dataclass
class Candidate:
    """One (note, code) pair and the mentions that support it (its features are a row of a matrix)."""

    code: str
    evidence: list[Mention] = field(default_factory=list)
    source: str = "classifier"
    #: Why the candidate is moved down: all its mentions are negated or about someone else.
    demoted: str | None = None


class NoteModel:
    """Note-level signals learned from training notes: TF-IDF, ridge classifier, neighbours, priors.

    Args:
        ridge_alpha: ridge regularisation.
        knn_k: number of neighbours that vote.
    """

    def __init__(self, ridge_alpha: float = 0.1, knn_k: int = 10):
        self.ridge_alpha = ridge_alpha
        self.knn_k = knn_k
        self.vectorizers: dict[str, TfidfVectorizer] = {}
        self.train_matrix: sp.csr_matrix | None = None
        self.labels: dict[str, list[str]] = {}
        self.label_index: dict[str, dict[str, int]] = {}
        self.targets: dict[str, sp.csr_matrix] = {}
        self.dual: dict[str, np.ndarray] = {}
        self.prior: dict[str, Counter] = {}
        self.category_prior: dict[str, Counter] = {}
        self.link_stats: dict[tuple[str, str], tuple[float, int]] = {}
        self.link_base = 0.0

    @staticmethod
    def _new_vectorizers() -> dict[str, TfidfVectorizer]:
        # Words and character 4-grams: on CodiEsp dev the mix beat words (uni- or bigrams) and
        # characters alone for both code systems (ridge MAP 0.28 / 0.38 against 0.24 / 0.36 for
        # word 1-2-grams); characters catch inflections and the translation's odd spellings.
        # 4-grams alone scored as well as 3-5-grams and transform 3x faster.
        return {
            "words": TfidfVectorizer(min_df=2, max_df=0.8, sublinear_tf=True, dtype=np.float32,
                                     stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9-]+\b"),
            "chars": TfidfVectorizer(analyzer="char_wb", ngram_range=(4, 4), min_df=2, max_df=0.8,
                                     sublinear_tf=True, dtype=np.float32),
        }

    def fit(self, texts: list[str], gold: list[dict[str, list[str]]]) -> "NoteModel":
        """Fit on training texts and their gold codes (``[{system: [codes]}]``)."""
        self.vectorizers = self._new_vectorizers()
        self.train_matrix = self._vectors(texts, fit=True)
        kernel = (self.train_matrix @ self.train_matrix.T).toarray()
        for system in SYSTEMS:
            codes = [g.get(system, []) for g in gold]
            self.prior[system] = Counter(c for cs in codes for c in cs)
            self.category_prior[system] = Counter(category(c, system) for cs in codes for c in cs)
            labels = sorted(self.prior[system])
            index = {c: i for i, c in enumerate(labels)}
            rows = [i for i, cs in enumerate(codes) for _ in cs]
            cols = [index[c] for cs in codes for c in cs]
            y = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                              shape=(len(texts), len(labels)))
            self.labels[system], self.label_index[system], self.targets[system] = labels, index, y
            # Dual ridge: A = (K + aI)^-1 Y, scores = k(x, train) A. Exact, all labels at once.
            a = kernel + self.ridge_alpha * np.eye(len(texts), dtype=kernel.dtype)
            self.dual[system] = np.linalg.solve(a, y.toarray()).astype(np.float32)
        return self

    def _vectors(self, texts: list[str], fit: bool = False) -> sp.csr_matrix:
        parts = [v.fit_transform(texts) if fit else v.transform(texts) for v in self.vectorizers.values()]
        return normalize(sp.hstack(parts, format="csr")).astype(np.float32).tocsr()

    # ------------------------------------------------------------------ storage
    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Everything learned, as JSON-ready values and named arrays (no pickle: safe to load)."""
        arrays = _csr_arrays("train", self.train_matrix)
        for name, vectorizer in self.vectorizers.items():
            arrays[f"idf_{name}"] = vectorizer.idf_
        for i, system in enumerate(SYSTEMS):
            arrays[f"dual_{i}"] = self.dual[system]
            arrays.update(_csr_arrays(f"targets_{i}", self.targets[system]))
        values = {
            "ridge_alpha": self.ridge_alpha, "knn_k": self.knn_k, "link_base": self.link_base,
            "vocabularies": {name: sorted(v.vocabulary_, key=v.vocabulary_.get) for name, v in self.vectorizers.items()},
            "labels": [self.labels[s] for s in SYSTEMS],
            "prior": [dict(self.prior[s]) for s in SYSTEMS],
            "category_prior": [dict(self.category_prior[s]) for s in SYSTEMS],
            "link_stats": [[key, code, precision, n] for (key, code), (precision, n) in sorted(self.link_stats.items())],
        }
        return values, arrays

    @classmethod
    def from_state(cls, values: dict, arrays) -> "NoteModel":
        """Rebuild from :meth:`get_state`'s output (``arrays``: a mapping such as an open ``.npz``)."""
        model = cls(values["ridge_alpha"], values["knn_k"])
        model.link_base = values["link_base"]
        model.vectorizers = cls._new_vectorizers()
        for name, vectorizer in model.vectorizers.items():
            terms = values["vocabularies"][name]
            vectorizer.vocabulary_ = dict(zip(terms, range(len(terms))))
            vectorizer.idf_ = arrays[f"idf_{name}"]
        model.train_matrix = _csr_from(arrays, "train")
        for i, system in enumerate(SYSTEMS):
            model.labels[system] = values["labels"][i]
            model.label_index[system] = {c: j for j, c in enumerate(model.labels[system])}
            model.targets[system] = _csr_from(arrays, f"targets_{i}")
            model.dual[system] = arrays[f"dual_{i}"]
            model.prior[system] = Counter(values["prior"][i])
            model.category_prior[system] = Counter(values["category_prior"][i])
        model.link_stats = {(key, code): (precision, n) for key, code, precision, n in values["link_stats"]}
        return model

    def fit_link_stats(self, mentions: list[list[Mention]], gold: list[dict[str, list[str]]],
                       smoothing: float = 2.0, min_support: int = 2) -> "NoteModel":
        """How often an (alias key, code) link named a gold code in the training notes.

        The precision is smoothed toward the precision of all links, so a link seen twice does not
        claim 0 or 1; links seen fewer than ``min_support`` times are not kept (they get the base).
        """
        seen: Counter = Counter()
        right: Counter = Counter()
        for note_mentions, codes in zip(mentions, gold):
            truth = {c for cs in codes.values() for c in cs}
            pairs = {(m.key, h.code) for m in note_mentions for h in m.hits if not m.status}
            seen.update(pairs)
            right.update(p for p in pairs if p[1] in truth)
        total = sum(seen.values())
        self.link_base = sum(right.values()) / total if total else 0.0
        self.link_stats = {pair: ((right[pair] + smoothing * self.link_base) / (n + smoothing), n)
                           for pair, n in seen.items() if n >= min_support}
        return self

    def signals(self, texts: list[str]) -> tuple[dict, dict]:
        """Classifier scores and neighbour votes for new texts.

        Returns:
            ``(ridge, knn)``: per system, ridge a dense ``notes x labels`` array, knn a list (one per
            note) of ``{code: (vote, max_sim)}``.
        """
        sparse_sims = (self._vectors(texts) @ self.train_matrix.T).tocsr()
        # scipy's sparse-dense product walks each row in a fixed order, so a note gets the same
        # floats whatever the batch it comes in and however many threads run; BLAS's dense product
        # is 8x faster but its rounding depends on both, which made --workers, Dask and --resume
        # differ from a plain run in the 4th decimal and in the order of tied codes.
        ridge = {s: np.asarray(sparse_sims @ self.dual[s]) for s in SYSTEMS}
        sims = sparse_sims.toarray()
        knn = {s: [] for s in SYSTEMS}
        k = min(self.knn_k, sims.shape[1])
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        for i in range(len(texts)):
            total = float(sims[i, top[i]].sum()) or 1.0
            for s in SYSTEMS:
                votes: dict[str, list[float]] = {}
                for j in top[i]:
                    sim = float(sims[i, j])
                    y = self.targets[s]
                    for col in y.indices[y.indptr[j]:y.indptr[j + 1]]:
                        v = votes.setdefault(self.labels[s][col], [0.0, 0.0])
                        v[0] += sim / total
                        v[1] = max(v[1], sim)
                knn[s].append({c: tuple(v) for c, v in votes.items()})
        return ridge, knn


def _csr_arrays(name: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {f"{name}_data": matrix.data, f"{name}_indices": matrix.indices, f"{name}_indptr": matrix.indptr,
            f"{name}_shape": np.array(matrix.shape, dtype=np.int64)}


def _csr_from(arrays, name: str) -> sp.csr_matrix:
    return sp.csr_matrix((arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
                         shape=tuple(int(n) for n in arrays[f"{name}_shape"]))


class CodeTable:
    """Read-only view of the code sets for feature building: ``code -> (system, billable, title)``.

    Args:
        lookup: returns the triple for a code, or ``None`` for a code the release does not have.
    """

    def __init__(self, lookup: Callable[[str], tuple[str, bool, str] | None]):
        self._lookup = lookup
        self._words: dict[str, frozenset[str]] = {}
        self._statics: dict[str, tuple[Counter, Counter, dict[str, tuple]]] = {}

    def get(self, code: str) -> tuple[str, bool, str] | None:
        return self._lookup(code)

    def statics(self, system: str, prior: Counter, cat_prior: Counter) -> dict[str, tuple]:
        """The cache of :meth:`static` rows for one system and its priors."""
        # One cache per system, valid for the priors it was made with: training makes new priors
        # for each fold. They are held, not compared by id, since a freed object's id can return.
        entry = self._statics.get(system)
        if entry is None or entry[0] is not prior or entry[1] is not cat_prior:
            entry = self._statics[system] = (prior, cat_prior, {})
        return entry[2]

    def static(self, code: str, system: str, prior: Counter, cat_prior: Counter) -> tuple:
        """What a note does not change about a code: ``(log prior, seen in training, billable,
        in the code set, category, log category prior, title words)``; cached per system."""
        info = self._lookup(code)
        cat = category(code, system)
        row = (math.log1p(prior.get(code, 0)), float(code in prior), float(info[1]) if info else 0.0,
               float(info is not None), cat, math.log1p(cat_prior.get(cat, 0)), self.title_words(code))
        self.statics(system, prior, cat_prior)[code] = row
        return row

    def title_words(self, code: str) -> frozenset[str]:
        """Canonical content words of the title, less the words that only add specificity."""
        words = self._words.get(code)
        if words is None:
            info = self._lookup(code)
            words = frozenset(loose_words(content_words(info[2]))) if info else frozenset()
            self._words[code] = words
        return words


def category(code: str, system: str) -> str:
    """The grouping a code belongs to: ICD-10-CM category (3 characters) or PCS body part (4)."""
    return code[:3] if system == CM else code[:4]


@functools.lru_cache(maxsize=65536)
def ancestors(code: str, system: str) -> tuple[str, ...]:
    """Shorter forms of a code a coder may stop at: ``S72.001A`` -> ``S72.001``, ``S72.00``, ...``S72``."""
    if system == CM:
        body = code.replace(".", "")
        return tuple(normalize_code(body[:n], CM) for n in range(len(body) - 1, 2, -1))
    return tuple(code[:n] for n in (4, 3) if n < len(code))


def mark_dominated(mentions: list[Mention]) -> None:
    """Flag mentions that lie strictly inside a longer mention of the same system."""
    for system in {m.system for m in mentions}:
        # Sweep by start, longest first: a mention lies inside a longer one iff a mention before it
        # in this order reaches at least as far (the matcher makes one mention per extent and system).
        reach = -1
        for m in sorted((m for m in mentions if m.system == system), key=lambda m: (m.start, -m.end)):
            m.dominated = reach >= m.end
            reach = max(reach, m.end)


def candidate_features(
    system: str,
    ridge_row: np.ndarray,
    knn_votes: dict[str, tuple[float, float]],
    mentions: list[Mention],
    model: NoteModel,
    code_info: CodeTable,
    note_length: int,
    note_words: frozenset[str] = frozenset(),
    n_ridge: int = 40,
    max_candidates: int = 300,
) -> tuple[list[Candidate], np.ndarray]:
    """Propose candidates for one note and system, with their feature rows.

    Args:
        system: the code system.
        ridge_row: ridge scores over ``model.labels[system]``.
        knn_votes: neighbour votes ``{code: (vote, max_sim)}``.
        mentions: the note's mentions (all systems).
        model: the fitted note model (labels, priors).
        code_info: the code sets.
        note_length: characters in the note.
        note_words: the note's canonical content words (for title coverage).
        n_ridge: how many top classifier labels become candidates.
        max_candidates: cap per note, keeping the strongest by classifier, links and votes.

    Returns:
        ``(candidates, features)``: candidates in no particular order and their feature rows
        (``len(candidates) x len(FEATURES)``, float32, in the same order).
    """
    labels, index = model.labels[system], model.label_index[system]
    prior, cat_prior = model.prior[system], model.category_prior[system]
    order = np.argsort(-ridge_row, kind="stable")
    rank_of = np.empty(len(order), dtype=np.int64)
    rank_of[order] = np.arange(len(order))

    linked: dict[str, list[tuple[Mention, object, int]]] = defaultdict(list)
    child_links: Counter = Counter()
    # Per category: was it mentioned as the patient's, and was it mentioned only negated / for a relative?
    category_affirmed: set[str] = set()
    category_demoting: dict[str, set[str]] = defaultdict(set)
    for m in mentions:
        if m.system != system:
            continue
        for hit in m.hits:
            linked[hit.code].append((m, hit, len(m.hits)))
            if hit.source != "learned":
                cat = category(hit.code, system)
                if not m.status:
                    category_affirmed.add(cat)
                category_demoting[cat] |= m.status & DEMOTING
            for parent in ancestors(hit.code, system):
                if parent in index:
                    child_links[parent] += 1

    pool = [labels[j] for j in order[:n_ridge].tolist()]
    pool += list(knn_votes) + list(linked) + list(child_links)
    pool = list(dict.fromkeys(pool))
    # Read the classifier's score and rank for the pool only, in one numpy step: element-wise
    # access to the full label arrays was the slowest part of this function.
    pool_idx = np.array([index.get(c, -1) for c in pool], dtype=np.int64)
    known = pool_idx >= 0
    safe = np.where(known, pool_idx, 0)
    ridge = dict(zip(pool, np.where(known, ridge_row[safe], 0.0).tolist()))
    ridge_rank = dict(zip(pool, np.where(known, rank_of[safe], -1).tolist()))
    if len(pool) > max_candidates:
        def strength(code: str) -> float:
            return ridge[code] + knn_votes.get(code, (0, 0))[0] + 0.5 * bool(linked.get(code))
        pool = sorted(pool, key=strength, reverse=True)[:max_candidates]

    top_ridge = max(float(ridge_row[order[0]]), 1e-6) if len(order) else 1.0
    vote_rank = {c: r for r, c in enumerate(sorted(knn_votes, key=lambda c: -knn_votes[c][0]))}
    cat_max: dict[str, float] = {}
    for code in pool:
        if code in index:
            cat = category(code, system)
            cat_max[cat] = max(cat_max.get(cat, -1.0), ridge[code])

    # Features column by column for the whole pool (most candidates have no mention: their rows
    # are note-level signals and code facts), then the mention columns for the linked few.
    # math.log1p, not numpy's: the values must not depend on how they are computed.
    n = len(pool)
    x = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if not n:
        return [], x.astype(np.float32)
    statics = code_info.statics(system, prior, cat_prior)
    rows = [statics.get(code) or code_info.static(code, system, prior, cat_prior) for code in pool]
    no_rank, length_log = math.log1p(len(labels)), math.log1p(note_length)
    no_vote, unranked = (0.0, 0.0), len(vote_rank) + 10
    ridge_col = [ridge[code] for code in pool]
    votes = [knn_votes.get(code, no_vote) for code in pool]
    titles = [row[6] for row in rows]
    covered = [len(title & note_words) for title in titles]
    x[:, _F["ridge_score"]] = ridge_col
    x[:, _F["ridge_rank"]] = [math.log1p(ridge_rank[code]) if ridge_rank[code] >= 0 else no_rank for code in pool]
    x[:, [_F["knn_vote"], _F["knn_max_sim"]]] = votes
    x[:, [_F["prior_log"], _F["seen_in_training"], _F["billable"], _F["in_code_set"]]] = [row[:4] for row in rows]
    x[:, _F["category_prior_log"]] = [row[5] for row in rows]
    x[:, _F["category_ridge_max"]] = [cat_max.get(row[4], 0.0) for row in rows]
    x[:, _F["n_child_links"]] = [child_links.get(code, 0) for code in pool]
    x[:, _F["code_length"]] = [len(code) for code in pool]
    x[:, _F["first_position"]] = 1.0
    x[:, _F["note_length_log"]] = length_log
    x[:, _F["ridge_relative"]] = [r / top_ridge for r in ridge_col]
    x[:, _F["knn_rank_log"]] = [math.log1p(vote_rank.get(code, unranked)) for code in pool]
    x[:, _F["title_coverage"]] = [c / len(t) if t else 0.0 for c, t in zip(covered, titles)]
    x[:, _F["title_words_missing"]] = [len(t) - c for c, t in zip(covered, titles)]

    out = []
    best_link_default, link_stats = (model.link_base, 0), model.link_stats
    for i, code in enumerate(pool):
        links = linked.get(code)
        if not links:
            cat = rows[i][4]
            source = "related-mention" if child_links.get(code) else (
                "neighbours" if votes[i][0] > ridge_col[i] else "classifier")
            # A code the note-level signals propose for a condition the note names only as denied or
            # a relative's ("mother had breast cancer" -> C50.91) is as wrong as the linked code.
            demoted = None
            if category_demoting.get(cat) and cat not in category_affirmed:
                kinds = " or ".join(sorted(k.lower() for k in category_demoting[cat]))
                demoted = f"the note mentions this condition only as {kinds}"
            out.append(Candidate(code, [], source, demoted))
            continue
        affirmed = negated = family = historical = unsure = 0
        best_source, learned_weight, max_words, ambiguity = 0, 0.0, 0, 1 << 30
        all_dominated, first, sentences, best_link = True, note_length, set(), None
        for m, hit, n_hits in links:
            status = m.status
            if not status:
                affirmed += 1
            else:
                negated += "NEGATED" in status
                family += "FAMILY" in status
                historical += "HISTORICAL" in status
                unsure += not _UNSURE.isdisjoint(status)
            best_source = max(best_source, _SOURCE_RANK[hit.source])
            if hit.source == "learned" and hit.weight > learned_weight:
                learned_weight = hit.weight
            max_words = max(max_words, m.words)
            ambiguity = min(ambiguity, n_hits)
            all_dominated = all_dominated and m.dominated
            first = min(first, m.start)
            sentences.add(m.sentence)
            stat = link_stats.get((m.key, code), best_link_default)
            if best_link is None or stat > best_link:
                best_link = stat
        x[i, _LINK_SLICE] = (affirmed, len(links), negated, family, historical, unsure, best_source, learned_weight,
                             max_words, ambiguity, float(all_dominated), first / max(note_length, 1))
        x[i, _F["n_sentences"]] = len(sentences)
        x[i, _F["link_precision"]] = best_link[0]
        x[i, _F["link_support_log"]] = math.log1p(best_link[1])
        # Evidence is what a coder can check: words that name the code. A learned alias is only
        # a correlate ("type 2" for I10) unless it predicted the code most of the time in training.
        shown = {}
        for m, hit, _ in links:
            if hit.source != "learned" or hit.weight >= EVIDENCE_MIN_WEIGHT:
                rank = _SOURCE_RANK[hit.source]
                if shown.get(id(m), (0, m))[0] < rank:
                    shown[id(m)] = (rank, m)
        evidence = [m for _, m in sorted(shown.values(), key=lambda rm: (-rm[0], rm[1].start))]
        source = "mention" if evidence else "related-mention"
        demoted = None
        if not affirmed and all(m.status & DEMOTING for m, _, _ in links):
            kinds = sorted({k.lower() for m, _, _ in links for k in m.status & DEMOTING})
            demoted = f"every mention in the note is {' or '.join(kinds)}"
        out.append(Candidate(code, evidence, source, demoted))
    return out, x.astype(np.float32)
