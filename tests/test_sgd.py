"""Tests of helpers.sgd: the 2010 toy loop, the loss gradient, reference vs fast epoch, fit_sgd."""

import numpy as np
import pandas as pd
import pytest

from helpers.model import MFModel
from helpers.sgd import (
    fit_sgd,
    quuxlabs_matrix_factorization,
    regularized_loss,
    sgd_epoch,
    sgd_epoch_reference,
    sgd_gradients,
)

R_TOY = np.array([[5, 3, 0, 1], [4, 0, 0, 1], [1, 1, 0, 5], [1, 0, 0, 4], [0, 1, 5, 4]])
NOTEBOOK_SEED = 0  # the seed of notebooks/03_sgd_matrix_factorization.ipynb


def toy_start(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((5, 2)), rng.random((4, 2))


def known_cell_rmse(P: np.ndarray, Q: np.ndarray) -> float:
    known = R_TOY > 0
    return float(np.sqrt(np.mean((R_TOY - P @ Q.T)[known] ** 2)))


def original_2010_loop(R, P, Q, K, steps, alpha=0.0002, beta=0.02):
    """The tutorial's code transcribed line by line (NumPy arrays, in place)."""
    Q = Q.T
    for _step in range(steps):
        for i in range(len(R)):
            for j in range(len(R[i])):
                if R[i][j] > 0:
                    eij = R[i][j] - np.dot(P[i, :], Q[:, j])
                    for k in range(K):
                        P[i][k] = P[i][k] + alpha * (2 * eij * Q[k][j] - beta * P[i][k])
                        Q[k][j] = Q[k][j] + alpha * (2 * eij * P[i][k] - beta * Q[k][j])
    return P, Q.T


# ---------------------------------------------------------------------------- the 2010 loop


def test_toy_example_with_notebook_seed_reconstructs_known_cells():
    P0, Q0 = toy_start(NOTEBOOK_SEED)
    P, Q, errors = quuxlabs_matrix_factorization(R_TOY, P0, Q0, 2, return_errors=True)
    assert P.shape == (5, 2) and Q.shape == (4, 2)
    assert known_cell_rmse(P, Q) < 0.1
    # the stopping test includes beta/2 * norms, so it never drops below 0.001: all steps run
    assert len(errors) == 5000
    assert min(errors) > 0.001


def test_every_seed_converges_with_a_larger_learning_rate():
    for seed in range(10):
        P0, Q0 = toy_start(seed)
        P, Q = quuxlabs_matrix_factorization(R_TOY, P0, Q0, 2, steps=300, alpha=0.01)
        assert known_cell_rmse(P, Q) < 0.1, f"seed {seed}"


def test_matches_the_original_code_and_leaves_inputs_alone():
    P0, Q0 = toy_start(3)
    P, Q = quuxlabs_matrix_factorization(R_TOY, P0, Q0, 2, steps=30)
    assert np.array_equal(P0, toy_start(3)[0]) and np.array_equal(Q0, toy_start(3)[1])
    P_ref, Q_ref = original_2010_loop(R_TOY, P0.copy(), Q0.copy(), 2, steps=30)
    np.testing.assert_allclose(P, P_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Q, Q_ref, rtol=0, atol=1e-12)


def test_q_update_uses_the_already_updated_p():
    a, b = 0.1, 0.02
    P, Q = quuxlabs_matrix_factorization([[5.0]], [[1.0]], [[1.0]], 1, steps=1, alpha=a, beta=b)
    p_new = 1 + a * (2 * 4 * 1 - b * 1)  # e = 5 - 1*1 = 4
    assert P[0, 0] == pytest.approx(p_new)
    assert Q[0, 0] == pytest.approx(1 + a * (2 * 4 * p_new - b * 1))  # not ... * 1 (the old p)
    assert Q[0, 0] != pytest.approx(1 + a * (2 * 4 * 1 - b * 1))


def test_stops_early_once_the_error_is_below_threshold():
    _, _, errors = quuxlabs_matrix_factorization(
        [[1.0]], [[1.0]], [[1.0]], 1, beta=0.0, return_errors=True
    )
    assert len(errors) == 1 and errors[0] < 0.001


def test_quuxlabs_errors():
    with pytest.raises(ValueError, match="K must be a positive"):
        quuxlabs_matrix_factorization(R_TOY, np.ones((5, 0)), np.ones((4, 0)), 0)
    with pytest.raises(ValueError, match=r"P must have shape \(5, 2\)"):
        quuxlabs_matrix_factorization(R_TOY, np.ones((4, 2)), np.ones((4, 2)), 2)
    with pytest.raises(ValueError, match="2-D"):
        quuxlabs_matrix_factorization([1, 2], np.ones((1, 2)), np.ones((1, 2)), 2)


# ---------------------------------------------------------------------------- loss and gradient


def small_problem(seed=1, n=4, m=5, k=3, nnz=14):
    rng = np.random.default_rng(seed)
    cells = rng.choice(n * m, size=nnz, replace=False)
    users, items = cells // m, cells % m
    ratings = rng.integers(1, 11, size=nnz) / 2.0
    P = rng.normal(0, 0.5, (n, k))
    Q = rng.normal(0, 0.5, (m, k))
    bu = rng.normal(0, 0.3, n)
    bi = rng.normal(0, 0.3, m)
    return users, items, ratings, P, Q, bu, bi


def full_gradient(users, items, ratings, P, Q, bu, bi, mu, reg):
    """Sum the kernel's per-rating descent directions into arrays shaped like the parameters."""
    dP, dQ, dbu, dbi = sgd_gradients(users, items, ratings, P, Q, bu, bi, mu=mu, reg=reg)
    gP, gQ = np.zeros_like(P), np.zeros_like(Q)
    np.add.at(gP, users, -dP)
    np.add.at(gQ, items, -dQ)
    if bu is None:
        return [gP, gQ]
    gbu, gbi = np.zeros_like(bu), np.zeros_like(bi)
    np.add.at(gbu, users, -dbu)
    np.add.at(gbi, items, -dbi)
    return [gP, gQ, gbu, gbi]


@pytest.mark.parametrize("biased", [False, True])
def test_gradient_matches_finite_differences(biased):
    users, items, ratings, P, Q, bu, bi = small_problem()
    if not biased:
        bu = bi = None
    mu, reg, h = (3.4 if biased else 0.0), 0.3, 1e-6
    params = [P, Q] + ([bu, bi] if biased else [])
    analytic = full_gradient(users, items, ratings, P, Q, bu, bi, mu, reg)
    for param, grad in zip(params, analytic, strict=True):
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            old = param[idx]
            param[idx] = old + h
            up = regularized_loss(users, items, ratings, P, Q, bu, bi, mu=mu, reg=reg)
            param[idx] = old - h
            down = regularized_loss(users, items, ratings, P, Q, bu, bi, mu=mu, reg=reg)
            param[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


def test_loss_by_hand():
    # one rating 4 stars, mu=3, b_u=0.5, b_i=-0.25, p.q = 1*2 = 2 -> r_hat = 5.25, e = -1.25
    loss = regularized_loss(
        np.array([0]),
        np.array([0]),
        np.array([4.0]),
        np.array([[1.0]]),
        np.array([[2.0]]),
        np.array([0.5]),
        np.array([-0.25]),
        mu=3.0,
        reg=0.1,
    )
    assert loss == pytest.approx(0.5 * (1.25**2 + 0.1 * (0.25 + 0.0625 + 1 + 4)))


# ---------------------------------------------------------------------------- reference vs fast


@pytest.mark.parametrize("biased", [False, True])
def test_one_epoch_reference_equals_fast_kernel_with_batch_size_one(biased):
    rng = np.random.default_rng(7)
    n, m, k, nnz = 12, 15, 4, 90
    cells = rng.choice(n * m, size=nnz, replace=False)
    users, items = cells // m, cells % m
    ratings = rng.integers(1, 11, size=nnz) / 2.0
    P0, Q0 = rng.normal(0, 0.1, (n, k)), rng.normal(0, 0.1, (m, k))
    b0 = (np.zeros(n), np.zeros(m)) if biased else (None, None)
    order = rng.permutation(nnz)
    kw = dict(mu=3.5 if biased else 0.0, lr=0.05, reg=0.02, order=order)
    runs = []
    for epoch in (sgd_epoch_reference, sgd_epoch):
        P, Q = P0.copy(), Q0.copy()
        b = tuple(None if x is None else x.copy() for x in b0)
        extra = {} if epoch is sgd_epoch_reference else {"batch_size": 1}
        epoch(users, items, ratings, P, Q, *b, **kw, **extra)
        runs.append([P, Q, *[x for x in b if x is not None]])
    assert not np.allclose(runs[0][0], P0)  # the epoch did move the factors
    for ref, fast in zip(*runs, strict=True):
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-10)


def test_one_batch_of_everything_is_one_full_gradient_step():
    users, items, ratings, P, Q, bu, bi = small_problem(seed=4)
    grads = full_gradient(users, items, ratings, P, Q, bu, bi, 3.0, 0.1)
    expected = [x - 0.01 * g for x, g in zip((P, Q, bu, bi), grads, strict=True)]
    sgd_epoch(
        users, items, ratings, P, Q, bu, bi, mu=3.0, lr=0.01, reg=0.1, batch_size=len(ratings)
    )
    for got, want in zip((P, Q, bu, bi), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_fast_kernel_refuses_non_contiguous_factors():
    users, items, ratings, P, Q, _, _ = small_problem()
    with pytest.raises(ValueError, match="P must be a C-contiguous float64"):
        sgd_epoch(users, items, ratings, np.asfortranarray(P), Q, lr=0.1, reg=0.0)


# ---------------------------------------------------------------------------- fit_sgd


def low_rank_ratings(seed=0, n=60, m=80, k=3, frac=0.4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = 3.5 + rng.normal(0, 0.6, (n, k)) @ rng.normal(0, 0.6, (m, k)).T
    mask = rng.random((n, m)) < frac
    u, i = np.nonzero(mask)
    r = np.clip(truth[u, i] + rng.normal(0, 0.1, len(u)), 0.5, 5.0)
    return pd.DataFrame({"userId": u + 1, "movieId": i + 100, "rating": r})


def test_loss_decreases_every_epoch_on_seeded_data():
    df = low_rank_ratings()
    rng = np.random.default_rng(0)
    users, items = df.userId.to_numpy() - 1, df.movieId.to_numpy() - 100
    ratings = df.rating.to_numpy()
    P, Q = rng.normal(0, 0.1, (60, 3)), rng.normal(0, 0.1, (80, 3))
    bu, bi = np.zeros(60), np.zeros(80)
    mu = ratings.mean()
    losses = [regularized_loss(users, items, ratings, P, Q, bu, bi, mu=mu, reg=0.05)]
    for _ in range(15):
        order = rng.permutation(len(ratings))
        kw = dict(mu=mu, lr=0.02, reg=0.05, order=order, batch_size=32)
        sgd_epoch(users, items, ratings, P, Q, bu, bi, **kw)
        losses.append(regularized_loss(users, items, ratings, P, Q, bu, bi, mu=mu, reg=0.05))
    assert np.all(np.diff(losses) < 0)
    assert losses[-1] < 0.5 * losses[0]


def test_fit_sgd_learns_low_rank_data_and_records_history():
    df = low_rank_ratings()
    valid = low_rank_ratings(seed=0, frac=0.4).sample(200, random_state=1)
    model = fit_sgd(df, k=3, lr=0.02, reg=0.01, epochs=40, batch_size=16, valid=valid)
    assert isinstance(model, MFModel) and model.k == 3 and model.name == "biased SGD"
    h = model.history
    assert h["iteration"] == list(range(1, 41))
    assert len(h["train_rmse"]) == len(h["valid_rmse"]) == 40
    assert h["train_rmse"][-1] < 0.2 < h["train_rmse"][0]
    assert model.global_mean == pytest.approx(df.rating.mean())
    assert model.params["lr"] == 0.02 and model.params["batch_size"] == 16


def test_biases_only_and_unbiased_models():
    df = low_rank_ratings()
    only = fit_sgd(df, k=0, epochs=3)
    assert only.k == 0 and np.any(only.user_bias != 0)
    plain = fit_sgd(df, k=2, epochs=3, biased=False)
    assert plain.name == "SGD" and np.all(plain.user_bias == 0) and np.all(plain.item_bias == 0)


def test_same_seed_same_factors_other_seed_other_factors():
    df = low_rank_ratings()
    a = fit_sgd(df, k=4, epochs=3, seed=5)
    b = fit_sgd(df, k=4, epochs=3, seed=5)
    c = fit_sgd(df, k=4, epochs=3, seed=6)
    assert np.array_equal(a.user_factors, b.user_factors)
    assert np.array_equal(a.item_factors, b.item_factors)
    assert np.array_equal(a.item_bias, b.item_bias)
    assert a.history == b.history
    assert not np.allclose(a.user_factors, c.user_factors)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"k": 0, "biased": False}, ValueError, "k must be >= 1"),
        ({"k": -1}, ValueError, "k must be >= 0"),
        ({"k": 2.5}, TypeError, "k must be an integer"),
        ({"lr": 0.0}, ValueError, "lr must be > 0"),
        ({"lr": -0.1}, ValueError, "lr must be > 0"),
        ({"reg": -0.01}, ValueError, r"reg must be >= 0"),
        ({"epochs": 0}, ValueError, "epochs must be >= 1"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"init_std": -1.0}, ValueError, "init_std must be >= 0"),
        ({"valid": pd.DataFrame({"userId": [1]})}, ValueError, "valid lacks column"),
        ({"valid": [1, 2]}, TypeError, "valid must be a DataFrame"),
    ],
)
def test_fit_sgd_rejects_bad_hyperparameters(kwargs, error, message):
    with pytest.raises(error, match=message):
        fit_sgd(low_rank_ratings(n=5, m=5, frac=0.8), **kwargs)


def test_fit_sgd_rejects_empty_or_wrong_training_data():
    empty = pd.DataFrame({"userId": [], "movieId": [], "rating": []})
    with pytest.raises(ValueError, match="train is empty"):
        fit_sgd(empty)
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        fit_sgd(np.ones((3, 3)))


def test_divergence_is_reported_clearly():
    with pytest.raises(FloatingPointError, match=r"SGD diverged in epoch 1 .* lower lr"):
        fit_sgd(low_rank_ratings(), k=5, lr=1.5, epochs=5, batch_size=1)


def test_batches_where_heavy_users_would_overshoot_are_refused():
    df = low_rank_ratings()  # the busiest user has about 45 of the 1,900 ratings
    with pytest.raises(
        ValueError, match=r"batch_size=4096 with lr=0.05 is unstable.*batch_size <="
    ):
        fit_sgd(df, k=2, lr=0.05, epochs=1, batch_size=4096)  # one batch: ~45 steps summed
    fit_sgd(df, k=2, lr=0.05, epochs=1, batch_size=256)  # ~6 per batch: accepted


def test_history_rmse_equals_rmse_of_the_returned_model_including_unseen_pairs():
    df = low_rank_ratings()
    valid = pd.DataFrame(
        {"userId": [1, 999, 2, 999], "movieId": [100, 101, 5000, 5001], "rating": [4, 1, 5, 0.5]}
    )
    model = fit_sgd(df, k=3, lr=0.05, epochs=4, valid=valid)
    want_valid = np.sqrt(np.mean((valid.rating - model.predict(valid.userId, valid.movieId)) ** 2))
    want_train = np.sqrt(np.mean((df.rating - model.predict(df.userId, df.movieId)) ** 2))
    assert model.history["valid_rmse"][-1] == pytest.approx(want_valid, rel=1e-12)
    assert model.history["train_rmse"][-1] == pytest.approx(want_train, rel=1e-12)


def test_fit_sgd_records_its_fold_in_rule():
    # SGD's penalty is per rating: for one user with the movies fixed it sums to reg · n_u
    from helpers.foldin import RidgeFoldIn

    train = pd.DataFrame({"userId": [1, 1, 2], "movieId": [1, 2, 1], "rating": [4.0, 3.0, 5.0]})
    assert fit_sgd(train, k=2, epochs=1, reg=0.07).fold_in == RidgeFoldIn(0.07, weighted=True)
    plain = fit_sgd(train, k=2, epochs=1, reg=0.07, biased=False).fold_in
    assert plain == RidgeFoldIn(0.07, weighted=True, bias=False)
