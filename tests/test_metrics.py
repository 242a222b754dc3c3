"""Rating and ranking metrics against hand-computed cases, edge cases and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.metrics import (
    mae,
    rank_lists,
    ranking_curve,
    ranking_metrics,
    ranking_report,
    rating_report,
    rmse,
    score_matrix,
    top_k,
    user_mae,
    user_rmse,
)
from helpers.model import MFModel


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating"])


# ----------------------------------------------------------------------------- rating metrics


def test_rmse_mae_and_per_user_averages_by_hand():
    users = [1, 1, 2]
    y_true = [4.0, 2.0, 3.0]
    y_pred = [3.0, 2.0, 5.0]
    assert rmse(y_true, y_pred) == pytest.approx(np.sqrt(5 / 3))
    assert mae(y_true, y_pred) == pytest.approx(1.0)
    # user 1: errors (1, 0) -> RMSE sqrt(1/2), MAE 1/2; user 2: error 2
    assert user_rmse(users, y_true, y_pred) == pytest.approx((np.sqrt(0.5) + 2) / 2)
    assert user_mae(users, y_true, y_pred) == pytest.approx((0.5 + 2) / 2)


def test_rating_metrics_reject_empty_and_mismatched_input():
    with pytest.raises(ValueError, match="test set is empty"):
        rmse([], [])
    with pytest.raises(ValueError, match="shapes differ"):
        user_mae([1, 2], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="users has shape"):
        user_rmse([1], [1.0, 2.0], [1.0, 2.0])


def tiny_model() -> MFModel:
    return MFModel(
        global_mean=3.0,
        user_bias=np.array([0.5, -0.5]),
        item_bias=np.array([1.0, -1.0, 0.0]),
        user_factors=np.array([[1.0], [2.0]]),
        item_factors=np.array([[1.0], [0.0], [-1.0]]),
        user_ids=np.array([1, 2]),
        item_ids=np.array([10, 20, 30]),
    )


def test_rating_report_uses_clipped_predictions():
    test = frame([(1, 10, 5.0), (2, 30, 1.0)])
    # user 1, movie 10: 3 + 0.5 + 1 + 1 = 5.5 -> clipped to 5; user 2, movie 30: 3 - .5 + 0 - 2 = .5
    report = rating_report(tiny_model(), test)
    assert report["rmse"] == pytest.approx(np.sqrt(0.25 / 2))
    assert report["mae"] == pytest.approx(0.25)
    assert report["user_mae"] == pytest.approx(0.25)
    assert report["n_ratings"] == 2


def test_rating_report_errors():
    with pytest.raises(ValueError, match="test is empty"):
        rating_report(tiny_model(), frame([]))
    with pytest.raises(TypeError, match="need a model that predicts stars"):
        rating_report(object(), frame([(1, 10, 5.0)]))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['rating'\]"):
        rating_report(tiny_model(), pd.DataFrame({"userId": [1], "movieId": [10]}))


# ----------------------------------------------------------------------------- scores and top-k


def test_score_matrix_of_a_model_equals_unclipped_predict_with_unseen_policy():
    model = tiny_model()
    users = np.array([1, 2, 99])  # 99: unseen user
    items = np.array([10, 20, 30, 77])  # 77: unseen movie
    scores = score_matrix(model, users, items)
    uu, ii = np.meshgrid(users, items, indexing="ij")
    expected = model.predict(uu.ravel(), ii.ravel(), clip=False).reshape(uu.shape)
    np.testing.assert_allclose(scores, expected)
    assert scores[0, 0] == pytest.approx(5.5)  # not clipped: ranking must not see clip ties


def test_top_k_breaks_ties_by_smaller_column():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0]])
    np.testing.assert_array_equal(top_k(scores, 2), [[1, 2]])
    np.testing.assert_array_equal(top_k(scores, 4), [[1, 2, 4, 3]])
    # all three tied columns fit: order still by column
    np.testing.assert_array_equal(top_k(scores, 3), [[1, 2, 4]])


def test_top_k_respects_candidates_and_pads_short_lists():
    scores = np.array([[5.0, 4.0, 3.0], [1.0, 2.0, 3.0]])
    candidates = np.array([[False, True, True], [False, False, False]])
    np.testing.assert_array_equal(top_k(scores, 2, candidates), [[1, 2], [-1, -1]])
    # k larger than the candidate list and than the catalogue
    np.testing.assert_array_equal(top_k(scores, 5, candidates), [[1, 2, -1, -1, -1], [-1] * 5])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_k_equals_a_stable_full_sort(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=(30, 12)).astype(float)  # many ties
    candidates = rng.random((30, 12)) < 0.7
    got = top_k(scores, 5, candidates)
    for row in range(30):
        cols = np.flatnonzero(candidates[row])
        best = cols[np.argsort(-scores[row, cols], kind="stable")][:5]
        expected = np.full(5, -1)
        expected[: len(best)] = best
        np.testing.assert_array_equal(got[row], expected)


def test_top_k_errors():
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        top_k(np.zeros((1, 3)), 0)
    with pytest.raises(ValueError, match="must be finite"):
        top_k(np.array([[1.0, np.nan]]), 1)
    with pytest.raises(ValueError, match="2-D"):
        top_k(np.zeros(3), 1)


# ----------------------------------------------------------------------------- ranking metrics


def test_ranking_metrics_by_hand():
    hits = np.array([[1, 0, 1, 0], [0, 0, 0, 0]])
    n_rel = np.array([3, 1])
    m = ranking_metrics(hits, n_rel, 4)
    idcg3 = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    np.testing.assert_allclose(m["precision"], [0.5, 0.0])
    np.testing.assert_allclose(m["recall"], [2 / 3, 0.0])
    np.testing.assert_allclose(m["ndcg"], [(1 + 0.5) / idcg3, 0.0])
    np.testing.assert_allclose(m["map"], [(1 / 1 + 2 / 3) / 3, 0.0])
    np.testing.assert_allclose(m["hit_rate"], [1.0, 0.0])
    m2 = ranking_metrics(hits, n_rel, 2)
    np.testing.assert_allclose(m2["recall"], [1 / 3, 0.0])
    np.testing.assert_allclose(m2["ndcg"], [1 / (1 + 1 / np.log2(3)), 0.0])
    np.testing.assert_allclose(m2["map"], [(1 / 1) / 2, 0.0])  # AP divides by min(k, |R|)


def test_ranking_metrics_perfect_list_scores_one():
    m = ranking_metrics(np.array([[1, 1, 0]]), np.array([2]), 3)
    for name in ("recall", "ndcg", "map", "hit_rate"):
        assert m[name][0] == pytest.approx(1.0), name
    assert m["precision"][0] == pytest.approx(2 / 3)


def test_ranking_metrics_errors():
    with pytest.raises(ValueError, match="at least one relevant item"):
        ranking_metrics(np.zeros((1, 2)), np.array([0]), 2)
    with pytest.raises(ValueError, match=r"hits must be \(users, >= k=3\)"):
        ranking_metrics(np.zeros((1, 2)), np.array([1]), 3)


# Three users. Training: user 1 rated 10, 20; user 2 rated 10, 30; user 3 rated 40.
TRAIN = frame([(1, 10, 4.0), (1, 20, 3.0), (2, 10, 5.0), (2, 30, 2.0), (3, 40, 4.0)])
# Test: user 1 likes 30 (not 40); user 2 likes 20 and 40; user 3 likes nothing (rated 10 3 stars).
TEST = frame([(1, 30, 5.0), (1, 40, 2.0), (2, 20, 4.0), (2, 40, 4.5), (3, 10, 3.0)])
ITEM_SCORE = {10: 0.1, 20: 0.5, 30: 0.9, 40: 0.5}  # 20 and 40 tie


class FixedScorer:
    """A scorer (the Scorer protocol) with the same score of a movie for every user."""

    name = "fixed"
    item_ids = np.array(sorted(ITEM_SCORE))

    def score(self, user_ids, item_ids):
        row = np.array([ITEM_SCORE.get(int(i), 0.0) for i in item_ids])
        return np.tile(row, (len(user_ids), 1))


class WrongShape(FixedScorer):
    def score(self, user_ids, item_ids):
        return np.zeros(1)


fixed_scores = FixedScorer()


def test_score_matrix_checks_the_scorer():
    with pytest.raises(TypeError, match="scorer must be a Scorer"):
        score_matrix("popular", [1], [10])
    with pytest.raises(ValueError, match=r"returned shape \(1,\), expected \(1, 2\)"):
        score_matrix(WrongShape(), [1], [10, 20])


def test_ranking_report_by_hand_at_k1():
    r = ranking_report(fixed_scores, TRAIN, TEST, k=1)
    # user 1 gets [30]: a hit. user 2: 20 and 40 tie -> the smaller movieId 20: a hit.
    # user 3 has no relevant test movie: gets [30] but is excluded from the averages.
    assert r["precision"] == pytest.approx(1.0)
    assert r["recall"] == pytest.approx((1 / 1 + 1 / 2) / 2)
    assert r["hit_rate"] == pytest.approx(1.0)
    assert (r["n_users"], r["n_users_evaluated"], r["n_users_no_relevant"]) == (3, 2, 1)
    assert r["coverage"] == pytest.approx(2 / 4)  # {20, 30} of {10, 20, 30, 40}
    assert r["mean_popularity"] == pytest.approx(1.0)  # 30, 20, 30: one training rating each
    assert r["novelty"] == pytest.approx(-np.log2(1 / 3))


def test_ranking_report_k_larger_than_candidates():
    r = ranking_report(fixed_scores, TRAIN, TEST, k=5)
    # user 1: [30, 40] (2 candidates) -> 1 hit of 5 slots; user 2: [20, 40] -> 2 hits
    assert r["precision"] == pytest.approx((1 / 5 + 2 / 5) / 2)
    assert r["recall"] == pytest.approx(1.0)
    assert r["ndcg"] == pytest.approx(1.0)
    assert r["map"] == pytest.approx(1.0)
    lists = rank_lists(fixed_scores, TRAIN, TEST, k=5)
    np.testing.assert_array_equal(lists.items[0], [2, 3, -1, -1, -1])  # columns of 30, 40


def test_never_recommends_a_movie_rated_in_training():
    lists = rank_lists(fixed_scores, TRAIN, TEST, k=4)
    for row, user in enumerate(lists.user_ids):
        shown = lists.catalogue[lists.items[row][lists.items[row] >= 0]]
        rated = TRAIN.loc[TRAIN["userId"] == user, "movieId"].to_numpy()
        assert not set(shown) & set(rated)


def test_threshold_changes_relevance_and_excluded_users_are_counted():
    r = ranking_report(fixed_scores, TRAIN, TEST, k=1, threshold=5.0)
    # only user 1 (30 at 5 stars) has a relevant movie now
    assert (r["n_users_evaluated"], r["n_users_no_relevant"]) == (1, 2)
    assert r["precision"] == pytest.approx(1.0)


def test_relevant_movies_outside_the_catalogue_are_dropped_and_counted():
    test = pd.concat([TEST, frame([(1, 99, 5.0)])], ignore_index=True)
    r = ranking_report(fixed_scores, TRAIN, test, k=1)
    assert r["n_relevant_outside_catalogue"] == 1
    assert r["recall"] == pytest.approx((1 / 1 + 1 / 2) / 2)  # unchanged


def test_ranking_report_errors():
    with pytest.raises(ValueError, match="test is empty"):
        ranking_report(fixed_scores, TRAIN, frame([]), k=1)
    with pytest.raises(ValueError, match="no test user has a relevant item"):
        ranking_report(fixed_scores, TRAIN, frame([(1, 30, 1.0)]), k=1)
    with pytest.raises(ValueError, match="k must be >= 1"):
        ranking_report(fixed_scores, TRAIN, TEST, k=0)
    with pytest.raises(TypeError, match="threshold must be a number, got str '4'"):
        ranking_report(fixed_scores, TRAIN, TEST, threshold="4")
    with pytest.raises(ValueError, match="threshold must be a finite number, got nan"):
        ranking_report(fixed_scores, TRAIN, TEST, threshold=float("nan"))
    with pytest.raises(TypeError, match="train must be a DataFrame"):
        ranking_report(fixed_scores, [(1, 10, 4.0)], TEST)


def random_data(seed: int, n_users: int = 40, n_items: int = 30):
    rng = np.random.default_rng(seed)
    cells = rng.permutation(n_users * n_items)[: n_users * n_items // 3]
    ratings = frame(
        {
            "userId": cells // n_items,
            "movieId": cells % n_items,
            "rating": rng.integers(1, 6, len(cells)),
        }
    )
    is_test = rng.random(len(ratings)) < 0.3
    return ratings[~is_test], ratings[is_test]


def test_chunking_does_not_change_results_and_curve_matches_reports():
    train, test = random_data(0)
    users, items = np.unique(train["userId"]), np.unique(train["movieId"])
    rng = np.random.default_rng(1)
    model = MFModel(
        global_mean=3.5,
        user_bias=rng.normal(size=len(users)),
        item_bias=rng.normal(size=len(items)),
        user_factors=rng.normal(size=(len(users), 3)),
        item_factors=rng.normal(size=(len(items), 3)),
        user_ids=users,
        item_ids=items,
    )
    whole = ranking_report(model, train, test, k=5, chunk_size=1000)
    chunked = ranking_report(model, train, test, k=5, chunk_size=3)
    assert whole == pytest.approx(chunked)
    curve = ranking_curve(model, train, test, ks=(1, 5))
    for row in curve.to_dict("records"):
        alone = ranking_report(model, train, test, k=int(row["k"]))
        assert row == pytest.approx(alone)
