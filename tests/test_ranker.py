"""The ranker's stored form: arrays only, and the same scores as the scikit-learn models it came from."""

import io

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression

from medcode.ranker import CalibratedRanker, TreeEnsemble


def data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    x[rng.random(n) < 0.05, 2] = np.nan  # missing values take the trees' learned side
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 + rng.normal(scale=0.5, size=n) > 0.7).astype(int)
    return x, y, np.arange(n) // 6


def test_tree_ensemble_matches_the_classifier():
    x, y, _ = data()
    model = HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=7, random_state=0).fit(x, y)
    trees = TreeEnsemble.from_classifier(model)
    test, _, _ = data(200, seed=1)
    # Same trees, same sums, same logistic (scipy's expit): equal up to the last bits of the CPU's exp.
    np.testing.assert_allclose(trees.predict_proba(test), model.predict_proba(test)[:, 1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(trees.log_odds(test), model.decision_function(test), rtol=1e-12, atol=1e-12)


def test_calibration_matches_isotonic_regression():
    x, y, groups = data()
    ranker = CalibratedRanker(max_iter=20, learning_rate=0.1, max_leaf_nodes=7, seed=0).fit(x, y, groups, folds=3)
    raw = np.linspace(-0.2, 1.2, 301)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.X_thresholds_, iso.y_thresholds_ = ranker.calibration_x, ranker.calibration_y
    iso.X_min_, iso.X_max_ = ranker.calibration_x[0], ranker.calibration_x[-1]
    iso._build_f(ranker.calibration_x, ranker.calibration_y)
    assert np.allclose(ranker.score(raw), iso.predict(raw), atol=1e-12)
    assert ranker.score(raw).min() >= 0 and ranker.score(raw).max() <= 1


def test_state_round_trips_without_pickle():
    x, y, groups = data()
    ranker = CalibratedRanker(max_iter=20, learning_rate=0.1, max_leaf_nodes=7, seed=0).fit(x, y, groups, folds=3)
    values, arrays = ranker.get_state("r")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as stored:
        again = CalibratedRanker.from_state(values, dict(stored), "r")
    assert np.array_equal(again.raw(x), ranker.raw(x))
    assert np.array_equal(again.score(again.raw(x)), ranker.score(ranker.raw(x)))


def test_wrong_width_is_refused():
    x, y, groups = data()
    ranker = CalibratedRanker(max_iter=5, learning_rate=0.1, max_leaf_nodes=7, seed=0).fit(x, y, groups, folds=3)
    with pytest.raises(ValueError, match="6 features"):
        ranker.raw(x[:, :5])
