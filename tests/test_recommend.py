"""Tests of helpers.recommend: top-N, the min-ratings guard as a scorer, similar movies, fold-in
under the model's own rule, explanations of a predicted rating and of an implicit-ALS ranking.
Title matching and ratings dicts are tested in test_titles.py."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from helpers.als import als_half_step, fit_als
from helpers.foldin import RidgeFoldIn
from helpers.implicit_als import (
    ImplicitFoldIn,
    confidence_weights,
    fit_implicit_als,
    implicit_half_step_reference,
    preferences,
)
from helpers.matrix import build_matrix
from helpers.metrics import ranking_report, top_k
from helpers.model import MFModel, empty_factors
from helpers.recommend import (
    Explanation,
    GuardedScorer,
    NewUser,
    RankingExplanation,
    explain,
    explain_ranking,
    fold_in,
    guarded,
    similar_movies,
    top_n,
)
from helpers.titles import TitleError

N_USERS, N_ITEMS, K = 40, 30, 3
FIRST_MOVIE = 10  # movieIds 10..39, userIds 1..40

TITLES = {
    10: "Toy Story (1995)",
    11: "Toy Story 2 (1999)",
    12: "Matrix, The (1999)",
    15: "Emma (2009)",
    16: "Hamlet (1948)",
    17: "Hamlet (1996)",
    18: "Babylon 5",  # no year
}


def _movies() -> pd.DataFrame:
    ids = np.arange(FIRST_MOVIE, FIRST_MOVIE + N_ITEMS)
    titles = [TITLES.get(int(j), f"Movie {j} (2000)") for j in ids]
    genres = ["Adventure|Animation"] + ["Drama"] * (N_ITEMS - 1)
    # one movie that nobody rated: known title, but the model has no factors for it
    return pd.DataFrame(
        {
            "movieId": [*ids, 99],
            "title": [*titles, "Nobody Rated This (2001)"],
            "genres": [*genres, "Comedy"],
        }
    )


def _ratings(seed: int = 0) -> pd.DataFrame:
    """Half-star ratings of a rank-3 taste matrix plus noise, about half of the cells observed."""
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(N_USERS, K))
    Q = rng.normal(size=(N_ITEMS, K))
    full = 3.5 + 0.6 * (P @ Q.T) / np.sqrt(K) + rng.normal(0, 0.3, (N_USERS, N_ITEMS))
    mask = rng.random((N_USERS, N_ITEMS)) < 0.5
    mask[:, 0] = True  # Toy Story: rated by everyone
    mask[:, N_ITEMS - 1] = False
    mask[:2, N_ITEMS - 1] = True  # the last movie has only two ratings
    u, i = np.nonzero(mask)
    stars = np.clip(np.round(full[u, i] * 2) / 2, 0.5, 5.0)
    return pd.DataFrame({"userId": u + 1, "movieId": i + FIRST_MOVIE, "rating": stars})


@pytest.fixture(scope="module")
def movies() -> pd.DataFrame:
    return _movies()


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return _ratings()


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "weighted"])
def als(request, train) -> MFModel:
    weighted = request.param
    return fit_als(train, k=K, reg=0.05 if weighted else 0.5, iterations=30, weighted=weighted)


def _hand_model(train: pd.DataFrame, rule, *, name: str = "hand", seed: int = 1, **fields):
    """A model on ``train``'s users and movies with random parameters and the fold-in ``rule``."""
    matrix = build_matrix(train)
    rng = np.random.default_rng(seed)
    n, m = matrix.n_users, matrix.n_items
    return MFModel.from_matrix(
        matrix,
        global_mean=float(train["rating"].mean()),
        user_bias=rng.normal(0, 0.3, n),
        item_bias=rng.normal(0, 0.3, m),
        user_factors=rng.normal(0, 0.5, (n, K)),
        item_factors=rng.normal(0, 0.5, (m, K)),
        name=name,
        fold_in=rule,
        **fields,
    )


def _tiny_model(item_factors, item_bias=None, user_factors=None, **fields) -> MFModel:
    """One user (id 1) and items 100, 101, ... with the given factors."""
    item_factors = np.asarray(item_factors, dtype=float)
    m, k = item_factors.shape
    return MFModel(
        global_mean=3.0,
        user_bias=np.array([0.25]),
        item_bias=np.zeros(m) if item_bias is None else np.asarray(item_bias, dtype=float),
        user_factors=np.ones((1, k)) if user_factors is None else np.asarray(user_factors),
        item_factors=item_factors,
        user_ids=np.array([1]),
        item_ids=np.arange(100, 100 + m),
        name="tiny",
        **fields,
    )


def _own_ratings(train: pd.DataFrame, user: int) -> dict[int, float]:
    mine = train.loc[train["userId"] == user]
    return dict(zip(mine["movieId"].tolist(), mine["rating"].tolist(), strict=True))


# --------------------------------------------------------------------------------------------
# top_n
# --------------------------------------------------------------------------------------------


def test_top_n_hand_computed_order_scores_and_tie_break():
    # scores 3.25 + b_i + (f1 + f2): item 100 -> 4.25, 101 -> 5.75, 102 -> 4.25, 103 -> 2.25
    model = _tiny_model([[1.0, 0.0], [1.0, 1.0], [0.5, 0.5], [-1.0, 0.0]], item_bias=[0, 0.5, 0, 0])
    recs = top_n(model, 1, 3, exclude=())
    assert recs["movieId"].tolist() == [101, 100, 102]  # the 4.25 tie goes to the smaller id
    np.testing.assert_allclose(recs["score"], [5.75, 4.25, 4.25])
    np.testing.assert_allclose(recs["predicted"], [5.0, 4.25, 4.25])  # clipped like predict
    assert top_n(model, np.int64(1), np.int64(2), exclude=[101])["movieId"].tolist() == [100, 102]


def test_top_n_scores_through_score_rows():
    """A model class that scores differently is ranked by its own score_rows."""

    class Reversed(MFModel):
        def score_rows(self, u, i=None):
            return -super().score_rows(u, i)

    factors = [[1.0, 0.0], [1.0, 1.0], [0.5, 0.5], [-1.0, 0.0]]
    plain = _tiny_model(factors, item_bias=[0, 0.5, 0, 0])
    reversed_ = Reversed(**{f.name: getattr(plain, f.name) for f in dataclasses.fields(plain)})
    recs = top_n(reversed_, 1, 4, exclude=())
    assert recs["movieId"].tolist() == [103, 100, 102, 101]
    np.testing.assert_allclose(recs["score"], [-2.25, -4.25, -4.25, -5.75])


def test_top_n_never_recommends_a_rated_movie(als, train):
    for user in als.user_ids:
        recs = top_n(als, int(user), 10, exclude=train)
        rated = set(train.loc[train["userId"] == user, "movieId"])
        assert rated, "every synthetic user rated something"
        assert not rated & set(recs["movieId"])
    # the same with the user's rated ids given as a list
    rated = train.loc[train["userId"] == 3, "movieId"].tolist()
    assert not set(rated) & set(top_n(als, 3, 50, exclude=rated)["movieId"])


def test_top_n_with_n_larger_than_the_candidates_returns_all_of_them(als, train):
    recs = top_n(als, 5, 1000, exclude=train)
    rated = set(train.loc[train["userId"] == 5, "movieId"])
    assert set(recs["movieId"]) == set(als.item_ids) - rated
    assert recs["score"].is_monotonic_decreasing
    expected = als.predict(np.full(len(recs), 5), recs["movieId"])
    np.testing.assert_allclose(recs["predicted"], expected)
    np.testing.assert_array_equal(recs["score"], als.score([5], recs["movieId"])[0])


def test_top_n_min_ratings_leaves_out_rarely_rated_movies(als, train):
    recs = top_n(als, 3, 1000, exclude=(), counts=train, min_ratings=3)
    assert FIRST_MOVIE + N_ITEMS - 1 not in set(recs["movieId"])  # only 2 ratings
    assert len(recs) == N_ITEMS - 1


def test_top_n_adds_titles_years_and_genres(als, train, movies):
    recs = top_n(als, 1, 1000, exclude=(), movies=movies)
    assert list(recs.columns) == ["movieId", "title", "year", "genres", "score", "predicted"]
    toy = recs.loc[recs["movieId"] == 10].iloc[0]
    assert (toy["title"], toy["year"], toy["genres"]) == (
        "Toy Story (1995)",
        1995,
        "Adventure, Animation",
    )
    assert pd.isna(recs.loc[recs["movieId"] == 18, "year"].iloc[0])  # "Babylon 5" has no year


def test_top_n_works_for_a_model_without_factors(train):
    mu = train["rating"].mean()
    ids = np.unique(train["movieId"])
    means = train.groupby("movieId")["rating"].mean().to_numpy()
    model = MFModel(
        mu,
        np.zeros(N_USERS),
        means - mu,
        empty_factors(N_USERS),
        empty_factors(len(ids)),
        np.arange(1, N_USERS + 1),
        ids,
        name="item means",
    )
    recs = top_n(model, 1, 3, exclude=train)
    unrated = train.loc[~train["movieId"].isin(train.loc[train["userId"] == 1, "movieId"])]
    best = unrated.groupby("movieId")["rating"].mean().sort_values(ascending=False, kind="stable")
    np.testing.assert_allclose(recs["score"], best.to_numpy()[:3])


def test_top_n_of_a_ranking_model_has_no_predicted_stars(train):
    ranker = _hand_model(train, None, name="ranker", predicts_stars=False)
    recs = top_n(ranker, 4, 5, exclude=train)
    assert list(recs.columns) == ["movieId", "score"]
    assert recs["score"].is_monotonic_decreasing
    np.testing.assert_array_equal(recs["score"], ranker.score([4], recs["movieId"])[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"user_id": 999}, ValueError, "user 999 is not in the model"),
        ({"user_id": "1"}, TypeError, "user_id must be an integer, got str '1'"),
        ({"n": 0}, ValueError, "n must be >= 1, got 0"),
        ({"n": 2.5}, TypeError, "n must be an integer, got float 2.5"),
        ({"min_ratings": -1, "counts": ()}, ValueError, "min_ratings must be >= 0, got -1"),
        ({"exclude": "Toy Story"}, TypeError, "exclude must be the training ratings"),
        ({"min_ratings": 5}, TypeError, "min_ratings needs counts="),
    ],
)
def test_top_n_bad_arguments(als, kwargs, error, message):
    args = {"user_id": 1, "n": 5, "exclude": ()} | kwargs
    with pytest.raises(error, match=re.escape(message)):
        top_n(als, args.pop("user_id"), args.pop("n"), **args)


def test_top_n_rejects_something_that_is_not_a_model():
    with pytest.raises(TypeError, match="model must be an MFModel"):
        top_n("ALS", 1, 5, exclude=())


# --------------------------------------------------------------------------------------------
# similar_movies
# --------------------------------------------------------------------------------------------


def test_similar_movies_hand_computed_cosines():
    s = 1 / np.sqrt(2)
    model = _tiny_model([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0], [-1.0, 0.0], [0.0, 0.0]])
    counts = pd.Series(50, index=model.item_ids)
    sims = similar_movies(model, 100, 10, counts=counts)
    assert sims["movieId"].tolist() == [101, 102, 104, 103]  # the zero vector is similar to nothing
    np.testing.assert_allclose(sims["similarity"], [s, 0.0, 0.0, -1.0], atol=1e-12)
    assert 100 not in set(sims["movieId"])


def test_similar_movies_excludes_the_movie_itself_and_respects_min_ratings(als, train, movies):
    counts = train["movieId"].value_counts()
    for movie in als.item_ids[: N_ITEMS - 1]:
        sims = similar_movies(als, int(movie), 100, counts=train, min_ratings=3)
        assert int(movie) not in set(sims["movieId"])
        assert (counts.reindex(sims["movieId"]).to_numpy() >= 3).all()
        assert len(sims) == N_ITEMS - 2  # everything but itself and the twice-rated movie
        assert sims["similarity"].is_monotonic_decreasing
    by_title = similar_movies(als, "toy story", 5, counts=train, movies=movies)
    by_id = similar_movies(als, 10, 5, counts=train, movies=movies)
    pd.testing.assert_frame_equal(by_title, by_id)


def test_similar_movies_guard_against_a_rarely_rated_movie(als, train):
    rare = FIRST_MOVIE + N_ITEMS - 1
    with pytest.raises(ValueError, match=r"has 2 rating\(s\), fewer than min_ratings=3.*prior"):
        similar_movies(als, rare, 5, counts=train, min_ratings=3)
    assert len(similar_movies(als, rare, 5, counts=train, min_ratings=0)) == 5


def test_similar_movies_needs_factors(train):
    model = MFModel(
        3.5,
        np.zeros(1),
        np.zeros(2),
        empty_factors(1),
        empty_factors(2),
        np.array([1]),
        np.array([10, 11]),
    )
    with pytest.raises(ValueError, match=r"no latent factors \(k=0\)"):
        similar_movies(model, 10, 5, counts=train)


def test_similar_movies_bad_arguments(als, train):
    with pytest.raises(ValueError, match="movie 5 is not in the model"):
        similar_movies(als, 5, 3, counts=train, min_ratings=0)
    with pytest.raises(TypeError, match="counts must be the training ratings"):
        similar_movies(als, 10, 3, counts=[1, 2, 3])
    with pytest.raises(TypeError, match="pass movies="):
        similar_movies(als, "Toy Story", 3, counts=train)
    with pytest.raises(TypeError, match=r"movie must be an integer, got float 10\.0"):
        similar_movies(als, 10.0, 3, counts=train)


# --------------------------------------------------------------------------------------------
# fold_in: the model's own rule
# --------------------------------------------------------------------------------------------


def _ridge(model: MFModel, items: np.ndarray, stars: np.ndarray, lam: float) -> np.ndarray:
    """[b_u, p_u] from the normal equations (X'X + lam I) x = X'(r - mu - b_i), X = [1, q_i]."""
    X = np.hstack([np.ones((len(items), 1)), model.item_factors[items]])
    y = stars - model.global_mean - model.item_bias[items]
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


def test_fold_in_of_an_sgd_model_solves_the_per_rating_penalty(train, movies):
    """Biased SGD penalises b_u and p_u once per rating, so with the items fixed a user's problem
    is ridge with lambda * n_u: the fold-in is that solution, not the one with lambda."""
    reg = 0.05
    sgd = _hand_model(train, RidgeFoldIn(reg, weighted=True, bias=True), name="biased SGD")
    sgd.params.update(reg=reg, biased=True)  # what fit_sgd records: no 'weighted' key
    for user in (1, 7, 40):
        ratings = _own_ratings(train, user)
        items = sgd.item_index(list(ratings))
        stars = np.array(list(ratings.values()))
        me = fold_in(sgd, ratings, movies=movies)
        x = np.r_[me.bias, me.factors]
        np.testing.assert_allclose(x, _ridge(sgd, items, stars, reg * len(items)), atol=1e-10)
        # the gradient of SGD's own objective for this user vanishes there
        q = sgd.item_factors[items]
        e = stars - sgd.global_mean - sgd.item_bias[items] - me.bias - q @ me.factors
        grad = -2 * np.r_[e.sum(), q.T @ e] + 2 * reg * len(items) * x
        np.testing.assert_allclose(grad, 0.0, atol=1e-9)
        # ... and it is not the plain-lambda solution the old fold-in silently gave
        assert np.abs(x - _ridge(sgd, items, stars, reg)).max() > 1e-2


def test_fold_in_of_an_sgd_model_without_biases_keeps_the_bias_at_zero(train, movies):
    reg = 0.05
    sgd = _hand_model(train, RidgeFoldIn(reg, weighted=True, bias=False), name="SGD")
    ratings = _own_ratings(train, 9)
    items = sgd.item_index(list(ratings))
    me = fold_in(sgd, ratings, movies=movies)
    assert me.bias == 0.0
    q = sgd.item_factors[items]
    y = np.array(list(ratings.values())) - sgd.global_mean - sgd.item_bias[items]
    lhs = (q.T @ q + reg * len(items) * np.eye(K)) @ me.factors
    np.testing.assert_allclose(lhs, q.T @ y, atol=1e-10)


def test_fold_in_reproduces_a_trained_als_user(als, train, movies):
    """Folding a training user back in with their own ratings is one more ALS user half-step:
    exactly that half-step's row, and close to the trained row (ALS has converged)."""
    reg, weighted = als.params["reg"], als.params["weighted"]
    assert als.fold_in == RidgeFoldIn(reg, weighted)
    matrix = build_matrix(train)
    bias, factors = als_half_step(
        matrix.by_user, als.item_factors, als.item_bias, als.global_mean, reg=reg, weighted=weighted
    )
    for user in (1, 7, 40):
        me = fold_in(als, _own_ratings(train, user), movies=movies)
        u = user - 1
        np.testing.assert_allclose(me.bias, bias[u], rtol=0, atol=1e-10)
        np.testing.assert_allclose(me.factors, factors[u], rtol=0, atol=1e-10)
        np.testing.assert_allclose(me.bias, als.user_bias[u], atol=5e-3)
        np.testing.assert_allclose(me.factors, als.user_factors[u], atol=5e-3)


def test_fold_in_follows_the_rule_not_the_params(train, movies):
    """params may say anything: the rule decides (here a deliberately heavier penalty)."""
    model = _hand_model(train, RidgeFoldIn(0.1, weighted=False), params={"reg": 0.1})
    heavier = dataclasses.replace(model, fold_in=RidgeFoldIn(0.3, weighted=True))
    ratings = {"Toy Story": 5, "the matrix": 4.5, "Hamlet (1948)": 1, 25: 3}
    items = model.item_index([10, 12, 16, 25])
    stars = np.array([5, 4.5, 1, 3])
    me = fold_in(heavier, ratings, movies=movies)
    np.testing.assert_allclose(np.r_[me.bias, me.factors], _ridge(model, items, stars, 0.3 * 4))
    plain = fold_in(model, ratings, movies=movies)
    np.testing.assert_allclose(np.r_[plain.bias, plain.factors], _ridge(model, items, stars, 0.1))


def test_fold_in_refuses_a_model_without_a_rule(train, movies):
    svd = _hand_model(train, None, name="SVD-impute", params={"reg": 0.1})
    with pytest.raises(ValueError, match=r"model 'SVD-impute' records no fold-in rule: "):
        fold_in(svd, {"Toy Story": 4}, movies=movies)
    odd = _hand_model(train, "ridge", name="odd")
    with pytest.raises(TypeError, match=r"model.fold_in must be a fold-in rule .* got str"):
        fold_in(odd, {"Toy Story": 4}, movies=movies)


def test_fold_in_a_model_without_factors_fits_the_user_bias(movies):
    """k = 0 (the damped biases): b_u = sum(r - mu - b_i) / (n + damping)."""
    item_bias = np.linspace(-0.5, 0.5, N_ITEMS)
    biases = MFModel(
        3.5,
        np.zeros(1),
        item_bias,
        empty_factors(1),
        empty_factors(N_ITEMS),
        np.array([1]),
        np.arange(FIRST_MOVIE, FIRST_MOVIE + N_ITEMS),
        fold_in=RidgeFoldIn(2.0, weighted=False),
    )
    me = fold_in(biases, {10: 5, 11: 4, 12: 1.5}, movies=movies)
    residual = np.array([5, 4, 1.5]) - 3.5 - item_bias[:3]
    assert me.bias == pytest.approx(residual.sum() / (3 + 2.0))
    assert me.factors.shape == (0,)
    assert len(top_n(me.model, me.user_id, 100, exclude=me.ratings)) == N_ITEMS - 3


def test_fold_in_returns_a_usable_new_user(als, train, movies):
    ratings = {"Toy Story": 5, "the matrix": 4.5, "Emma (2009)": 1}
    me = fold_in(als, ratings, movies=movies)
    assert isinstance(me, NewUser)
    assert me.user_id == N_USERS + 1
    assert me.model.n_users == als.n_users + 1 and als.n_users == N_USERS  # original untouched
    assert me.model.fold_in == als.fold_in
    assert me.ratings.columns.tolist() == ["userId", "movieId", "title", "rating"]
    assert me.ratings["movieId"].tolist() == [10, 12, 15]
    assert me.ratings["title"].tolist() == ["Toy Story (1995)", "Matrix, The (1999)", "Emma (2009)"]
    recs = top_n(me.model, me.user_id, 1000, exclude=me.ratings)
    assert len(recs) == N_ITEMS - 3 and not {10, 12, 15} & set(recs["movieId"])
    expected = als.global_mean + me.bias + als.item_bias + als.item_factors @ me.factors
    scored = pd.Series(expected, index=als.item_ids)
    np.testing.assert_allclose(recs["score"], scored.loc[recs["movieId"]].to_numpy())
    # a chosen id is inserted in order; ids must stay unique
    me0 = fold_in(als, ratings, movies=movies, user_id=np.int64(0))
    assert me0.model.user_ids[0] == 0 and me0.model.user_bias[0] == me.bias
    with pytest.raises(ValueError, match="user_id 3 is already in the model"):
        fold_in(als, ratings, movies=movies, user_id=3)
    with pytest.raises(TypeError, match=r"user_id must be an integer, got float 3\.5"):
        fold_in(als, ratings, movies=movies, user_id=3.5)


def test_fold_in_a_ranking_model(train, movies):
    ranker = _hand_model(train, RidgeFoldIn(1.0, weighted=False), predicts_stars=False)
    me = fold_in(ranker, {"Toy Story": 5, "the matrix": 4}, movies=movies)
    assert not me.model.predicts_stars
    assert list(top_n(me.model, me.user_id, 3, exclude=me.ratings).columns) == ["movieId", "score"]


@pytest.mark.parametrize(
    ("ratings", "error", "message"),
    [
        ({}, ValueError, "ratings is empty: rate at least one movie"),
        ({"Toy Story": 6}, ValueError, "'Toy Story': 6.0 is outside 0.5–5.0 stars"),
        ({"Hamlet": 4}, ValueError, "'Hamlet' is ambiguous: it matches 2 movies"),
        (
            {"Nobody Rated This": 4},
            ValueError,
            "'Nobody Rated This (2001)' has no ratings in the model's training data",
        ),
    ],
)
def test_fold_in_bad_input_raises_a_clear_error(als, movies, ratings, error, message):
    with pytest.raises(error, match=re.escape(message)):
        fold_in(als, ratings, movies=movies)


def test_results_with_arrays_compare_without_raising(als, train, movies):
    me = fold_in(als, {"Toy Story": 5}, movies=movies)
    twin = dataclasses.replace(me, factors=me.factors.copy(), ratings=me.ratings.copy())
    assert me == me and me != twin  # identity, not an elementwise comparison of arrays
    why = explain(als, 1, 12, train=train, movies=movies)
    assert why == why and why != explain(als, 1, 12, train=train, movies=movies)
    assert "array" not in repr(me) and "array" not in repr(why)


# --------------------------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------------------------


def test_explain_parts_sum_to_the_score(als, train, movies):
    for user, movie in [(1, 10), (2, 12), (17, 25), (40, 39), (5, 11), (6, 30), (33, 20)]:
        why = explain(als, user, movie, train=train, movies=movies)
        assert isinstance(why, Explanation)
        assert list(why.parts.index) == ["global mean", "user bias", "item bias", "factor term"]
        assert why.parts.sum() == why.prediction  # exactly, in the order score_rows adds them
        assert why.prediction == als.score([user], [movie])[0, 0]
        # predict's kernel (one dot per pair) may round the last bit differently from score_rows
        assert why.clipped == pytest.approx(als.predict([user], [movie])[0], rel=1e-14)
        u, i = user - 1, movie - FIRST_MOVIE
        assert why.parts["factor term"] == pytest.approx(als.user_factors[u] @ als.item_factors[i])
        assert why.parts["user bias"] == als.user_bias[u]
        assert why.parts["item bias"] == als.item_bias[i]


def test_explain_support_hand_computed():
    # item 100 is explained; the user rated 101..105
    factors = [[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 1.0], [3.0, 0.0]]
    model = _tiny_model(factors, user_factors=[[1.0, 0.0]])
    train = pd.DataFrame(
        {
            "userId": [1] * 6,
            "movieId": [105, 101, 102, 103, 104, 100],  # not in id order
            "rating": [1.0, 5.0, 2.0, 2.0, 4.0, 4.0],
        }
    )
    titles = pd.DataFrame(
        {"movieId": np.arange(100, 106), "title": [f"{c} (2000)" for c in "ABCDEF"]}
    )
    why = explain(model, 1, 100, train=train, movies=titles, n=3)
    assert why.title == "A (2000)"
    assert why.parts.to_dict() == {
        "global mean": 3.0,
        "user bias": 0.25,
        "item bias": 0.0,
        "factor term": 1.0,
    }
    assert why.prediction == 4.25
    # mean of the other ratings: 14 / 5 = 2.8; support = max(cosine, 0) × (rating − 2.8):
    # 101: 1 × 2.2, 104: (1/√2) × 1.2, 102: 0 (orthogonal), 103: 0 (opposite), 105: 1 × (−1.8).
    # The prediction is above 2.8, so only what pushes up is listed; 100 itself never is.
    assert why.support["movieId"].tolist() == [101, 104]
    np.testing.assert_allclose(why.support["similarity"], [1.0, 1 / np.sqrt(2)])
    np.testing.assert_allclose(why.support["support"], [2.2, 1.2 / np.sqrt(2)])
    assert why.support["title"].tolist() == ["B (2000)", "E (2000)"]
    assert why.support.columns.tolist() == ["movieId", "title", "rating", "similarity", "support"]
    assert "= predicted  4.250" in str(why)
    # the opposite taste: a low prediction is supported by the similar movie rated low
    flipped = _tiny_model(factors, user_factors=[[-1.0, 0.0]])
    low = explain(flipped, 1, 100, train=train, movies=titles)
    assert low.prediction == pytest.approx(2.25)
    assert low.support["movieId"].tolist() == [105]
    np.testing.assert_allclose(low.support["support"], [-1.8])
    # the guard leaves out rarely rated movies
    few = pd.Series([50, 50, 50, 50, 50, 3], index=model.item_ids)
    guarded = explain(model, 1, 100, train=train, movies=titles, counts=few, min_ratings=10)
    assert guarded.support["movieId"].tolist() == [101, 104]
    low_guarded = explain(flipped, 1, 100, train=train, movies=titles, counts=few, min_ratings=10)
    assert low_guarded.support.empty


def test_explain_support_ties_go_to_the_smaller_movie_id():
    factors = [[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]
    model = _tiny_model(factors, user_factors=[[1.0, 0.0]])
    train = pd.DataFrame({"userId": [1, 1, 1], "movieId": [103, 102, 101], "rating": [1, 5, 5.0]})
    titles = pd.DataFrame({"movieId": np.arange(100, 104), "title": list("ABCD")})
    why = explain(model, 1, 100, train=train, movies=titles, n=1)
    assert why.support["movieId"].tolist() == [101]  # 101 and 102 push equally


def test_explain_a_ranking_model(train, movies):
    """Scores of a ranker are not stars: no clipped prediction, the parts still sum exactly to the
    score, and the support follows the sign of the factor term."""
    ranker = _hand_model(train, None, name="ranker", predicts_stars=False)
    for user, movie in [(1, 10), (3, 12), (8, 20)]:
        why = explain(ranker, user, movie, train=train, movies=movies)
        assert why.clipped is None
        assert why.parts.sum() == why.prediction == ranker.score([user], [movie])[0, 0]
        assert "= score" in str(why) and "clipped" not in str(why)
        push = np.sign(why.support["support"].to_numpy())
        assert (push == np.sign(why.parts["factor term"])).all()


def test_explain_new_user_and_bad_arguments(als, train, movies):
    me = fold_in(als, {"Toy Story": 5, "the matrix": 4}, movies=movies)
    why = explain(me.model, me.user_id, "Hamlet (1996)", train=me.ratings, movies=movies)
    assert set(why.support["movieId"]) <= {10, 12}  # only their own ratings
    assert (np.sign(why.support["support"]) == np.sign(why.prediction - 4.5)).all()
    with pytest.raises(ValueError, match="user 999 is not in the model"):
        explain(als, 999, 10, train=train, movies=movies)
    with pytest.raises(TitleError, match="'Hamlet' is ambiguous"):
        explain(als, 1, "Hamlet", train=train, movies=movies)
    with pytest.raises(TypeError, match="train must be a DataFrame with columns"):
        explain(als, 1, 10, train=None, movies=movies)
    with pytest.raises(ValueError, match=r"train lacks column\(s\) \['rating'\]"):
        explain(als, 1, 10, train=train[["userId", "movieId"]], movies=movies)
    with pytest.raises(TypeError, match="min_ratings needs counts="):
        explain(als, 1, 10, train=train, movies=movies, min_ratings=5)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        explain(als, 1, 10, train=train, movies=movies, n=0)


# --------------------------------------------------------------------------------------------
# guarded: the min-ratings guard as a Scorer
# --------------------------------------------------------------------------------------------


def test_guarded_scores_hand_computed():
    # scores 3.25 + b_i + (f1 + f2): 100 -> 4.25, 101 -> 5.75, 102 -> 4.25, 103 -> 2.25
    model = _tiny_model([[1.0, 0.0], [1.0, 1.0], [0.5, 0.5], [-1.0, 0.0]], item_bias=[0, 0.5, 0, 0])
    counts = pd.Series([30, 2, 25, 40], index=[100, 101, 102, 103])
    guard = guarded(model, counts=counts, min_ratings=20)
    assert isinstance(guard, GuardedScorer)
    assert guard.name == "tiny, ≥ 20 ratings" and guard.item_ids is model.item_ids
    # 101 has 2 ratings: it drops to the lowest score minus 1, the others keep theirs
    np.testing.assert_array_equal(guard.score([1], model.item_ids), [[4.25, 1.25, 4.25, 2.25]])
    # an unknown movie has no ratings: guarded too; an unknown user keeps the unseen policy
    np.testing.assert_array_equal(guard.score([1], [103, 999]), [[2.25, 1.25]])
    np.testing.assert_array_equal(guard.score([7], [100, 101]), [[3.0, 2.0]])
    assert guard.score([1], []).shape == (1, 0)
    assert repr(guard) == "GuardedScorer(name='tiny, ≥ 20 ratings', min_ratings=20)"


def test_guarded_lists_are_the_top_n_lists_and_metrics_see_them(als, train):
    counts = train["movieId"].value_counts()
    guard = guarded(als, counts=train, min_ratings=15, name="guarded")
    scores = guard.score(als.user_ids, als.item_ids)
    assert np.isfinite(scores).all()
    for row, user in enumerate(als.user_ids[:10]):
        rated = np.isin(als.item_ids, train.loc[train["userId"] == user, "movieId"])
        mine = top_k(scores[row : row + 1], 5, ~rated[None, :])[0]
        expected = top_n(als, int(user), 5, exclude=train, counts=counts, min_ratings=15)
        assert als.item_ids[mine].tolist() == expected["movieId"].tolist()
    # blocked movies rank after every allowed one, in the model's own order
    blocked = counts.reindex(als.item_ids).fillna(0).to_numpy() < 15
    assert blocked.any() and (~blocked).any()
    assert (scores[:, blocked].max(axis=1) < scores[:, ~blocked].min(axis=1)).all()
    # no guard: the metrics are the model's own
    test = _ratings(seed=5).sample(frac=0.3, random_state=0)
    assert ranking_report(guarded(als, counts=train, min_ratings=0), train, test) == (
        ranking_report(als, train, test)
    )


def test_guarded_bad_arguments(als, train):
    with pytest.raises(TypeError, match="scorer must be a Scorer"):
        guarded("ALS", counts=train, min_ratings=3)
    with pytest.raises(ValueError, match="min_ratings must be >= 0, got -1"):
        guarded(als, counts=train, min_ratings=-1)
    with pytest.raises(TypeError, match="min_ratings must be an integer"):
        guarded(als, counts=train, min_ratings=2.5)
    with pytest.raises(TypeError, match="counts must be the training ratings"):
        guarded(als, counts=[1, 2], min_ratings=3)
    with pytest.raises(TypeError, match="name must be a string"):
        guarded(als, counts=train, min_ratings=3, name=3)


# --------------------------------------------------------------------------------------------
# implicit ALS: fold-in and explanations of a ranking (Hu, Koren & Volinsky 2008)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ranker(train) -> MFModel:
    return fit_implicit_als(
        train, k=K, reg=2.0, alpha=0.5, confidence="rating", iterations=8, solver="exact", seed=0
    )


def _user_half_step(model: MFModel, train: pd.DataFrame, rule: ImplicitFoldIn) -> np.ndarray:
    """One exact implicit-ALS user half-step over all training users, from the readable loop."""
    matrix = build_matrix(train)
    values = matrix.by_user.values
    w = confidence_weights(values, alpha=rule.alpha, confidence=rule.confidence, eps=rule.eps)
    return implicit_half_step_reference(
        matrix.by_user,
        model.item_factors,
        model.user_factors,
        w,
        preferences(values, rule.threshold),
        reg=rule.reg,
        solver="exact",
    )


def test_fold_in_an_implicit_als_model_is_its_user_half_step(ranker, train, movies):
    assert ranker.fold_in == ImplicitFoldIn(reg=2.0, alpha=0.5, confidence="rating")
    rows = _user_half_step(ranker, train, ranker.fold_in)
    for user in (1, 7, 40):
        me = fold_in(ranker, _own_ratings(train, user), movies=movies)
        assert me.bias == 0.0
        np.testing.assert_allclose(me.factors, rows[user - 1], rtol=0, atol=1e-12)
        recs = top_n(me.model, me.user_id, 5, exclude=me.ratings, movies=movies)
        assert list(recs.columns) == ["movieId", "title", "year", "genres", "score"]
        rated = set(me.ratings["movieId"])
        assert not rated & set(recs["movieId"])
        np.testing.assert_allclose(
            recs["score"], ranker.item_factors[ranker.item_index(recs["movieId"])] @ me.factors
        )


def _implicit_tiny(user_factors, rule: ImplicitFoldIn) -> MFModel:
    """Items 100, 101, 102 with factors e1, e2, e1 + e2; one user (id 1); no mean, no biases."""
    return MFModel(
        global_mean=0.0,
        user_bias=np.zeros(1),
        item_bias=np.zeros(3),
        user_factors=np.array([user_factors], dtype=float),
        item_factors=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
        user_ids=np.array([1]),
        item_ids=np.array([100, 101, 102]),
        name="tiny implicit",
        predicts_stars=False,
        fold_in=rule,
    )


TINY_TITLES = pd.DataFrame({"movieId": [100, 101, 102], "title": ["A (2000)", "B (2001)", "C"]})
TINY_TRAIN = pd.DataFrame({"userId": [1, 1], "movieId": [101, 100], "rating": [2.0, 4.0]})


def test_explain_ranking_hand_computed_binary():
    """User 1 rated 100 and 101. Y^T Y = [[2, 1], [1, 2]], c = 1 + 1 = 2 on both rated movies,
    so Y^T C_u Y + λI = [[4, 1], [1, 4]] with λ = 1 and W_u = [[4, -1], [-1, 4]] / 15.
    x_u = W_u Y^T C_u p_u = W_u [2, 2] = [0.4, 0.4]; the score of 102 (y = [1, 1]) is 0.8.
    s_{102,100} = [1, 1] W_u e1 = 3/15 = 0.2 = s_{102,101}: each movie contributes 0.2 × 2 × 1."""
    model = _implicit_tiny([0.4, 0.4], ImplicitFoldIn(reg=1.0, alpha=1.0))
    why = explain_ranking(model, 1, 102, train=TINY_TRAIN, movies=TINY_TITLES)
    assert isinstance(why, RankingExplanation)
    assert why.title == "C" and why.n_rated == 2
    assert why.score == pytest.approx(0.8, abs=1e-15)
    assert why.explained == pytest.approx(0.8, abs=1e-15)
    assert why.gap == pytest.approx(0.0, abs=1e-15) and why.rest == 0.0
    table = why.contributions
    assert table.columns.tolist() == [
        "movieId",
        "title",
        "rating",
        "confidence",
        "preference",
        "similarity",
        "contribution",
    ]
    assert table["movieId"].tolist() == [100, 101]  # equal contributions: the smaller id first
    np.testing.assert_allclose(table["similarity"], [0.2, 0.2], rtol=1e-14)
    np.testing.assert_allclose(table["confidence"], [2.0, 2.0])
    np.testing.assert_allclose(table["contribution"], [0.4, 0.4], rtol=1e-14)


def test_explain_ranking_hand_computed_rating_confidence_and_threshold():
    """confidence="rating", alpha = 0.5: c = 1 + 0.5 r = 3 (4 stars, movie 100) and 2 (2 stars,
    101). Y^T C_u Y + I = [[5, 1], [1, 4]], W_u = [[4, -1], [-1, 5]] / 19, x_u = W_u [3, 2] =
    [10, 7] / 19 and the score of 102 is 17/19 = 3/19 × 3 (movie 100) + 4/19 × 2 (movie 101)."""
    rule = ImplicitFoldIn(reg=1.0, alpha=0.5, confidence="rating")
    model = _implicit_tiny([10 / 19, 7 / 19], rule)
    why = explain_ranking(model, 1, "C", train=TINY_TRAIN, movies=TINY_TITLES, n=1)
    assert why.score == pytest.approx(17 / 19, rel=1e-14)
    assert why.explained == pytest.approx(17 / 19, rel=1e-14)
    assert why.contributions["movieId"].tolist() == [100]  # n = 1: the larger term
    np.testing.assert_allclose(why.contributions["similarity"], [3 / 19], rtol=1e-14)
    np.testing.assert_allclose(why.contributions["confidence"], [3.0])
    np.testing.assert_allclose(why.contributions["contribution"], [9 / 19], rtol=1e-14)
    assert why.rest == pytest.approx(8 / 19, rel=1e-14)  # movie 101
    assert "the other 1 rated movies" in str(why) and "A (2000)" in str(why)
    # threshold 3: the 2-star rating is a confident "no" (p = 0, c unchanged): it contributes 0,
    # x_u = W_u [3, 0] = [12, -3] / 19 and the score of 102 is 9/19
    strict = _implicit_tiny([12 / 19, -3 / 19], dataclasses.replace(rule, threshold=3.0))
    why = explain_ranking(strict, 1, 102, train=TINY_TRAIN, movies=TINY_TITLES)
    assert why.contributions["movieId"].tolist() == [100, 101]
    np.testing.assert_allclose(why.contributions["preference"], [1.0, 0.0])
    np.testing.assert_allclose(why.contributions["contribution"], [9 / 19, 0.0], atol=1e-15)
    assert why.score == pytest.approx(9 / 19, rel=1e-14) and why.gap == pytest.approx(0, abs=1e-15)
    # the same user factors under the other rule are not that rule's half-step: the gap shows it
    off = explain_ranking(
        _implicit_tiny([12 / 19, -3 / 19], rule), 1, 102, train=TINY_TRAIN, movies=TINY_TITLES
    )
    assert off.gap == pytest.approx(9 / 19 - 17 / 19, rel=1e-14)


def test_explain_ranking_sums_to_the_score_of_a_folded_in_user(ranker, train, movies):
    ratings = {"Toy Story": 5, "the matrix": 1.5, "Hamlet (1996)": 4, 25: 3, 30: 4.5}
    me = fold_in(ranker, ratings, movies=movies)
    for movie in (11, 17, 20, 28, 39):
        why = explain_ranking(me.model, me.user_id, movie, train=me.ratings, movies=movies, n=99)
        score = me.model.score([me.user_id], [movie])[0, 0]
        assert why.score == score
        assert why.n_rated == len(why.contributions) == 5 and why.rest == 0.0
        assert why.contributions["contribution"].sum() == pytest.approx(score, rel=1e-12)
        assert abs(why.gap) < 1e-13 * max(1.0, abs(score))
        assert why.contributions["contribution"].is_monotonic_decreasing
        top = explain_ranking(me.model, me.user_id, movie, train=me.ratings, movies=movies, n=2)
        assert top.contributions["movieId"].tolist() == why.contributions["movieId"][:2].tolist()
        assert top.contributions["contribution"].sum() + top.rest == pytest.approx(score, rel=1e-12)


def test_explain_ranking_follows_the_models_rule(ranker, train, movies):
    """W_u comes from model.fold_in (reg, alpha, confidence), not from params: with a changed
    rule the terms add up to the score of the user folded in under that rule."""
    ratings = _own_ratings(train, 4)
    for rule in (
        dataclasses.replace(ranker.fold_in, reg=9.0),
        dataclasses.replace(ranker.fold_in, alpha=3.0, confidence="binary"),
        dataclasses.replace(ranker.fold_in, confidence="log", eps=2.0, threshold=3.5),
    ):
        other = dataclasses.replace(ranker, fold_in=rule)
        me = fold_in(other, ratings, movies=movies)
        why = explain_ranking(me.model, me.user_id, 22, train=me.ratings, movies=movies, n=99)
        assert why.explained == pytest.approx(me.model.score([me.user_id], [22])[0, 0], rel=1e-11)
        own = explain_ranking(ranker, 4, 22, train=train, movies=movies)
        assert abs(why.explained - own.explained) > 1e-6


def test_explain_ranking_of_a_trained_user_explains_one_more_half_step(ranker, train, movies):
    rows = _user_half_step(ranker, train, ranker.fold_in)
    for user, movie in [(1, 10), (9, 25), (40, 33)]:
        why = explain_ranking(ranker, user, movie, train=train, movies=movies, n=3)
        y = ranker.item_factors[ranker.item_index([movie])[0]]
        assert why.explained == pytest.approx(rows[user - 1] @ y, rel=1e-11)
        assert why.score == ranker.score([user], [movie])[0, 0]
        assert why.gap == pytest.approx(why.score - rows[user - 1] @ y, abs=1e-12)
        assert why.contributions["contribution"].sum() + why.rest == pytest.approx(why.explained)
        assert why.n_rated == int((train["userId"] == user).sum())


def test_explain_ranking_refuses_models_without_an_implicit_rule(als, ranker, train, movies):
    with pytest.raises(
        ValueError,
        match=r"model 'ALS(-WR)?' has no implicit-ALS fold-in rule \(it records "
        r"RidgeFoldIn\).* use explain\(\)",
    ):
        explain_ranking(als, 1, 10, train=train, movies=movies)
    bare = dataclasses.replace(ranker, fold_in=None)
    with pytest.raises(ValueError, match=r"it records none \(model.fold_in is None\)"):
        explain_ranking(bare, 1, 10, train=train, movies=movies)
    with pytest.raises(TypeError, match="model must be an MFModel"):
        explain_ranking("implicit ALS", 1, 10, train=train, movies=movies)
    with pytest.raises(ValueError, match="user 999 is not in the model"):
        explain_ranking(ranker, 999, 10, train=train, movies=movies)
    with pytest.raises(ValueError, match="user 3 has no ratings in train of movies the model"):
        explain_ranking(ranker, 3, 10, train=train.loc[train["userId"] != 3], movies=movies)
    with pytest.raises(TitleError, match="'Hamlet' is ambiguous"):
        explain_ranking(ranker, 1, "Hamlet", train=train, movies=movies)
    with pytest.raises(ValueError, match="movie 99 is not in the model"):
        explain_ranking(ranker, 1, 99, train=train, movies=movies)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        explain_ranking(ranker, 1, 10, train=train, movies=movies, n=0)
    with pytest.raises(TypeError, match="train must be a DataFrame with columns"):
        explain_ranking(ranker, 1, 10, train=None, movies=movies)


def test_ranking_explanations_compare_by_identity_and_print_short(ranker, train, movies):
    why = explain_ranking(ranker, 2, 12, train=train, movies=movies)
    again = explain_ranking(ranker, 2, 12, train=train, movies=movies)
    assert why == why and why != again  # eq=False: no elementwise comparison of tables
    assert repr(why).startswith("RankingExplanation(user_id=2, movie_id=12, title='Matrix, The")
    assert "array" not in repr(why) and " at 0x" not in repr(why)
    text = str(why)
    assert text.splitlines()[0] == f"user 2, Matrix, The (1999): score {why.score:.4f}"
    assert f"= sum over the {why.n_rated} rated movies" in text and "gap" in text
