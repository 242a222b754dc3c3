"""Truncated SVD (Eckart–Young), imputation and iterative imputation."""

import numpy as np
import pandas as pd
import pytest

from helpers.matrix import build_matrix, from_dense
from helpers.svd import (
    fit_soft_impute,
    fit_svd_impute,
    imputed_residuals,
    singular_values,
    truncated_svd,
)


def low_rank(n=12, m=30, rank=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, rank)) @ rng.normal(size=(rank, m))


def ratings(seed=0, n_users=20, n_items=15, density=0.5):
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    p, q = rng.normal(0, 1, (n_users, 2)), rng.normal(0, 1, (n_items, 2))
    stars = np.clip(3.5 + np.sum(p[u] * q[i], axis=1), 0.5, 5)
    return pd.DataFrame({"userId": u + 1, "movieId": i + 1, "rating": stars})


@pytest.mark.parametrize("method", ["gram", "lapack"])
@pytest.mark.parametrize("transpose", [False, True])
def test_truncated_svd_reproduces_a_low_rank_matrix(method, transpose):
    a = low_rank()
    a = a.T if transpose else a
    u, s, vt = truncated_svd(a, 3, method=method)
    assert u.shape == (a.shape[0], 3) and s.shape == (3,) and vt.shape == (3, a.shape[1])
    np.testing.assert_allclose(u @ np.diag(s) @ vt, a, atol=1e-10)
    np.testing.assert_allclose(u.T @ u, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(vt @ vt.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False)[:3], rtol=1e-10)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_truncation_error_is_eckart_young(k):
    a = np.random.default_rng(3).normal(size=(9, 14))
    full = np.linalg.svd(a, compute_uv=False)
    u, s, vt = truncated_svd(a, k)
    approx = u @ np.diag(s) @ vt
    # best rank-k error = the discarded singular values
    assert np.linalg.norm(a - approx) == pytest.approx(np.sqrt(np.sum(full[k:] ** 2)), rel=1e-9)
    assert np.linalg.norm(a - approx, 2) == pytest.approx(full[k], rel=1e-9)
    # and it matches numpy's own truncation
    nu, ns, nvt = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(approx, nu[:, :k] @ np.diag(ns[:k]) @ nvt[:k], atol=1e-10)


def test_singular_values_match_numpy():
    a = np.random.default_rng(4).normal(size=(8, 20))
    np.testing.assert_allclose(singular_values(a), np.linalg.svd(a, compute_uv=False), rtol=1e-9)
    np.testing.assert_allclose(singular_values(a.T), np.linalg.svd(a, compute_uv=False), rtol=1e-9)


def test_svd_impute_of_a_fully_observed_low_rank_matrix_is_exact():
    # fully observed, rank 2 plus a constant: with undamped biases the centred matrix is the
    # doubly centred rank-2 part, so k = 2 reproduces every cell, and k = 1 does not
    dense = 3.0 + 0.3 * low_rank(n=10, m=12, rank=2, seed=5)
    rows, cols = np.nonzero(np.ones_like(dense, dtype=bool))
    model = fit_svd_impute(from_dense(dense), k=2, damping=0.0)
    assert model.user_factors.shape == (10, 2) and model.item_factors.shape == (12, 2)
    np.testing.assert_allclose(model.predict_index(rows, cols, clip=False), dense.ravel())
    rank1 = fit_svd_impute(from_dense(dense), k=1, damping=0.0)
    assert np.abs(rank1.predict_index(rows, cols, clip=False) - dense.ravel()).max() > 0.01


def test_svd_impute_factors_are_u_root_s_and_v_root_s():
    train = ratings(seed=6)
    model = fit_svd_impute(train, k=3)
    dense, mu, bu, bi = imputed_residuals(train)
    np.testing.assert_array_equal(model.item_bias, bi)
    u, s, vt = np.linalg.svd(dense, full_matrices=False)
    np.testing.assert_allclose(
        model.user_factors @ model.item_factors.T, u[:, :3] @ np.diag(s[:3]) @ vt[:3], atol=1e-10
    )
    np.testing.assert_allclose(
        np.linalg.norm(model.user_factors, axis=0), np.sqrt(s[:3]), rtol=1e-10
    )
    assert model.global_mean == mu
    np.testing.assert_array_equal(model.user_bias, bu)


def test_imputation_choices():
    train = ratings(seed=7, density=0.4)
    matrix = build_matrix(train)
    known = np.zeros(matrix.shape, dtype=bool)
    known[matrix.users, matrix.items] = True
    _, mu, bu, bi = imputed_residuals(matrix)
    base = mu + bu[:, None] + bi[None, :]
    for impute, expected_unknown in [("baseline", 0.0), ("mean", mu), ("zero", 0.0)]:
        dense, *_ = imputed_residuals(matrix, impute=impute)
        stars = dense + base
        np.testing.assert_allclose(stars[known], matrix.to_dense()[known])
        if impute == "baseline":
            np.testing.assert_allclose(dense[~known], 0.0, atol=1e-12)
        else:
            np.testing.assert_allclose(stars[~known], expected_unknown, atol=1e-12)


def test_missing_as_zero_drags_predictions_down():
    train = ratings(seed=8, density=0.3)
    zero = fit_svd_impute(train, k=2, impute="zero")
    base = fit_svd_impute(train, k=2, impute="baseline")
    matrix = build_matrix(train)
    unknown = np.argwhere(np.isnan(matrix.to_dense()))
    assert zero.predict_index(*unknown.T).mean() < base.predict_index(*unknown.T).mean() - 1.0


def test_iterative_impute_keeps_observed_cells_and_history():
    train = ratings(seed=9, density=0.5)
    valid = ratings(seed=10).head(20)
    model = fit_soft_impute(train, k=2, iterations=6, valid=valid)
    hist = model.history
    assert hist["iteration"] == [1, 2, 3, 4, 5, 6]
    assert set(hist) == {"iteration", "train_rmse", "change", "valid_rmse"}
    # hard-impute fits the known cells better and better, and settles
    assert hist["train_rmse"][-1] < hist["train_rmse"][0]
    assert hist["change"][-1] < hist["change"][0]
    assert model.name == "hard-impute"
    soft = fit_soft_impute(train, k=2, iterations=2, shrink=1.0)
    assert soft.name == "soft-impute"
    one = fit_soft_impute(train, k=2, iterations=1)
    np.testing.assert_allclose(
        one.user_factors @ one.item_factors.T,
        fit_svd_impute(train, k=2).user_factors @ fit_svd_impute(train, k=2).item_factors.T,
        atol=1e-10,
    )


def test_deterministic():
    train = ratings(seed=11)
    a, b = fit_soft_impute(train, k=2, iterations=3), fit_soft_impute(train, k=2, iterations=3)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    assert a.history == b.history


@pytest.mark.parametrize(
    ("k", "error", "match"),
    [
        (0, ValueError, "k must be >= 1, got 0"),
        (-2, ValueError, "k must be >= 1"),
        (13, ValueError, r"k=13 is larger than the matrix allows: a 12 x 30 matrix"),
        (2.0, TypeError, "k must be an integer"),
    ],
)
def test_bad_k(k, error, match):
    with pytest.raises(error, match=match):
        truncated_svd(low_rank(), k)


def test_bad_inputs():
    train = ratings(seed=12, n_users=5, n_items=4)
    with pytest.raises(ValueError, match="k=5 is larger than the matrix allows: a 5 x 4"):
        fit_svd_impute(train, k=5)
    with pytest.raises(ValueError, match="k must be >= 1"):
        fit_soft_impute(train, k=0)
    with pytest.raises(ValueError, match="impute must be one of"):
        fit_svd_impute(train, k=2, impute="median")
    with pytest.raises(ValueError, match="NaN or infinite"):
        truncated_svd(np.array([[1.0, np.nan], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match=r"method must be one of \['gram', 'lapack'\]"):
        truncated_svd(low_rank(), 2, method="power")
    with pytest.raises(ValueError, match="shrink must be >= 0, got -1"):
        fit_soft_impute(train, k=2, shrink=-1.0)
    with pytest.raises(ValueError, match="damping must be >= 0"):
        fit_svd_impute(train, k=2, damping=-1.0)
