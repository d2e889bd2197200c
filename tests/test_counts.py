"""The note model's fast term counts are scikit-learn's counts, and its TF-IDF vectors the same floats."""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from medcode.counts import TermCounter, wb_grams

TRAIN = ["Patient with chest pain and dyspnea.", "No chest pain; mild dyspnea on exertion.",
         "Acute pain in the right hip after a fall.", "Dyspnoea, pain, fall: x ab abc abcd"]
TEXTS = ["", "x", "ab", "Chest  PAIN\u00a0and\tdyspnea\n\nafter a fall.", "pain pain pain \x1c hip-pain déjà",
         "unknown words only", "ab abc abcd abcde"]


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(4, 4), sublinear_tf=True, dtype=np.float32).fit(TRAIN)


def test_counts_and_vectors_equal_scikit_learn():
    vectorizer = _vectorizer()
    counter = TermCounter(vectorizer)
    expected = vectorizer.transform(TEXTS)
    got = counter.transform(TEXTS)
    assert type(got) is type(expected) and got.dtype == expected.dtype
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(got, name), getattr(expected, name))
    # Twice: the second pass reads the words' cached columns.
    assert np.array_equal(counter.transform(TEXTS).data, expected.data)


def test_word_grams_follow_scikit_learn_order():
    vectorizer = _vectorizer()
    for word in ("a", "ab", "abc", "abcd", "pain"):
        assert wb_grams(word, 4, 4) == vectorizer._char_wb_ngrams(word)
    assert wb_grams("abc", 2, 3) == vectorizer.set_params(ngram_range=(2, 3))._char_wb_ngrams("abc")
