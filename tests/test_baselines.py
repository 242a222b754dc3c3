"""Baselines: the global mean, damped biases (hand-computed and against the ridge solution) and
most-popular scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.baselines import fit_biases, fit_global_mean, most_popular
from helpers.metrics import ranking_report

# mu = 4; movie 10 rated 5 and 4, movie 20 rated 3
TRAIN = pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 20, 10], "rating": [5.0, 3.0, 4.0]})


def test_global_mean_predicts_the_mean_everywhere():
    model = fit_global_mean(TRAIN)
    assert model.k == 0
    assert model.global_mean == pytest.approx(4.0)
    np.testing.assert_allclose(model.predict([1, 2, 7], [20, 10, 99]), 4.0)
    assert not model.user_bias.any() and not model.item_bias.any()


def test_biases_one_pass_undamped_by_hand():
    model = fit_biases(TRAIN, damping=0.0, iterations=1)
    # b_10 = (1 + 0) / 2, b_20 = -1 / 1; b_1 = ((1 - .5) + (-1 + 1)) / 2, b_2 = (0 - .5) / 1
    np.testing.assert_allclose(model.item_bias, [0.5, -1.0])
    np.testing.assert_allclose(model.user_bias, [0.25, -0.5])


def test_biases_one_pass_damped_by_hand():
    model = fit_biases(TRAIN, damping=1.0, iterations=1)
    # b_10 = 1 / (1 + 2), b_20 = -1 / (1 + 1); b_1 = ((1 - 1/3) + (-1 + 1/2)) / 3, b_2 = -1/3 / 2
    np.testing.assert_allclose(model.item_bias, [1 / 3, -1 / 2])
    np.testing.assert_allclose(model.user_bias, [1 / 18, -1 / 6])
    assert model.params == {"damping": 1.0, "iterations": 1}


def random_ratings(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cells = rng.permutation(12 * 9)[:50]
    return pd.DataFrame(
        {"userId": cells // 9, "movieId": cells % 9, "rating": rng.integers(1, 11, 50) / 2}
    )


def ridge_solution(ratings: pd.DataFrame, damping: float) -> tuple[np.ndarray, np.ndarray]:
    """Joint minimiser of sum (r - mu - b_u - b_i)^2 + damping (|b_u|^2 + |b_i|^2)."""
    users, u = np.unique(ratings["userId"], return_inverse=True)
    items, i = np.unique(ratings["movieId"], return_inverse=True)
    r = ratings["rating"].to_numpy()
    X = np.zeros((len(r), len(users) + len(items)))
    X[np.arange(len(r)), u] = 1
    X[np.arange(len(r)), len(users) + i] = 1
    A = X.T @ X + damping * np.eye(X.shape[1])
    b = np.linalg.solve(A, X.T @ (r - r.mean()))
    return b[: len(users)], b[len(users) :]


def objective(model, ratings: pd.DataFrame, damping: float) -> float:
    pred = model.predict(ratings["userId"], ratings["movieId"], clip=False)
    fit = np.sum((ratings["rating"].to_numpy() - pred) ** 2)
    return fit + damping * (np.sum(model.user_bias**2) + np.sum(model.item_bias**2))


@pytest.mark.parametrize("seed", [0, 1])
def test_alternating_passes_converge_to_the_ridge_solution_monotonically(seed):
    ratings = random_ratings(seed)
    b_u, b_i = ridge_solution(ratings, damping=2.0)
    model = fit_biases(ratings, damping=2.0, iterations=300)
    np.testing.assert_allclose(model.user_bias, b_u, atol=1e-8)
    np.testing.assert_allclose(model.item_bias, b_i, atol=1e-8)
    losses = [
        objective(fit_biases(ratings, damping=2.0, iterations=n), ratings, 2.0) for n in range(1, 8)
    ]
    assert np.all(np.diff(losses) <= 1e-12)


def test_biases_history_and_huge_damping():
    valid = TRAIN.iloc[:1]
    model = fit_biases(TRAIN, damping=3.0, iterations=4, valid=valid)
    assert model.history["iteration"] == [1, 2, 3, 4]
    assert len(model.history["train_rmse"]) == len(model.history["valid_rmse"]) == 4
    flat = fit_biases(TRAIN, damping=1e12)
    np.testing.assert_allclose(flat.predict([1, 2], [10, 20]), 4.0, atol=1e-9)


def test_biases_errors():
    with pytest.raises(ValueError, match="damping must be >= 0, got -1"):
        fit_biases(TRAIN, damping=-1.0)
    with pytest.raises(TypeError, match="damping must be a number, got str"):
        fit_biases(TRAIN, damping="5")
    with pytest.raises(ValueError, match="iterations must be >= 1, got 0"):
        fit_biases(TRAIN, iterations=0)
    with pytest.raises(ValueError, match="ratings is empty"):
        fit_global_mean(TRAIN.iloc[:0])


def test_most_popular_scores_are_training_counts():
    scorer = most_popular(TRAIN)
    scores = scorer.score(np.array([1, 2, 3]), np.array([20, 10, 99]))
    np.testing.assert_array_equal(scores, [[1, 2, 0]] * 3)
    assert repr(scorer) == "PopularityScorer(name='most popular', items=2)"


def test_most_popular_in_the_ranking_code_with_ties():
    train = pd.DataFrame({"userId": [1, 2, 3, 3], "movieId": [30, 30, 20, 10], "rating": [4.0] * 4})
    test = pd.DataFrame({"userId": [1, 2], "movieId": [10, 20], "rating": [5.0, 5.0]})
    # counts: 30 -> 2, 10 -> 1, 20 -> 1 (a tie: 10 first). Users 1 and 2 rated 30 already,
    # so both get [10]: a hit for user 1, a miss for user 2.
    r = ranking_report(most_popular(train), train, test, k=1)
    assert r["precision"] == pytest.approx(0.5)
    assert r["coverage"] == pytest.approx(1 / 3)


def test_fit_biases_folds_a_new_user_in_by_its_user_pass():
    model = fit_biases(TRAIN, damping=1.5, iterations=4)
    items = model.item_index(TRAIN["movieId"].to_numpy()[:2])
    stars = np.array([5.0, 1.0])
    bias, factors = model.fold_in.solve(model, items, stars)
    # the user pass: b_u = sum(r - mu - b_i) / (damping + n_u)
    want = np.sum(stars - model.global_mean - model.item_bias[items]) / (1.5 + 2)
    assert bias == pytest.approx(want) and factors.shape == (0,)
