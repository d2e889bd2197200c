import pytest

from medcode.evaluation.metrics import average_precision, ranking_metrics


def test_average_precision_by_hand():
    # hits at ranks 1 and 3 of 2 gold codes: (1/1 + 2/3) / 2
    assert average_precision(["a", "x", "b"], {"a", "b"}) == pytest.approx((1 + 2 / 3) / 2)
    # a gold code never predicted still counts in the denominator
    assert average_precision(["a"], {"a", "b"}) == pytest.approx(0.5)
    assert average_precision([], {"a"}) == 0.0


def test_note_without_predictions_scores_zero_and_ties_keep_given_order():
    gold = {"n1": ["b", "a"], "n2": ["c"], "n3": []}
    metrics = ranking_metrics({"n1": ["b", "z", "a"]}, gold)
    assert metrics["notes"] == 2  # n3 has no gold and is not counted
    assert metrics["MAP"] == pytest.approx(((1 + 2 / 3) / 2 + 0) / 2)
    assert metrics["P@5"] == pytest.approx((2 / 5 + 0) / 2)
    assert metrics["R@10"] == pytest.approx((1 + 0) / 2)


def test_map_matches_an_independent_computation():
    """Cross-check against sklearn's average_precision_score on a fully ranked list."""
    from sklearn.metrics import average_precision_score

    ranked = ["a", "b", "c", "d", "e", "f"]
    gold = {"b", "e", "f"}
    y_true = [int(c in gold) for c in ranked]
    y_score = list(range(len(ranked), 0, -1))  # strictly decreasing: no ties
    assert average_precision(ranked, gold) == pytest.approx(average_precision_score(y_true, y_score))


def test_f1_by_hand_including_a_single_code():
    from medcode.evaluation.metrics import set_f1

    one = set_f1({("a", "X")}, {("a", "X"), ("b", "X")})
    assert abs(one["precision"] - 1.0) < 1e-9 and abs(one["recall"] - 0.5) < 1e-9 and abs(one["f1"] - 2 / 3) < 1e-9
    two = set_f1({("a", "X"), ("a", "Y")}, {("a", "X"), ("b", "Z")})
    # X: F1 1; Y: predicted, never gold, F1 0; Z: gold, never predicted, F1 0.
    assert abs(two["f1"] - 0.5) < 1e-9 and abs(two["macro_f1"] - 1 / 3) < 1e-9
