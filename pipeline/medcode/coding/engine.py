"""Matching sentences to the codes whose descriptions they carry: the coding engine's core.

For each sentence, the codes are those whose description (title or inclusion term, see
:mod:`medcode.coding.index`) the sentence covers best: a code earns the IDF of each of its words the
sentence has, pays a share of the IDF of each word it lacks, and pays more for a word it says it is
*without*. So "fracture of the right femoral neck" prefers the right-femur code to the unspecified-side
one, which it prefers to the left one; and a note that names no side gets the unspecified code.

Two passes keep it cheap: rare ("anchor") words pick the few hundred rows worth scoring, then those rows
are scored on all their words, all sentences of a note at once, with sparse products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from medcode.coding.index import CodeIndex
from medcode.coding.tables import INJURY

#: A word in more than this share of the codes does not select rows by itself ("right", "fracture").
ANCHOR_MAX_SHARE = 0.02
#: Rows scored per sentence after the anchor pass.
ROWS_PER_SENTENCE = 40
#: Share of a missing required word's IDF a row pays.
MISSING_COST = 0.5
#: Share of a forbidden word's IDF a row pays when the sentence has it.
FORBIDDEN_COST = 2.0
#: Weight of a matched optional (nonessential) word.
OPTIONAL_GAIN = 0.3
#: A row must have at least this share of its required weight in the sentence.
MIN_COVERAGE = 0.5
#: Chapters whose titles name an event ("Fall into well", "Contact with knife"): in a sentence that tells of no
#: injury event (no word of medcode.coding.tables.INJURY), a row there needs all its required words. "Healing
#: well" is no fall into a well: W17.0XXA had been suggested for well-child visits, "well controlled" diabetes
#: and "healing well" alike (8 of 239 fresh notes), while "cut with a kitchen knife" keeps W26.0XXA.
WHOLE_EVENT_CHAPTERS = ("V", "W", "X", "Y")


@dataclass(frozen=True)
class Match:
    """A code a sentence describes.

    Attributes:
        code: index of the code in :attr:`CodeIndex.codes`.
        row: the description that matched.
        score: matched weight less the cost of missing and forbidden words.
        coverage: share of the description's required weight the sentence has (0-1).
        columns: vocabulary columns of the required words the sentence has (for the evidence span).
    """

    code: int
    row: int
    score: float
    coverage: float
    columns: tuple[int, ...]


class Matcher:
    """Scores the rows of a :class:`CodeIndex` against sentences."""

    def __init__(self, index: CodeIndex):
        self.index = index
        n_codes = max(len(index.codes), 1)
        df_share = np.exp(-index.idf)  # idf = log((n+1)/(df+0.5)) -> share ~ df/n
        self.anchor = df_share <= ANCHOR_MAX_SHARE
        # Rows' required weights restricted to anchor words: the first pass reads only these.
        anchor_diag = sp.diags(self.anchor.astype(np.float32))
        self.anchor_required = (anchor_diag @ index.required).tocsr()
        self.anchor_total = np.asarray(self.anchor_required.sum(axis=0)).ravel()
        self.required_csc = index.required.tocsc()
        self.optional_csc = index.optional.tocsc()
        self.forbidden_csc = index.forbidden.tocsc()
        self.n_codes = n_codes
        whole = np.array([code.startswith(WHOLE_EVENT_CHAPTERS) for code in index.codes], dtype=bool)
        self.whole_event = whole[index.row_code] if len(index.row_code) else np.zeros(0, dtype=bool)

    def query(self, sentences: list[set[str]]) -> sp.csr_matrix:
        """Binary ``sentences x vocabulary`` matrix of the sentences' canonical words."""
        vocab = self.index.vocab
        rows, cols = [], []
        for i, words in enumerate(sentences):
            for w in words:
                j = vocab.get(w)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                             shape=(len(sentences), len(vocab)))

    def match(self, sentences: list[set[str]], per_sentence: int = 8) -> list[list[Match]]:
        """The best codes for each sentence (at most ``per_sentence``, best first; one row per code)."""
        if not sentences:
            return []
        q = self.query(sentences)
        first = (q @ self.anchor_required).tocsr()
        # A row pays, already in this pass, for the anchor words it lacks: "laceration of the scalp" has a
        # few hundred rows sharing "scalp" at one weight, and without the cost which forty survive is
        # arbitrary ("Contusion of scalp" and "Laceration without foreign body of scalp" tie).
        first.data = first.data - MISSING_COST * (self.anchor_total[first.indices] - first.data)
        chosen: list[np.ndarray] = []
        for i in range(len(sentences)):
            start, end = first.indptr[i], first.indptr[i + 1]
            rows, weights = first.indices[start:end], first.data[start:end]
            if len(rows) > ROWS_PER_SENTENCE:
                keep = np.argpartition(-weights, ROWS_PER_SENTENCE)[:ROWS_PER_SENTENCE]
                rows = rows[keep]
            chosen.append(rows)
        candidates = np.unique(np.concatenate(chosen)) if any(len(c) for c in chosen) else np.zeros(0, dtype=np.int32)
        if not len(candidates):
            return [[] for _ in sentences]
        position = {int(r): k for k, r in enumerate(candidates)}
        required = (q @ self.required_csc[:, candidates]).toarray()
        optional = (q @ self.optional_csc[:, candidates]).toarray()
        forbidden = (q @ self.forbidden_csc[:, candidates]).toarray()
        total = self.index.required_total[candidates]
        coverage = required / np.maximum(total, 1e-6)
        score = required + OPTIONAL_GAIN * optional - MISSING_COST * (total - required) - FORBIDDEN_COST * forbidden
        return [self._best(q, i, rows, position, score, coverage, per_sentence, not INJURY.isdisjoint(sentences[i]))
                for i, rows in enumerate(chosen)]

    def _best(self, q: sp.csr_matrix, i: int, rows: np.ndarray, position: dict[int, int], score: np.ndarray,
              coverage: np.ndarray, per_sentence: int, event: bool = True) -> list[Match]:
        if not len(rows):
            return []
        k = np.fromiter((position[int(r)] for r in rows), dtype=np.int64, count=len(rows))
        row_score, row_coverage = score[i, k], coverage[i, k]
        if event:
            keep = (row_coverage >= MIN_COVERAGE) & (row_score > 0)
        else:
            keep = (row_coverage >= np.where(self.whole_event[rows], 0.999, MIN_COVERAGE)) & (row_score > 0)
        rows, row_score, row_coverage = rows[keep], row_score[keep], row_coverage[keep]
        codes = self.index.row_code[rows]
        # Best row per code, best codes first (ties by code, so the order is the same on every run).
        order = np.lexsort((codes, -row_score))
        _, first = np.unique(codes[order], return_index=True)
        ranked = order[np.sort(first)]
        ranked = ranked[np.lexsort((codes[ranked], -row_score[ranked]))]
        words = set(q.indices[q.indptr[i]:q.indptr[i + 1]].tolist())
        col = self.required_csc
        # Each condition of the sentence first, then the runners-up: a code that names a word no better code
        # named ("hypertension" after eight "type 2 diabetes with ..." codes) goes before codes that only
        # repeat words already coded. A coder codes every condition once before weighing alternatives.
        novel, repeats, covered = [], [], set()
        for j in ranked.tolist():
            row = int(rows[j])
            columns = tuple(int(c) for c in col.indices[col.indptr[row]:col.indptr[row + 1]] if int(c) in words)
            match = Match(int(codes[j]), row, float(row_score[j]), float(row_coverage[j]), columns)
            if covered.issuperset(columns):
                repeats.append(match)
            else:
                novel.append(match)
                covered.update(columns)
            if len(novel) >= per_sentence:
                break
        return (novel + repeats)[:per_sentence]
