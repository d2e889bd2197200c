"""Note-level signals learned from training notes: TF-IDF vectors, a ridge classifier, neighbours, priors.

The note model proposes codes from the note as a whole (no mention needed) and gives the ranker its
note-level features: the classifier's score and rank for each code, the votes of the most similar
training notes, and how often each code (and its category) was used in training.
"""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from medcode.about import SYSTEMS
from medcode.codesets.kb import category
from medcode.counts import TermCounter
from medcode.mentions import Mention


class NoteModel:
    """Note-level signals learned from training notes: TF-IDF, ridge classifier, neighbours, priors.

    Args:
        ridge_alpha: ridge regularisation (``TrainConfig.ridge_alpha``).
        knn_k: number of neighbours that vote (``TrainConfig.knn_k``).
    """

    def __init__(self, ridge_alpha: float, knn_k: int):
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

    def fit(self, texts: list[str], gold: list[dict[str, list[str]]]) -> NoteModel:
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
        if fit:
            parts = [v.fit_transform(texts) for v in self.vectorizers.values()]
        else:
            # The same matrices as v.transform(texts), the character n-grams counted faster (medcode.counts).
            parts = [self._counter(name, v).transform(texts) if v.analyzer == "char_wb" else v.transform(texts)
                     for name, v in self.vectorizers.items()]
        return normalize(sp.hstack(parts, format="csr")).astype(np.float32).tocsr()

    def _counter(self, name: str, vectorizer: TfidfVectorizer) -> TermCounter:
        counters = self.__dict__.setdefault("_counters", {})
        counter = counters.get(name)
        if counter is None or counter.vectorizer is not vectorizer:
            counter = counters[name] = TermCounter(vectorizer)
        return counter

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
    def from_state(cls, values: dict, arrays) -> NoteModel:
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
                       smoothing: float = 2.0, min_support: int = 2) -> NoteModel:
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

    def _train_codes(self, system: str) -> list[tuple[str, ...]]:
        """The codes of each training note, kept on the model for its targets (a refit makes new ones): read
        from the sparse targets neighbour by neighbour, a numpy slice and a label lookup per code, they were
        most of the neighbour votes' time (0.11 s of 100 CodiEsp dev notes' 4.1 s ranking, plain Python)."""
        y = self.targets[system]
        held = self.__dict__.setdefault("_train_codes_held", {}).get(system)
        if held is None or held[0] is not y:
            labels, bounds = self.labels[system], y.indptr.tolist()
            cols = y.indices.tolist()
            held = self._train_codes_held[system] = (y, [tuple(labels[c] for c in cols[a:b])
                                                         for a, b in zip(bounds[:-1], bounds[1:])])
        return held[1]

    def signals(self, texts: list[str]) -> tuple[dict, dict]:
        """Classifier scores and neighbour votes for new texts.

        Returns:
            ``(ridge, knn)``: per system, ridge a dense ``notes x labels`` array, knn a list (one per
            note) of ``{code: (vote, max_sim)}``.
        """
        sims = (self._vectors(texts) @ self.train_matrix.T).toarray()
        ridge = {s: row_products(sims, self.dual[s]) for s in SYSTEMS}
        knn = {s: [] for s in SYSTEMS}
        k = min(self.knn_k, sims.shape[1])
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        coded = {s: self._train_codes(s) for s in SYSTEMS}
        for i in range(len(texts)):
            near = sims[i, top[i]]
            total = float(near.sum()) or 1.0
            neighbours = list(zip(top[i].tolist(), near.tolist()))
            for s in SYSTEMS:
                votes: dict[str, list[float]] = {}
                for j, sim in neighbours:
                    share = sim / total
                    for code in coded[s][j]:
                        v = votes.get(code)
                        if v is None:
                            v = votes[code] = [0.0, 0.0]
                        v[0] += share
                        if sim > v[1]:  # max(v[1], sim): the value held on a tie
                            v[1] = sim
                knn[s].append({c: tuple(v) for c, v in votes.items()})
        return ridge, knn


#: threadpoolctl's handle on the loaded BLAS libraries: made once (it scans the process's libraries, ~8 ms).
_blas: list = []
#: The BLAS thread count is the process's: two threads' products must not restore it under each other.
_blas_lock = threading.Lock()


def row_products(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``rows @ matrix``, each row's product computed alone, so a row gets the same floats in any batch.

    One BLAS matrix-vector product per row on one thread. A matrix-matrix product of the batch rounds
    differently by batch size (one row goes to another kernel) and thread count, which made --workers,
    Dask and --resume differ from a plain run in the 4th decimal and in the order of tied codes; one
    thread's matrix-vector product reads only its row (equal bits for each CodiEsp dev note alone, in any
    batch, at any memory alignment; two threads differ). The similarities are nearly dense (almost every
    training note shares a character 4-gram with a note), so scipy's sparse-dense product, used before,
    did as many multiplications, four times slower: 0.98 -> 0.23 ms a CodiEsp dev note (default model).
    """
    out = np.empty((len(rows), matrix.shape[1]), dtype=np.result_type(rows, matrix))
    with _blas_lock:
        if not _blas:
            from threadpoolctl import ThreadpoolController

            _blas.append(ThreadpoolController())
        with _blas[0].limit(limits=1, user_api="blas"):
            for i, row in enumerate(rows):
                np.dot(row, matrix, out=out[i])
    return out


def _csr_arrays(name: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {f"{name}_data": matrix.data, f"{name}_indices": matrix.indices, f"{name}_indptr": matrix.indptr,
            f"{name}_shape": np.array(matrix.shape, dtype=np.int64)}


def _csr_from(arrays, name: str) -> sp.csr_matrix:
    return sp.csr_matrix((arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
                         shape=tuple(int(n) for n in arrays[f"{name}_shape"]))


