"""The JAX models: autodiff = the hand-derived gradients of helpers.sgd, the JAX epoch = the
NumPy epoch, exact negative sampling, determinism, shapes, learning on small structured data,
content features, and error paths."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from conftest import random_ratings
from helpers.matrix import as_matrix
from helpers.metrics import rmse
from helpers.model import MFModel, Scorer
from helpers.neural import fit_jax_mf, mf_loss, mf_sgd_epoch
from helpers.neural_nets import NeuralScorer, _unrated_items, positives_index
from helpers.neural_ranking import fit_gmf, fit_mlp, fit_neumf
from helpers.neural_rating import (
    dot_product_ratings,
    fit_embedding_nn,
    fit_hybrid,
    movie_features,
)
from helpers.sgd import regularized_loss, sgd_epoch, sgd_gradients
from helpers.splits import random_split

MF = ("P", "Q", "user_bias", "item_bias")
SMALL_NET = {"hidden": (8, 4), "epochs": 2, "batch_size": 64, "seed": 1}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return random_ratings(3, n_users=24, n_items=18, density=0.4, raw_ids=True, low_rank=True)


@pytest.fixture(scope="module")
def movies(frame) -> pd.DataFrame:
    """The movies of ``frame`` plus one that no one rated (id 0), with genres and years."""
    ids = np.append(0, np.unique(frame["movieId"]))
    genres = ["Comedy|Drama", "Drama", "(no genres listed)", "Action|Comedy"]
    return pd.DataFrame(
        {
            "movieId": ids,
            "title": [
                f"Movie {n} ({1950 + 3 * n})" if n % 5 else f"Movie {n}" for n in range(len(ids))
            ],
            "genres": [genres[n % 4] for n in range(len(ids))],
        }
    )


def random_parameters(matrix, k=4, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(0, 0.3, (matrix.n_users, k)),
        rng.normal(0, 0.3, (matrix.n_items, k)),
        rng.normal(0, 0.2, matrix.n_users),
        rng.normal(0, 0.2, matrix.n_items),
    )


# ----------------------------------------------------------------------------- autodiff = by hand


def test_jax_loss_and_gradient_equal_the_hand_derived_ones(frame):
    m = as_matrix(frame)
    u, i, r = m.users.astype(np.int64), m.items.astype(np.int64), m.values
    P, Q, bu, bi = random_parameters(m)
    mu, reg = float(r.mean()), 0.07
    dP, dQ, dbu, dbi = sgd_gradients(u, i, r, P, Q, bu, bi, mu=mu, reg=reg)
    want = {name: np.zeros_like(a) for name, a in zip(MF, (P, Q, bu, bi), strict=True)}
    for name, rows, direction in zip(MF, (u, i, u, i), (dP, dQ, dbu, dbi), strict=True):
        np.add.at(want[name], rows, -direction)  # minus the descent directions, summed per row
    with jax.enable_x64(True):
        params = {"P": jnp.asarray(P), "Q": jnp.asarray(Q)}
        params.update(user_bias=jnp.asarray(bu), item_bias=jnp.asarray(bi))
        loss = mf_loss(params, u, i, r, mu=mu, reg=reg)
        grads = jax.grad(mf_loss)(params, u, i, r, mu=mu, reg=reg)
        assert loss.dtype == jnp.float64
    assert float(loss) == pytest.approx(
        regularized_loss(u, i, r, P, Q, bu, bi, mu=mu, reg=reg), rel=1e-12
    )
    for name, g in grads.items():
        assert np.max(np.abs(np.asarray(g) - want[name])) < 1e-10, name


def test_jax_gradient_matches_finite_differences(frame):
    m = as_matrix(frame)
    u, i, r = m.users, m.items, m.values
    P, Q, bu, bi = random_parameters(m, seed=1)
    with jax.enable_x64(True):
        params = {"P": jnp.asarray(P), "Q": jnp.asarray(Q)}
        params.update(user_bias=jnp.asarray(bu), item_bias=jnp.asarray(bi))
        g = jax.grad(mf_loss)(params, u, i, r, mu=3.0, reg=0.1)
        step = 1e-6
        for row, col in [(0, 0), (5, 3), (m.n_items - 1, 2)]:
            up = {**params, "Q": params["Q"].at[row, col].add(step)}
            down = {**params, "Q": params["Q"].at[row, col].add(-step)}
            numeric = (
                mf_loss(up, u, i, r, mu=3.0, reg=0.1) - mf_loss(down, u, i, r, mu=3.0, reg=0.1)
            ) / (2 * step)
            assert float(g["Q"][row, col]) == pytest.approx(float(numeric), abs=1e-7)


def test_jax_epoch_makes_the_updates_of_the_numpy_epoch(frame):
    m = as_matrix(frame)
    u, i, r = m.users.astype(np.int64), m.items.astype(np.int64), m.values
    P, Q, bu, bi = random_parameters(m, seed=2)
    order = np.random.default_rng(0).permutation(m.nnz)
    mu = float(r.mean())
    with jax.enable_x64(True):
        params = {"P": jnp.asarray(P), "Q": jnp.asarray(Q)}
        params.update(user_bias=jnp.asarray(bu), item_bias=jnp.asarray(bi))
        new = mf_sgd_epoch(params, u, i, r, order, mu, 0.05, 0.02, batch_size=7)
    sgd_epoch(u, i, r, P, Q, bu, bi, mu=mu, lr=0.05, reg=0.02, order=order, batch_size=7)
    for name, want in {"P": P, "Q": Q, "user_bias": bu, "item_bias": bi}.items():
        assert np.max(np.abs(np.asarray(new[name]) - want)) < 1e-10, name
    assert np.max(np.abs(P - random_parameters(m, seed=2)[0])) > 1e-3  # it did move


def test_fit_jax_mf_is_seeded_and_a_series_model(frame):
    kw = {"k": 3, "epochs": 3, "batch_size": 16}
    a, b = fit_jax_mf(frame, seed=4, valid=frame, **kw), fit_jax_mf(frame, seed=4, **kw)
    c = fit_jax_mf(frame, seed=5, **kw)
    assert isinstance(a, MFModel) and a.predicts_stars and a.k == 3
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    assert not np.array_equal(a.user_factors, c.user_factors)
    assert a.user_factors.dtype == np.float64
    assert list(a.history) == ["iteration", "objective", "train_rmse", "valid_rmse"]
    assert a.history["iteration"] == [1, 2, 3]
    assert np.all(np.diff(a.history["objective"]) < 0)  # small steps: the loss goes down
    assert a.global_mean == pytest.approx(frame["rating"].mean())
    assert a.fold_in is not None


# ----------------------------------------------------------------------------- negatives


def test_negatives_are_exactly_uniform_over_the_unrated_movies():
    users = np.array([0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2])  # user 2 rated every movie
    items = np.array([5, 0, 2, 6, 0, 1, 2, 3, 4, 5, 6])
    index = positives_index(users, items, 3)
    draws = jnp.asarray(np.repeat([0, 1, 2], 20_000), jnp.int32)
    got, weight = _unrated_items(jax.random.key(0), draws, index["indptr"], index["shifted"], 7)
    got, weight = np.asarray(got), np.asarray(weight)
    assert set(got[:20_000]) == {1, 3, 4, 6}
    assert set(got[20_000:40_000]) == {0, 1, 2, 3, 4, 5}
    np.testing.assert_array_equal(weight, np.repeat([1.0, 1.0, 0.0], 20_000))
    shares = np.bincount(got[:20_000], minlength=7)[[1, 3, 4, 6]] / 20_000
    np.testing.assert_allclose(shares, 0.25, atol=0.015)


# ----------------------------------------------------------------------------- ranking nets


def block_data():
    """Two taste groups of 12 users, each rating 8 of the 10 movies of its own block; the 2
    left-out block movies of every user are the test positives."""
    rng = np.random.default_rng(0)
    rows, test_rows = [], []
    for user in range(24):
        block = np.arange(10) + (10 if user >= 12 else 0)
        chosen = rng.permutation(block)
        rows += [(user, int(movie), 4.0) for movie in chosen[:8]]
        test_rows += [(user, int(movie), 4.0) for movie in chosen[8:]]
    columns = ["userId", "movieId", "rating"]
    return pd.DataFrame(rows, columns=columns), pd.DataFrame(test_rows, columns=columns)


def test_gmf_learns_to_rank_held_out_positives_above_negatives():
    train, test = block_data()
    model = fit_gmf(train, k=3, epochs=30, lr=0.02, batch_size=64, seed=0)
    assert isinstance(model, MFModel) and not model.predicts_stars
    scores = model.score(np.arange(24), np.arange(20))
    wins = []
    for user, movie in test[["userId", "movieId"]].to_numpy():
        other_block = np.arange(10) + (0 if user >= 12 else 10)
        wins.append(np.mean(scores[user, movie] > scores[user, other_block]))
    assert np.mean(wins) > 0.95
    with pytest.raises(TypeError, match="fitted to rank"):
        model.predict([0], [0])


@pytest.mark.parametrize(
    ("fit", "kwargs"),
    [
        (fit_gmf, {"k": 3}),
        (fit_mlp, {"k": 3, **SMALL_NET}),
        (fit_neumf, {"k_gmf": 2, "k_mlp": 3, **SMALL_NET}),
    ],
    ids=["GMF", "MLP", "NeuMF"],
)
def test_ranking_nets_are_deterministic_scorers(fit, kwargs):
    train, valid = block_data()
    first = fit(train, valid=valid, **kwargs)
    second = fit(train, **kwargs)
    users = np.append(np.unique(train["userId"]), 999_999)
    items = np.append(np.unique(train["movieId"]), 999_999)
    a, b = first.score(users, items), second.score(users, items)
    assert isinstance(first, Scorer) and a.shape == (len(users), len(items))
    assert a.dtype == np.float64 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert set(first.history) == {"iteration", "objective", "valid_ndcg"}
    assert len(first.history["valid_ndcg"]) == first.params["epochs"]
    other = fit(train, **{**kwargs, "seed": 7})
    assert not np.array_equal(other.score(users, items), a)
    assert "0x" not in repr(first)


def test_a_ranking_net_scores_unseen_ids_and_refuses_to_predict_stars():
    train, _ = block_data()
    model = fit_mlp(train, k=3, **SMALL_NET)
    assert isinstance(model, NeuralScorer)
    users, items = np.array([0, 13, 99]), np.array([1, 2, 15])
    scores = model.score(users, items)  # user 99 is unseen: zero embedding, finite scores
    assert scores.shape == (3, 3) and np.all(np.isfinite(scores))
    np.testing.assert_array_equal(scores[:2], model.score(users[:2], items))
    with pytest.raises(TypeError, match="fitted to rank"):
        model.predict([1], [1])


# ----------------------------------------------------------------------------- rating nets


def test_embedding_net_beats_the_global_mean_on_low_rank_data():
    ratings = random_ratings(1, n_users=80, n_items=60, density=0.5, low_rank=True)
    train, test, _ = random_split(ratings, 0.2, seed=0)
    model = fit_embedding_nn(
        train, k=8, hidden=(32,), epochs=30, lr=0.01, weight_decay=0.01, batch_size=128
    )
    mean_rmse = rmse(test["rating"], np.full(len(test), train["rating"].mean()))
    net_rmse = rmse(test["rating"], model.predict(test["userId"], test["movieId"]))
    assert net_rmse < 0.8 * mean_rmse
    assert model.history["train_rmse"][-1] < model.history["train_rmse"][0]
    pred = model.predict(test["userId"], test["movieId"])
    assert pred.min() >= 0.5 and pred.max() <= 5.0
    with pytest.raises(ValueError, match="same shape"):
        model.predict([1, 2], [1])


def test_hybrid_reads_the_content_of_movies_it_never_saw(frame, movies):
    kwargs = {"k": 3, **SMALL_NET, "epochs": 5}
    model = fit_hybrid(frame, movies=movies, **kwargs)
    again = fit_hybrid(frame, movies=movie_features(movies), **kwargs)
    users = np.unique(frame["userId"])
    never_rated = np.zeros(len(users), dtype=np.int64)  # movie 0 is in movies, not in frame
    np.testing.assert_array_equal(
        model.predict(users, never_rated), again.predict(users, never_rated)
    )
    # a movie outside the training set is scored from its features: changing them moves it
    changed = movies.assign(genres=np.where(movies["movieId"] == 0, "Action", movies["genres"]))
    other = fit_hybrid(frame, movies=changed, **kwargs)
    assert not np.allclose(other.score(users, [0]), model.score(users, [0]))
    assert model.history["iteration"] == [1, 2, 3, 4, 5]


def test_movie_features_by_hand():
    movies = pd.DataFrame(
        {
            "movieId": [30, 10, 20],
            "title": ["C (2000)", "A (1990)", "B"],
            "genres": ["Drama|Action", "Drama", "(no genres listed)"],
        }
    )
    f = movie_features(movies)
    np.testing.assert_array_equal(f.item_ids, [10, 20, 30])
    assert f.names == ("Action", "Drama", "year (standardised)", "no year")
    np.testing.assert_array_equal(
        f.values, np.array([[0, 1, -1, 0], [0, 0, 0, 1], [1, 1, 1, 0]], dtype=np.float32)
    )
    np.testing.assert_array_equal(f.of([20, 99]), [[0, 0, 0, 1], [0, 0, 0, 0]])


def test_dot_product_ratings_have_unit_variance_signal():
    data = dot_product_ratings(300, 200, dim=16, per_user=50, noise=0.0, seed=0)
    assert len(data) == 300 * 50 and not data.duplicated(["userId", "movieId"]).any()
    assert data["rating"].var() == pytest.approx(1.0, rel=0.1)
    pd.testing.assert_frame_equal(
        data, dot_product_ratings(300, 200, dim=16, per_user=50, noise=0.0, seed=0)
    )


# ----------------------------------------------------------------------------- errors, quiet


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 2.5}, TypeError, "k must be an integer"),
        ({"epochs": 0}, ValueError, "epochs must be >= 1"),
        ({"lr": -1.0}, ValueError, "lr must be > 0"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay must be >= 0"),
        ({"hidden": ()}, TypeError, "hidden must be a non-empty tuple"),
        ({"hidden": (4, 0)}, ValueError, "each width in hidden must be >= 1"),
        ({"y_range": (5.0, 1.0)}, ValueError, r"y_range\[1\] must be > 5"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
    ],
)
def test_rating_net_refuses_bad_arguments(frame, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit_embedding_nn(frame, **kwargs)


def test_fits_refuse_bad_data(frame):
    with pytest.raises(TypeError, match="train must be a DataFrame"):
        fit_gmf(frame.to_numpy())
    with pytest.raises(ValueError, match="train is empty"):
        fit_jax_mf(frame.iloc[:0])
    with pytest.raises(ValueError, match=r"valid lacks column\(s\) \['rating'\]"):
        fit_neumf(frame, valid=frame.drop(columns="rating"))
    with pytest.raises(TypeError, match="movies must be a DataFrame"):
        fit_hybrid(frame, movies=[1, 2])
    with pytest.raises(ValueError, match="n_negatives must be >= 1"):
        fit_gmf(frame, n_negatives=0)


def test_importing_and_running_jax_prints_nothing_to_stderr():
    code = "import helpers.neural as n, jax.numpy as j; print(float(j.ones(3).sum()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "3.0" and done.stderr == ""
