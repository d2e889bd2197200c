"""The learned ranker: gradient-boosted trees over candidate features, with isotonic calibration.

Calibration is fitted on out-of-fold scores (grouped by note, so a note's candidates are never scored
by a model that saw that note), so a calibrated 0.8 means "right about 80% of the time" on notes the
ranker did not learn from.

A fitted ranker is arrays only (tree nodes, isotonic breakpoints), so it is stored with ``numpy.savez``
and loaded with ``allow_pickle=False``: no pickle, no code run from a model file.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import GroupKFold, cross_val_predict

from medcode.config import TrainConfig
from medcode.evaluation.metrics import reliability_table


class TreeEnsemble:
    """The fitted trees of a HistGradientBoostingClassifier, as plain arrays, walked by LightGBM's predictor.

    What is stored is scikit-learn's own node records (one structured array) and a few numbers: a model
    file needs no pickle, and loading it runs no code from the file. For prediction the nodes are written
    out as a LightGBM model (text) and LightGBM's compiled predictor walks all trees in one call per
    batch: the 400 trees per system were 400 ``TreePredictor.predict`` calls, each a Python call and an
    OpenMP region, 6 of the ~30 ms a note took (250 CodiEsp dev notes, 2-core VM), and far more when the
    other core was busy. The splits are the same (``x <= threshold`` goes left, a missing value goes the
    learned side) and the leaves' doubles are summed in boosting order, so the log-odds are the
    classifier's (tested to 1e-12), and each row's sum is the same whatever the batch or thread count.

    Args:
        nodes: every tree's nodes, concatenated (scikit-learn's predictor record dtype).
        sizes: node count of each tree, in boosting order.
        baseline: the initial log-odds.
        n_features: the width of a feature row.
    """

    def __init__(self, nodes: np.ndarray, sizes: np.ndarray, baseline: float, n_features: int):
        import lightgbm

        self.nodes, self.sizes, self.baseline, self.n_features = nodes, sizes, float(baseline), int(n_features)
        self._booster = lightgbm.Booster(model_str=lightgbm_model(nodes, sizes, self.baseline, self.n_features))

    @classmethod
    def from_classifier(cls, model: HistGradientBoostingClassifier) -> TreeEnsemble:
        """Take the trees out of a fitted binary classifier without categorical features."""
        if model.n_trees_per_iteration_ != 1 or model.is_categorical_ is not None and model.is_categorical_.any():
            raise ValueError("only binary classifiers on numeric features can be exported")
        trees = [iteration[0].nodes for iteration in model._predictors]
        return cls(np.concatenate(trees), np.array([len(t) for t in trees], dtype=np.int64),
                   float(np.ravel(model._baseline_prediction)[0]), model.n_features_in_)

    def log_odds(self, x: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Raw scores of trees ``start:stop`` (the baseline counts with the first tree), summed in boosting order.

        Args:
            x: feature rows.
            start, stop: sum only trees ``start:stop`` (for a two-stage walk: a first stage's trees on every
                row, the rest on the rows worth it).
        """
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got shape {x.shape}")
        stop = len(self) if stop is None else min(stop, len(self))
        if not len(x) or stop <= start:
            return np.full(len(x), self.baseline if start == 0 else 0.0)
        # One thread: a batch's rows are few enough that OpenMP's start-up costs more than it saves, and
        # on a shared 2-core machine a second thread waits on a busy core.
        return self._booster.predict(x, raw_score=True, start_iteration=start, num_iteration=stop - start,
                                     num_threads=1)

    def __len__(self) -> int:
        return len(self.sizes)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class: ``scipy.special.expit`` of :meth:`log_odds`, as
        scikit-learn's binomial loss computes it (``1/(1+exp(-x))`` differs in the last bit)."""
        return expit(self.log_odds(x))


def lightgbm_model(nodes: np.ndarray, sizes: np.ndarray, baseline: float, n_features: int) -> str:
    """scikit-learn tree nodes as a LightGBM model text (binary objective, raw scores).

    The baseline is added to the first tree's leaves: LightGBM starts each sum at 0, scikit-learn at the
    baseline, and ``0 + (baseline + leaf)`` is the double ``baseline + leaf``.
    """
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    trees = [_lightgbm_tree(i, nodes[a:b], baseline if i == 0 else 0.0)
             for i, (a, b) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist()))]
    header = (f"tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
              f"max_feature_idx={n_features - 1}\nobjective=binary sigmoid:1\n"
              f"feature_names={' '.join(f'f{j}' for j in range(n_features))}\n"
              f"feature_infos={' '.join(['none'] * n_features)}\n"
              f"tree_sizes={' '.join(str(len(t)) for t in trees)}\n\n")
    return header + "".join(trees) + "end of trees\n"


#: LightGBM's decision type of a numeric split whose missing values (NaN) go the default side; 2 makes it left.
_NAN_SPLIT, _DEFAULT_LEFT = 8, 2


def _lightgbm_tree(number: int, nodes: np.ndarray, add: float) -> str:
    """One tree in LightGBM's text form: internal nodes numbered 0.., a leaf ``k`` referred to as ``~k``."""
    is_leaf = nodes["is_leaf"].astype(bool)
    leaves, internal = np.flatnonzero(is_leaf), np.flatnonzero(~is_leaf)
    values = [repr(float(v) + add) for v in nodes["value"][leaves].tolist()]
    if not len(internal):
        return f"Tree={number}\nnum_leaves=1\nnum_cat=0\nleaf_value={values[0]}\nis_linear=0\nshrinkage=1\n\n"
    ref = np.zeros(len(nodes), dtype=np.int64)
    ref[internal] = np.arange(len(internal))
    ref[leaves] = ~np.arange(len(leaves))
    inner = nodes[internal]
    fields = {
        "split_feature": inner["feature_idx"].tolist(),
        "split_gain": [repr(float(g)) for g in inner["gain"].tolist()],
        "threshold": [repr(float(t)) for t in inner["num_threshold"].tolist()],
        "decision_type": (_NAN_SPLIT | _DEFAULT_LEFT * inner["missing_go_to_left"].astype(np.int64)).tolist(),
        "left_child": ref[inner["left"].astype(np.int64)].tolist(),
        "right_child": ref[inner["right"].astype(np.int64)].tolist(),
        "leaf_value": values,
    }
    body = "".join(f"{name}={' '.join(map(str, items))}\n" for name, items in fields.items())
    return f"Tree={number}\nnum_leaves={len(leaves)}\nnum_cat=0\n{body}is_linear=0\nshrinkage=1\n\n"


#: Trees of the first stage of a two-stage walk (see :meth:`CalibratedRanker.first_stage`).
FIRST_STAGE_TREES = 40


class CalibratedRanker:
    """Scores (note, code) candidates; :meth:`score` is calibrated, :meth:`raw` orders.

    Fitting uses scikit-learn's HistGradientBoostingClassifier and IsotonicRegression; what is
    kept is their fitted state as arrays (:class:`TreeEnsemble`, the isotonic breakpoints), which
    is what a model folder stores.

    Args:
        max_iter: boosting rounds (``TrainConfig.ranker_iter``).
        learning_rate: shrinkage (``TrainConfig.ranker_learning_rate``).
        max_leaf_nodes: tree size (``TrainConfig.ranker_leaves``).
        seed: random state (the trees are deterministic for a given seed).
    """

    def __init__(self, max_iter: int, learning_rate: float, max_leaf_nodes: int, seed: int):
        self.params = dict(max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes,
                           l2_regularization=1.0, min_samples_leaf=20, early_stopping=False, random_state=seed)
        self.trees: TreeEnsemble | None = None
        #: Isotonic calibration as breakpoints: scores between them are interpolated linearly and
        #: scores outside are clipped, exactly as IsotonicRegression(out_of_bounds="clip") does.
        self.calibration_x = np.zeros(0)
        self.calibration_y = np.zeros(0)
        self.reliability: list[dict] = []

    @classmethod
    def from_config(cls, config: TrainConfig) -> CalibratedRanker:
        """A ranker with the settings of a training config."""
        return cls(config.ranker_iter, config.ranker_learning_rate, config.ranker_leaves, config.seed)

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5,
            sample_weight: np.ndarray | None = None) -> CalibratedRanker:
        """Fit on candidate rows ``x`` with labels ``y`` (1 = gold), grouped by note, rows weighted if given."""
        model = HistGradientBoostingClassifier(**self.params)
        params = {"sample_weight": sample_weight} if sample_weight is not None else None
        oof = cross_val_predict(model, x, y, groups=groups, cv=GroupKFold(n_splits=folds),
                                method="predict_proba", params=params)[:, 1]
        calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(oof, y, sample_weight)
        self.calibration_x, self.calibration_y = calibrator.X_thresholds_, calibrator.y_thresholds_
        self.reliability = reliability_table(self.score(oof), y)
        self.trees = TreeEnsemble.from_classifier(model.fit(x, y, sample_weight=sample_weight))
        return self

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated scores: strictly ordered, so use them to rank (the two stages' sum, as
        :meth:`second_stage` gives it)."""
        return self.second_stage(x, self.first_stage(x)) if len(x) else np.zeros(0)

    def first_stage(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of the first :data:`FIRST_STAGE_TREES` trees: cheap, and ordered much as the full sum."""
        return self.trees.log_odds(x, 0, FIRST_STAGE_TREES) if len(x) else np.zeros(0)

    def second_stage(self, x: np.ndarray, first: np.ndarray) -> np.ndarray:
        """:meth:`raw` of rows whose :meth:`first_stage` log-odds are ``first``: the same value, to the last
        bit (the rest of the trees are summed on their own and added to ``first``, as :meth:`raw` does)."""
        if not len(x):
            return np.zeros(0)
        return expit(first + self.trees.log_odds(x, FIRST_STAGE_TREES, None))

    def score(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability that a candidate is a gold code, from :meth:`raw` scores."""
        return np.interp(raw, self.calibration_x, self.calibration_y) if len(raw) else raw

    def get_state(self, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-ready settings and named arrays; ``prefix`` keeps names apart in a shared file."""
        values = {"params": self.params, "reliability": self.reliability, "baseline": self.trees.baseline,
                  "n_features": self.trees.n_features}
        arrays = {f"{prefix}_nodes": self.trees.nodes, f"{prefix}_sizes": self.trees.sizes,
                  f"{prefix}_calibration_x": self.calibration_x, f"{prefix}_calibration_y": self.calibration_y}
        return values, arrays

    @classmethod
    def from_state(cls, values: dict, arrays, prefix: str) -> CalibratedRanker:
        """Rebuild from :meth:`get_state`'s output."""
        params = values["params"]
        ranker = cls(params["max_iter"], params["learning_rate"], params["max_leaf_nodes"], params["random_state"])
        ranker.params, ranker.reliability = values["params"], values["reliability"]
        ranker.trees = TreeEnsemble(arrays[f"{prefix}_nodes"], arrays[f"{prefix}_sizes"], values["baseline"],
                                    values["n_features"])
        ranker.calibration_x = arrays[f"{prefix}_calibration_x"]
        ranker.calibration_y = arrays[f"{prefix}_calibration_y"]
        return ranker

