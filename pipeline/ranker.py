"""The learned ranker: gradient-boosted trees over candidate features, with isotonic calibration.

Calibration is fitted on out-of-fold scores (grouped by note, so a note's candidates are never scored
by a model that saw that note), so a calibrated 0.8 means "right about 80% of the time" on notes the
ranker did not learn from.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import GroupKFold, cross_val_predict


class CalibratedRanker:
    """Scores (note, code) candidates; :meth:`score` is calibrated, :meth:`raw` orders.

    Args:
        max_iter: boosting rounds.
        learning_rate: shrinkage.
        max_leaf_nodes: tree size.
        seed: random state (the trees are deterministic for a given seed).
    """

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.06, max_leaf_nodes: int = 31, seed: int = 0):
        self.params = dict(max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes,
                           l2_regularization=1.0, min_samples_leaf=20, early_stopping=False, random_state=seed)
        self.model: HistGradientBoostingClassifier | None = None
        self.calibrator: IsotonicRegression | None = None
        self.reliability: list[dict] = []

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5) -> "CalibratedRanker":
        """Fit on candidate rows ``x`` with labels ``y`` (1 = gold), grouped by note."""
        model = HistGradientBoostingClassifier(**self.params)
        oof = cross_val_predict(model, x, y, groups=groups, cv=GroupKFold(n_splits=folds),
                                method="predict_proba")[:, 1]
        self.calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(oof, y)
        self.reliability = reliability_table(self.calibrator.predict(oof), y)
        self.model = model.fit(x, y)
        return self

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated scores: strictly ordered, so use them to rank."""
        return self.model.predict_proba(x)[:, 1] if len(x) else np.zeros(0)

    def score(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability that a candidate is a gold code, from :meth:`raw` scores."""
        return self.calibrator.predict(raw) if len(raw) else raw


def reliability_table(scores: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean score vs observed precision per score bin, and the bin's size (for ECE and plots)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    table = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            table.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "n": int(mask.sum()),
                          "mean_score": float(scores[mask].mean()), "precision": float(labels[mask].mean())})
    return table


def expected_calibration_error(table: list[dict]) -> float:
    """ECE: bin-size-weighted mean gap between score and precision."""
    total = sum(row["n"] for row in table) or 1
    return sum(row["n"] * abs(row["mean_score"] - row["precision"]) for row in table) / total
