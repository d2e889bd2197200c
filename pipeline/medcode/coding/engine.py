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

from typing import NamedTuple

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


class Match(NamedTuple):
    """A code a sentence describes (a named tuple: a note's ~300 were 0.2 ms as frozen dataclasses).

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
        # The three word kinds side by side (rows, rows + n, rows + 2n): scored with one product.
        self._n_rows = index.required.shape[1]
        self._stacked = sp.hstack([index.required, index.optional, index.forbidden], format="csc")

    def query(self, sentences: list[set[str]]) -> sp.csr_matrix:
        """Binary ``sentences x vocabulary`` matrix of the sentences' canonical words."""
        vocab = self.index.vocab
        # Built as CSR directly, each row's columns sorted (the canonical form a COO conversion gave, at a
        # third of the cost: 0.39 -> 0.13 ms a CodiEsp dev note).
        indices: list[int] = []
        indptr = [0]
        for words in sentences:
            indices += sorted({j for j in map(vocab.get, words) if j is not None})
            indptr.append(len(indices))
        return sp.csr_matrix((np.ones(len(indices), dtype=np.float32), np.array(indices, dtype=np.int32),
                              np.array(indptr, dtype=np.int32)), shape=(len(sentences), len(vocab)))

    def match(self, sentences: list[set[str]], per_sentence: int = 8) -> list[list[Match]]:
        """The best codes for each sentence (at most ``per_sentence``, best first; one row per code)."""
        if not sentences:
            return []
        q = self.query(sentences)
        chosen = self._anchor_rows(q)
        lengths = [len(rows) for rows in chosen]
        if not sum(lengths):
            return [[] for _ in sentences]
        # Every sentence's chosen rows at once, as (sentence, row) pairs: a loop per sentence over numpy
        # calls was 2.2 of the 3.6 ms a CodiEsp dev note spent here.
        rows = np.concatenate(chosen)
        sent = np.repeat(np.arange(len(sentences)), lengths)
        score, coverage = self._scores(q, sent, rows)
        # A sentence that tells of no injury event needs all the words of an event title (see WHOLE_EVENT_CHAPTERS).
        event = np.fromiter((not INJURY.isdisjoint(s) for s in sentences), dtype=bool, count=len(sentences))
        needed = np.where(self.whole_event[rows] & ~event[sent], 0.999, MIN_COVERAGE)
        keep = (coverage >= needed) & (score > 0)
        sent, rows, score, coverage = sent[keep], rows[keep], score[keep], coverage[keep]
        codes = self.index.row_code[rows]
        # Best row per code and sentence (the first such row a stable sort meets, as before), then each
        # sentence's codes best first (ties by code, so the order is the same on every run).
        order = np.lexsort((-score, codes, sent))
        first = np.ones(len(order), dtype=bool)
        first[1:] = (sent[order][1:] != sent[order][:-1]) | (codes[order][1:] != codes[order][:-1])
        best = order[first]
        best = best[np.lexsort((codes[best], -score[best], sent[best]))]
        sent, rows = sent[best], rows[best]
        columns = self._columns(q, sent, rows)
        return self._pick(len(sentences), per_sentence, sent.tolist(), codes[best].tolist(), rows.tolist(),
                          score[best].tolist(), coverage[best].tolist(), columns)

    def _anchor_rows(self, q: sp.csr_matrix) -> list[np.ndarray]:
        """Per sentence, the rows its anchor words select (at most :data:`ROWS_PER_SENTENCE`)."""
        first = (q @ self.anchor_required).tocsr()
        # A row pays, already in this pass, for the anchor words it lacks: "laceration of the scalp" has a
        # few hundred rows sharing "scalp" at one weight, and without the cost which forty survive is
        # arbitrary ("Contusion of scalp" and "Laceration without foreign body of scalp" tie).
        first.data = first.data - MISSING_COST * (self.anchor_total[first.indices] - first.data)
        chosen: list[np.ndarray] = []
        bounds = first.indptr.tolist()
        for start, end in zip(bounds[:-1], bounds[1:]):
            rows, weights = first.indices[start:end], first.data[start:end]
            if len(rows) > ROWS_PER_SENTENCE:
                keep = np.argpartition(-weights, ROWS_PER_SENTENCE)[:ROWS_PER_SENTENCE]
                rows = rows[keep]
            chosen.append(rows)
        return chosen

    def _scores(self, q: sp.csr_matrix, sent: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score and coverage of each (sentence, row) pair, in float32 as the sparse products sum them."""
        # Each pair's three sums (required, optional, forbidden words) read from the rows' own columns, not
        # from a product with a column slice of the index: the slice, its CSR copy and the dense result were
        # 0.48 ms of a CodiEsp dev note, scipy's overhead for ~20 sentences. The sums are the product's own:
        # its words in ascending order, added one by one in float32 (see _pair_sums).
        n = len(rows)
        sums = self._pair_sums(q, np.tile(sent, 3), np.concatenate([rows, rows + self._n_rows, rows + 2 * self._n_rows]))
        required, optional, forbidden = sums[:n], sums[n:2 * n], sums[2 * n:]
        total = self.index.required_total[rows]
        coverage = required / np.maximum(total, 1e-6)
        score = required + OPTIONAL_GAIN * optional - MISSING_COST * (total - required) - FORBIDDEN_COST * forbidden
        return score, coverage

    def _pair_sums(self, q: sp.csr_matrix, sent: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Per pair, the sum of column ``cols[p]`` of the stacked index over the words of sentence ``sent[p]``.

        As ``(q @ stacked)[sent, cols]`` sums it: ``q``'s rows are binary with sorted words, and the product
        adds a cell's terms in its row's word order, in float32, from 0. Here the same terms are added in the
        same order (the stacked columns' words are sorted too), so the sums are the same bits.
        """
        col = self._stacked
        starts = col.indptr[cols]
        lengths = col.indptr[cols + 1] - starts
        pair = np.repeat(np.arange(len(cols)), lengths)
        offsets = np.cumsum(lengths) - lengths
        at = np.arange(lengths.sum()) - np.repeat(offsets - starts, lengths)
        has = self._present(q, sent[pair], col.indices[at])
        out = np.zeros(len(cols), dtype=np.float32)
        # np.add.at adds its terms one at a time in their order (a pair's words are in order), unbuffered.
        np.add.at(out, pair[has], col.data[at[has]])
        return out

    @staticmethod
    def _present(q: sp.csr_matrix, sent: np.ndarray, words: np.ndarray) -> np.ndarray:
        """Whether each (sentence, word) is a cell of ``q`` (keys sorted as q's CSR lays them)."""
        width = q.shape[1]
        present = np.repeat(np.arange(q.shape[0], dtype=np.int64), np.diff(q.indptr)) * width + q.indices
        keys = sent.astype(np.int64) * width + words
        if not len(present):
            return np.zeros(len(keys), dtype=bool)
        return present[np.minimum(np.searchsorted(present, keys), len(present) - 1)] == keys

    def _columns(self, q: sp.csr_matrix, sent: np.ndarray, rows: np.ndarray) -> list[tuple[int, ...]]:
        """Per (sentence, row) pair, the row's required words the sentence has (vocabulary columns, ascending)."""
        col = self.required_csc
        starts, ends = col.indptr[rows], col.indptr[rows + 1]
        lengths = ends - starts
        pair = np.repeat(np.arange(len(rows)), lengths)
        words = col.indices[np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths - starts, lengths)]
        has = self._present(q, sent[pair], words)
        kept = words[has].tolist()
        bounds = np.concatenate([[0], np.cumsum(np.bincount(pair[has], minlength=len(rows)))]).tolist()
        return [tuple(kept[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    @staticmethod
    def _pick(n: int, per_sentence: int, sent: list[int], codes: list[int], rows: list[int], score: list[float],
              coverage: list[float], columns: list[tuple[int, ...]]) -> list[list[Match]]:
        """Each sentence's matches from its ranked pairs (see :meth:`match`)."""
        out: list[list[Match]] = [[] for _ in range(n)]
        p, total = 0, len(sent)
        while p < total:
            i = sent[p]
            # Each condition of the sentence first, then the runners-up: a code that names a word no better
            # code named ("hypertension" after eight "type 2 diabetes with ..." codes) goes before codes that
            # only repeat words already coded. A coder codes every condition once before weighing alternatives.
            novel, repeats, covered = [], [], set()
            while p < total and sent[p] == i:
                if len(novel) < per_sentence:
                    if covered.issuperset(columns[p]):
                        repeats.append(p)
                    else:
                        novel.append(p)
                        covered.update(columns[p])
                p += 1
            out[i] = [Match(codes[j], rows[j], score[j], coverage[j], columns[j])
                      for j in (novel + repeats)[:per_sentence]]
        return out
