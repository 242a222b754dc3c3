"""NMF of the observed ratings: monotone objectives, non-negativity, sparse = dense, recovery of a
non-negative low-rank matrix, masked cells ignored, fold-in, determinism and error paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import random_ratings
from helpers.baselines import fit_biases
from helpers.matrix import as_matrix, from_dense
from helpers.nmf import (
    NMFFoldIn,
    fit_nmf,
    hals_half_step,
    init_factors,
    mu_half_step,
    nmf_dense_reference,
    nmf_objective_dense,
    nnls_ridge,
    penalty_weights,
)

SOLVERS = ("mu", "hals")


def toy_target(seed: int = 0, n: int = 9, m: int = 7, density: float = 0.6):
    """A non-negative dense target with a mask; row 2 and column 3 have no observed cells."""
    rng = np.random.default_rng(seed)
    R = rng.uniform(0.5, 5.0, (n, m))
    mask = rng.random((n, m)) < density
    mask[2, :] = False
    mask[:, 3] = False
    mask[0, 0] = mask[1, 1] = True
    return R, mask


def masked_matrix(R: np.ndarray, mask: np.ndarray):
    return from_dense(np.where(mask, R, np.nan))


# ------------------------------------------------------------------ monotone objectives


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(("reg", "weighted"), [(0.0, False), (0.3, False), (0.1, True)])
def test_dense_reference_objective_never_increases(solver, reg, weighted):
    R, mask = toy_target(1)
    P, Q, obj = nmf_dense_reference(
        R, mask, 3, iterations=60, reg=reg, weighted=weighted, solver=solver, seed=3
    )
    obj = np.array(obj)
    assert np.all(np.diff(obj) <= 1e-12 * obj[0]), np.diff(obj).max()
    assert obj[-1] < 0.95 * obj[0]  # and it does go down
    lam_u = penalty_weights(mask.sum(1), reg, weighted)
    lam_i = penalty_weights(mask.sum(0), reg, weighted)
    assert nmf_objective_dense(R, mask, P, Q, lam_u, lam_i) == pytest.approx(obj[-1])


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("biases", ["fixed", "none"])
def test_fit_objective_never_increases_and_factors_stay_non_negative(solver, biases):
    train = random_ratings(4, 40, 30, 0.3, raw_ids=True, low_rank=True)
    model = fit_nmf(train, k=4, iterations=25, reg=0.05, solver=solver, biases=biases, seed=1)
    obj = np.array(model.history["objective"])
    assert len(obj) == 25
    assert np.all(np.diff(obj) <= 1e-12 * obj[0]), np.diff(obj).max()
    assert model.user_factors.min() >= 0 and model.item_factors.min() >= 0
    assert model.user_factors.max() > 0 and model.item_factors.max() > 0
    assert model.user_factors.flags.c_contiguous and model.item_factors.flags.c_contiguous


def test_dense_factors_stay_non_negative():
    R, mask = toy_target(2)
    for solver in SOLVERS:
        P, Q, _ = nmf_dense_reference(R, mask, 4, iterations=40, solver=solver, seed=0)
        assert P.min() >= 0 and Q.min() >= 0
        # rows and columns without observed cells get zero factors
        assert not P[2].any() and not Q[3].any()


# ------------------------------------------------------------------ sparse kernel = dense reference


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(("reg", "weighted"), [(0.0, False), (0.2, False), (0.05, True)])
def test_sparse_fit_equals_dense_reference(solver, reg, weighted):
    R, mask = toy_target(3)
    dense_P, dense_Q, dense_obj = nmf_dense_reference(
        R, mask, 3, iterations=15, reg=reg, weighted=weighted, solver=solver, seed=5
    )
    model = fit_nmf(
        masked_matrix(R, mask),
        k=3,
        iterations=15,
        reg=reg,
        weighted=weighted,
        solver=solver,
        biases="none",
        seed=5,
    )
    np.testing.assert_allclose(model.user_factors, dense_P, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.item_factors, dense_Q, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.history["objective"], dense_obj, rtol=1e-10)


def test_mu_half_step_equals_dense_formula_for_any_chunk_size():
    R, mask = toy_target(4)
    W = mask.astype(float)
    matrix = masked_matrix(R, mask)
    P, Q = init_factors(*R.shape, 3, 3.0, seed=2)
    lam = penalty_weights(W.sum(1), 0.1, True)
    expected = P * (W * R @ Q + 1e-12) / ((W * (P @ Q.T)) @ Q + lam[:, None] * P + 1e-12)
    expected[2] = 0.0  # the row without ratings
    csr = matrix.by_user
    for chunk in (1, 4, 7, 10_000):
        fitted = np.empty(csr.nnz)
        new = mu_half_step(
            csr, P.T.copy(), Q.T.copy(), csr.values, lam, chunk_entries=chunk, fitted=fitted
        )
        np.testing.assert_allclose(new.T, expected, rtol=1e-12)
        rows = csr.row_of_entry()
        np.testing.assert_allclose(fitted, np.sum(new.T[rows] * Q[csr.indices], axis=1))


def test_hals_half_step_is_exact_per_column_and_keeps_residuals():
    R, mask = toy_target(5)
    matrix = masked_matrix(R, mask)
    csr = matrix.by_item  # update the movies this time
    P, Q = init_factors(*R.shape, 3, 3.0, seed=4)
    lam = penalty_weights(csr.counts(), 0.2, False)
    rows = csr.row_of_entry()
    resid = csr.values - np.sum(Q[rows] * P[csr.indices], axis=1)
    new = hals_half_step(csr, Q.T.copy(), P.T.copy(), resid, lam).T
    # the residuals now belong to the new factors
    np.testing.assert_allclose(resid, csr.values - np.sum(new[rows] * P[csr.indices], axis=1))
    # the last column is the exact non-negative minimiser with the others fixed: KKT conditions
    W = mask.T.astype(float)
    E = W * (R.T - new @ P.T)
    grad = -2 * E @ P[:, 2] + 2 * lam * new[:, 2]
    positive = new[:, 2] > 0
    np.testing.assert_allclose(grad[positive], 0.0, atol=1e-9)
    assert np.all(grad[~positive] >= -1e-9)


# ------------------------------------------------------------------ what NMF recovers and ignores


@pytest.mark.parametrize(("solver", "iterations", "tol"), [("hals", 300, 1e-4), ("mu", 2000, 1e-2)])
def test_recovers_a_fully_observed_non_negative_rank_2_matrix(solver, iterations, tol):
    rng = np.random.default_rng(7)
    truth = rng.uniform(0.2, 1.5, (12, 2)) @ rng.uniform(0.2, 1.5, (2, 10))
    u, i = np.nonzero(np.ones_like(truth))
    frame = pd.DataFrame({"userId": u, "movieId": i, "rating": truth[u, i]})
    model = fit_nmf(frame, k=2, iterations=iterations, reg=0.0, solver=solver, biases="none")
    fitted = model.user_factors @ model.item_factors.T
    assert np.linalg.norm(fitted - truth) / np.linalg.norm(truth) < tol


@pytest.mark.parametrize("solver", SOLVERS)
def test_unobserved_cells_do_not_influence_the_fit(solver):
    R, mask = toy_target(6)
    changed = np.where(mask, R, 1e6)  # wild values in every unobserved cell
    a = nmf_dense_reference(R, mask, 3, iterations=10, reg=0.1, solver=solver, seed=1)
    b = nmf_dense_reference(changed, mask, 3, iterations=10, reg=0.1, solver=solver, seed=1)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    # a different observed value does change it (the comparison above can fail)
    other = R.copy()
    other[0, 0] += 1.0
    c = nmf_dense_reference(other, mask, 3, iterations=10, reg=0.1, solver=solver, seed=1)
    assert not np.allclose(a[0], c[0])


def test_fixed_biases_model_predicts_baseline_plus_parts():
    train = random_ratings(8, 30, 25, 0.4, raw_ids=True, low_rank=True)
    shift = 0.7
    model = fit_nmf(train, k=3, iterations=10, shift=shift, damping=2.0, biases="fixed")
    base = fit_biases(train, damping=2.0, iterations=5)
    assert model.global_mean == base.global_mean
    np.testing.assert_allclose(model.user_bias, base.user_bias)
    np.testing.assert_allclose(model.item_bias, base.item_bias - shift)
    # history's train RMSE is the model's own train RMSE
    pred = model.predict(train["userId"], train["movieId"])
    rmse = np.sqrt(np.mean((train["rating"].to_numpy() - pred) ** 2))
    assert model.history["train_rmse"][-1] == pytest.approx(rmse, rel=1e-12)
    # the parts can lower a prediction at most `shift` stars below the baseline
    base_pred = base.predict(train["userId"], train["movieId"], clip=False)
    assert np.all(
        model.predict(train["userId"], train["movieId"], clip=False) >= base_pred - shift - 1e-12
    )
    # unseen policy: an unseen movie falls back to mu + b_u, an unseen user to mu + b_i - shift
    user, movie = train["userId"].iloc[0], train["movieId"].iloc[0]
    u, i = model.user_index([user])[0], model.item_index([movie])[0]
    got = model.predict([user, -5], [-7, movie], clip=False)
    np.testing.assert_allclose(
        got, [base.global_mean + base.user_bias[u], base.global_mean + base.item_bias[i] - shift]
    )


def test_no_biases_model_is_the_plain_product():
    train = random_ratings(9, 20, 15, 0.5)
    model = fit_nmf(train, k=2, iterations=5, biases="none")
    assert model.global_mean == 0.0 and not model.user_bias.any() and not model.item_bias.any()
    matrix = as_matrix(train)
    product = model.user_factors @ model.item_factors.T
    np.testing.assert_allclose(
        model.predict_index(matrix.users, matrix.items, clip=False),
        product[matrix.users, matrix.items],
    )
    assert model.name == "NMF (HALS), no biases"


# ------------------------------------------------------------------ fold-in


def test_nnls_ridge_meets_the_kkt_conditions():
    rng = np.random.default_rng(10)
    Q = rng.uniform(0, 1, (15, 5))
    t = rng.normal(1.0, 1.0, 15)  # some targets below what any non-negative mix reaches
    for lam in (0.0, 0.5):
        p = nnls_ridge(Q, t, lam)
        grad = 2 * (Q.T @ (Q @ p - t) + lam * p)
        assert p.min() >= 0 and (p == 0).any() and (p > 0).any()
        np.testing.assert_allclose(grad[p > 0], 0.0, atol=1e-8)
        assert np.all(grad[p == 0] >= -1e-8)


def test_fold_in_of_a_training_user_solves_its_problem_at_least_as_well_as_the_fit():
    train = random_ratings(11, 30, 25, 0.4, low_rank=True)
    model = fit_nmf(train, k=3, iterations=20, reg=0.1, weighted=True)
    rule = model.fold_in
    assert isinstance(rule, NMFFoldIn) and "non-negative" in rule.describe()
    matrix = as_matrix(train)
    u = 4
    items, stars = matrix.by_user.row(u)
    bias, factors = rule.solve(model, items, stars)
    assert bias == pytest.approx(model.user_bias[u], rel=1e-12)  # fit_biases ends on the users
    assert factors.shape == (3,) and factors.min() >= 0
    targets = np.maximum(stars - model.global_mean - bias - model.item_bias[items], 0.0)
    lam = 0.1 * len(items)
    Q = model.item_factors[items]

    def user_objective(p):
        return np.sum((targets - Q @ p) ** 2) + lam * p @ p

    assert user_objective(factors) <= user_objective(model.user_factors[u]) + 1e-12


def test_fold_in_without_biases_has_no_bias():
    train = random_ratings(12, 20, 15, 0.5)
    model = fit_nmf(train, k=2, iterations=5, biases="none", reg=0.1, weighted=False)
    items, stars = as_matrix(train).by_user.row(0)
    bias, factors = model.fold_in.solve(model, items, stars)
    assert bias == 0.0 and factors.min() >= 0
    np.testing.assert_allclose(factors, nnls_ridge(model.item_factors[items], stars, 0.1))


# ------------------------------------------------------------------ determinism, inputs, errors


@pytest.mark.parametrize("solver", SOLVERS)
def test_same_seed_same_model_and_input_untouched(solver):
    train = random_ratings(13, 25, 20, 0.3, raw_ids=True)
    valid = random_ratings(14, 25, 20, 0.1, raw_ids=True)
    before = train.copy()
    a = fit_nmf(train, k=3, iterations=6, solver=solver, seed=2, valid=valid)
    b = fit_nmf(
        train, k=np.int64(3), iterations=np.int64(6), solver=solver, seed=np.int64(2), valid=valid
    )
    c = fit_nmf(train, k=3, iterations=6, solver=solver, seed=3)
    pd.testing.assert_frame_equal(train, before)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    assert a.history == b.history
    assert set(a.history) == {"iteration", "objective", "train_rmse", "valid_rmse"}
    assert a.history["iteration"] == [1, 2, 3, 4, 5, 6]
    assert not np.array_equal(a.user_factors, c.user_factors)
    assert a.params["k"] == 3 and type(b.params["k"]) is int


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"k": 0}, ValueError, "k"),
        ({"k": 2.0}, TypeError, "k"),
        ({"k": True}, TypeError, "k"),
        ({"iterations": 0}, ValueError, "iterations"),
        ({"reg": -0.1}, ValueError, "reg"),
        ({"reg": "0.1"}, TypeError, "reg"),
        ({"weighted": 1}, TypeError, "weighted"),
        ({"solver": "als"}, ValueError, "solver"),
        ({"biases": True}, TypeError, "biases"),
        ({"biases": "learned"}, ValueError, "biases"),
        ({"shift": -1.0}, ValueError, "shift"),
        ({"damping": float("nan")}, ValueError, "damping"),
        ({"seed": -1}, ValueError, "seed"),
        ({"eps": 0.0}, ValueError, "eps"),
        ({"valid": "ratings.csv"}, TypeError, "valid"),
        ({"valid": pd.DataFrame({"userId": [1], "rating": [3.0]})}, ValueError, "valid"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, name):
    train = random_ratings(15, 10, 8, 0.5)
    with pytest.raises(error, match=name):
        fit_nmf(train, **{"k": 2, "iterations": 2, **kwargs})


def test_bad_training_data_is_refused():
    with pytest.raises(TypeError, match="train"):
        fit_nmf([(1, 2, 3.0)], k=2)
    with pytest.raises(ValueError, match="train"):
        fit_nmf(pd.DataFrame({"userId": [1], "movieId": [2]}), k=2)
    negative = pd.DataFrame({"userId": [1, 2], "movieId": [1, 1], "rating": [-1.0, 2.0]})
    with pytest.raises(ValueError, match="negative"):
        fit_nmf(negative, k=1, biases="none")
    fit_nmf(negative, k=1, biases="fixed")  # the clipped, shifted residual is always >= 0


def test_dense_reference_refuses_bad_input():
    R, mask = toy_target(0)
    with pytest.raises(ValueError, match="shape"):
        nmf_dense_reference(R, mask[:, :-1], 2)
    with pytest.raises(ValueError, match=">= 0"):
        nmf_dense_reference(np.where(mask, -R, 0.0), mask, 2)
    with pytest.raises(ValueError, match="solver"):
        nmf_dense_reference(R, mask, 2, solver="sgd")
    # negative values in unobserved cells are never read, so they are fine
    nmf_dense_reference(np.where(mask, R, -1.0), mask, 2, iterations=1)
