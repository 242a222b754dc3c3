"""BPR: the gradient against finite differences, the sampler's negatives, mini-batch = summed
SGD steps, determinism and error paths."""

import numpy as np
import pandas as pd
import pytest

from conftest import random_ratings
from helpers.bpr import bpr_gradients, bpr_loss, bpr_step, bpr_triples, fit_bpr
from helpers.matrix import build_matrix
from helpers.splits import random_split


def params(seed=0, n=6, m=8, k=3):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.8, (n, k)), rng.normal(0, 0.8, (m, k)), rng.normal(0, 0.5, m)


# repeated users and items on purpose: their gradients must add up
USERS = np.array([0, 1, 1, 4, 5, 0, 2])
POS = np.array([2, 3, 3, 0, 7, 2, 6])
NEG = np.array([5, 0, 6, 1, 2, 4, 5])


def test_loss_by_hand():
    # one triple, k = 1: x = b_i - b_j + p (q_i - q_j) = 0.5 - 0 + 2 (1 - 0.25) = 2
    p, q, b = np.array([[2.0]]), np.array([[1.0], [0.25]]), np.array([0.5, 0.0])
    want = np.log1p(np.exp(-2.0)) + 0.5 * 0.1 * (4 + 1 + 0.0625 + 0.25 + 0)
    got = bpr_loss(p, q, b, np.array([0]), np.array([0]), np.array([1]), reg=0.1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_gradient_matches_finite_differences(reg):
    p, q, b = params()
    grad_p, grad_q, grad_b, loss = bpr_gradients(p, q, b, USERS, POS, NEG, reg=reg)
    assert loss == pytest.approx(bpr_loss(p, q, b, USERS, POS, NEG, reg=reg), rel=1e-12)
    h = 1e-6
    for array, grad in ((p, grad_p), (q, grad_q), (b, grad_b)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + h
            up = bpr_loss(p, q, b, USERS, POS, NEG, reg=reg)
            array[index] = saved - h
            down = bpr_loss(p, q, b, USERS, POS, NEG, reg=reg)
            array[index] = saved
            numeric[index] = (up - down) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    assert np.all(grad_p[3] == 0)  # user 3 is in no triple


def test_a_step_is_minus_lr_times_the_gradient():
    p, q, b = params(1)
    grad_p, grad_q, grad_b, loss = bpr_gradients(p, q, b, USERS, POS, NEG, reg=0.2)
    p2, q2, b2 = p.copy(), q.copy(), b.copy()
    got = bpr_step(p2, q2, b2, USERS, POS, NEG, lr=0.05, reg=0.2)
    assert got == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(p2, p - 0.05 * grad_p, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(q2, q - 0.05 * grad_q, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b2, b - 0.05 * grad_b, rtol=1e-12, atol=1e-15)
    # a small step lowers the batch objective
    assert bpr_loss(p2, q2, b2, USERS, POS, NEG, reg=0.2) < loss


def test_triples_cover_every_rating_once_with_unrated_negatives():
    train = random_ratings(1, n_users=12, n_items=9, density=0.5)
    matrix = build_matrix(train)
    u, i, j = bpr_triples(np.random.default_rng(0), matrix)
    rated = set(zip(matrix.users.tolist(), matrix.items.tolist(), strict=True))
    assert sorted(zip(u.tolist(), i.tolist(), strict=True)) == sorted(rated)
    assert not any((a, c) in rated for a, c in zip(u.tolist(), j.tolist(), strict=True))
    assert np.all((j >= 0) & (j < matrix.n_items))


def test_users_who_rated_everything_have_no_negatives():
    # user 1 rated all three movies, user 2 only one
    train = pd.DataFrame(
        {"userId": [1, 1, 1, 2], "movieId": [10, 20, 30, 20], "rating": [4.0, 3, 5, 2]}
    )
    matrix = build_matrix(train)
    u, i, j = bpr_triples(np.random.default_rng(0), matrix)
    assert u.tolist() == [1] and i.tolist() == [1] and j[0] in (0, 2)


def small_train():
    return random_ratings(2, n_users=20, n_items=15, density=0.35, raw_ids=True, low_rank=True)


def test_fit_learns_to_rank_training_pairs():
    train = small_train()
    model = fit_bpr(train, k=4, lr=0.05, reg=0.01, epochs=30, batch_size=16, seed=3)
    objective = model.history["objective"]
    assert model.history["iteration"] == list(range(1, 31))
    assert objective[-1] < 0.5 * objective[0]
    matrix = build_matrix(train)
    u, i, j = bpr_triples(np.random.default_rng(9), matrix)
    scores = model.score_rows(np.arange(matrix.n_users))
    assert np.mean(scores[u, i] > scores[u, j]) > 0.8  # rated above unrated


def test_the_model_ranks_and_refuses_to_predict_stars():
    train = small_train()
    model = fit_bpr(train, k=3, epochs=2)
    assert model.predicts_stars is False and model.fold_in is None
    assert model.global_mean == 0.0 and np.all(model.user_bias == 0)
    assert np.any(model.item_bias != 0) and model.name == "BPR"
    with pytest.raises(TypeError, match="fitted to rank"):
        model.predict(train.userId[:2], train.movieId[:2])


def test_seed_determinism():
    train = small_train()
    a = fit_bpr(train, k=3, epochs=3, batch_size=7, seed=4)
    b = fit_bpr(train, k=3, epochs=3, batch_size=7, seed=4)
    c = fit_bpr(train, k=3, epochs=3, batch_size=7, seed=5)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    np.testing.assert_array_equal(a.item_bias, b.item_bias)
    assert not np.array_equal(a.item_factors, c.item_factors)


def test_valid_gives_an_ndcg_curve():
    full = random_ratings(4, n_users=30, n_items=20, density=0.4, raw_ids=True, low_rank=True)
    train, valid, _ = random_split(full, 0.25, seed=0)
    model = fit_bpr(train, k=3, epochs=3, valid=valid)
    assert set(model.history) == {"iteration", "objective", "valid_ndcg"}
    assert len(model.history["valid_ndcg"]) == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 0}, ValueError, "k must be >= 1"),
        ({"lr": 0.0}, ValueError, "lr must be > 0"),
        ({"reg": -0.1}, ValueError, "reg must be >= 0"),
        ({"epochs": 1.5}, TypeError, "epochs must be an integer"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"valid": [1, 2]}, TypeError, "valid must be a DataFrame"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        fit_bpr(small_train(), **{"epochs": 1, **kwargs})


def test_a_rating_matrix_gives_the_same_validation_curve_as_its_table():
    # the ranking monitor turns a RatingMatrix into its table once, only when there is a valid
    fit_part, valid, _ = random_split(random_ratings(4, 30, 40, 0.3), 0.2, seed=0)
    kwargs = dict(k=3, epochs=3, batch_size=16, seed=2, valid=valid)
    from_table = fit_bpr(fit_part, **kwargs).history
    from_matrix = fit_bpr(build_matrix(fit_part), **kwargs).history
    assert from_matrix == from_table and len(from_table["valid_ndcg"]) == 3
