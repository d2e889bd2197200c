"""The reference point medcode must beat: TF-IDF + one-vs-rest logistic regression.

Word 1-2-gram TF-IDF over the note, one logistic regression per code seen in training, codes ranked
by probability. No code sets, no mentions, no ranker.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from medcode.about import SYSTEMS
from medcode.notes import Note


def baseline_rankings(train: list[Note], test: list[Note], depth: int = 100, seed: int = 0,
                      progress: Callable[[int, str], None] | None = None) -> dict[str, dict]:
    """Train the baseline on ``train`` and rank codes for ``test``.

    ``progress`` is called with the systems done and the system being fitted.

    Returns:
        ``{system: {note id: [codes, best first]}}``.
    """
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x_train = vectorizer.fit_transform([n.text for n in train])
    x_test = vectorizer.transform([n.text for n in test])
    out: dict[str, dict] = {}
    for done, system in enumerate(SYSTEMS):
        if progress:
            progress(done, system)
        binarizer = MultiLabelBinarizer()
        y = binarizer.fit_transform([n.gold(system) for n in train])
        keep = y.sum(axis=0) > 0
        model = OneVsRestClassifier(LogisticRegression(C=10.0, solver="liblinear", random_state=seed))
        model.fit(x_train, y[:, keep])
        classes = binarizer.classes_[keep]
        scores = model.predict_proba(x_test)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
        out[system] = {n.id: [str(classes[j]) for j in order[i]] for i, n in enumerate(test)}
    return out
