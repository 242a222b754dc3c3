"""EASE: the closed form against a brute-force constrained least squares, the Lagrangian
conditions, the scorer's scores and fallbacks, and error paths."""

import numpy as np
import pandas as pd
import pytest

from conftest import random_ratings
from helpers.ease import EASEScorer, ease_weights, fit_ease
from helpers.matrix import build_matrix
from helpers.model import Scorer


def binary(seed=0, n=9, m=6, density=0.5):
    x = (np.random.default_rng(seed).random((n, m)) < density).astype(np.float64)
    x[0] = 1.0  # every column has a rater
    return x


def brute_force(x, reg):
    """Column by column: b_j minimises ||x_j - X b||² + reg ||b||² with b_jj = 0, i.e. a ridge
    regression of column j on the other columns."""
    m = x.shape[1]
    b = np.zeros((m, m))
    for j in range(m):
        others = [c for c in range(m) if c != j]
        a = x[:, others]
        b[others, j] = np.linalg.solve(a.T @ a + reg * np.eye(m - 1), a.T @ x[:, j])
    return b


@pytest.mark.parametrize("reg", [0.5, 3.0, 50.0])
def test_closed_form_equals_the_constrained_least_squares(reg):
    x = binary()
    b = ease_weights(x.T @ x, reg)
    np.testing.assert_allclose(b, brute_force(x, reg), rtol=1e-10, atol=1e-12)
    assert np.all(np.diag(b) == 0)


def test_lagrangian_conditions_hold():
    # stationarity of ||X - XB||² + reg||B||² + 2 Σ_j mu_j B_jj: (G + reg I) B - G = -diag(mu),
    # so every off-diagonal entry of (G + reg I) B - G is 0
    x = binary(1, n=12, m=7)
    g = x.T @ x
    b = ease_weights(g, 2.0)
    residual = (g + 2.0 * np.eye(7)) @ b - g
    off = ~np.eye(7, dtype=bool)
    np.testing.assert_allclose(residual[off], 0.0, atol=1e-10)
    assert np.all(np.diag(residual) < 0)  # mu_j > 0: the constraint binds

    # and no feasible perturbation (zero diagonal) does better
    def objective(w):
        return np.sum((x - x @ w) ** 2) + 2.0 * np.sum(w**2)

    rng = np.random.default_rng(0)
    for _ in range(5):
        step = 1e-3 * rng.normal(size=b.shape) * off
        assert objective(b + step) > objective(b)


def test_gram_and_scores_from_the_stored_interactions():
    train = random_ratings(3, n_users=15, n_items=10, density=0.4, raw_ids=True)
    model = fit_ease(train, reg=4.0, min_ratings=1)
    assert isinstance(model, Scorer) and "0x" not in repr(model)
    matrix = build_matrix(train)
    x = np.zeros(matrix.shape)
    x[matrix.users, matrix.items] = 1.0  # stars do not matter, only who rated what
    np.testing.assert_allclose(model.weights, ease_weights(x.T @ x, 4.0), rtol=1e-12)
    got = model.score(matrix.user_ids[::-1], matrix.item_ids)
    np.testing.assert_allclose(got, (x @ model.weights)[::-1], rtol=1e-12, atol=1e-14)


def test_min_ratings_keeps_the_popular_movies_and_ranks_the_rest_last():
    train = random_ratings(4, n_users=20, n_items=12, density=0.3, raw_ids=True)
    counts = train.movieId.value_counts()
    model = fit_ease(train, reg=2.0, min_ratings=6)
    modelled = model.item_ids[model.kept]
    assert set(modelled) == set(counts.index[counts >= 6])
    assert model.weights.shape == (len(modelled), len(modelled))
    unseen_movie = 10**7
    scores = model.score(model.user_ids, np.append(model.item_ids, unseen_movie))
    inside = np.isin(np.append(model.item_ids, unseen_movie), modelled)
    assert np.all(scores[:, ~inside].max(axis=1) < scores[:, inside].min(axis=1))
    np.testing.assert_array_equal(
        scores[:, ~inside], scores[:, [-1]] * np.ones((1, (~inside).sum()))
    )


def test_unseen_users_get_item_popularity():
    train = random_ratings(5, n_users=10, n_items=8, density=0.4)
    model = fit_ease(train, reg=1.0, min_ratings=1)
    counts = train.movieId.value_counts().sort_index().to_numpy()
    got = model.score([-5, 10**6], np.append(model.item_ids, 10**6))
    want = np.append(counts / train.userId.nunique(), 0.0)
    np.testing.assert_allclose(got, [want, want])
    assert np.all(np.isfinite(got))


def test_deterministic_and_leaves_the_input_alone():
    train = random_ratings(6, n_users=12, n_items=9, density=0.4)
    before = train.copy()
    a = fit_ease(train, reg=3.0, min_ratings=2).score(train.userId.unique(), [1, 2, 3])
    b = fit_ease(train, reg=3.0, min_ratings=np.int64(2)).score(train.userId.unique(), [1, 2, 3])
    pd.testing.assert_frame_equal(train, before)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"reg": 0.0}, ValueError, "reg must be > 0"),
        ({"reg": "1"}, TypeError, "reg must be a number"),
        ({"min_ratings": 0}, ValueError, "min_ratings must be >= 1"),
        ({"min_ratings": 1000}, ValueError, "keeps no movie"),
        ({"min_ratings": 2.0}, TypeError, "min_ratings must be an integer"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        fit_ease(random_ratings(0), **kwargs)


def test_scorer_is_a_small_dataclass():
    model = fit_ease(random_ratings(0), reg=10.0, min_ratings=1)
    assert isinstance(model, EASEScorer)
    assert repr(model).startswith("EASEScorer(name='EASE'")
