"""Implicit ALS: exact half-steps, CG converging to them, fast kernel = readable loop,
monotone objective, fold-in, determinism and error paths."""

import itertools

import numpy as np
import pandas as pd
import pytest

from conftest import random_ratings
from helpers.implicit_als import (
    ImplicitFoldIn,
    confidence_weights,
    fit_implicit_als,
    implicit_half_step,
    implicit_half_step_reference,
    implicit_objective,
    plan_chunks,
    preferences,
)
from helpers.matrix import build_matrix, csr_from_triples
from helpers.splits import random_split

K = 3  # rows with <= 3 ratings take the dual path of the exact solver, the others the primal
COUNTS = [0, 1, 1, 2, 3, 4, 5, 7, 12, 0, 30]  # ratings per row, 0 to "many"


def random_side(counts, n_cols=40, k=K, seed=0, threshold=None):
    """A CSR whose rows have exactly ``counts`` ratings, the fixed side's factors, the rows'
    current factors, and the weights (c - 1) and preferences of the CSR's entries."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for r, c in enumerate(counts):
        rows += [r] * c
        cols += sorted(rng.choice(n_cols, size=c, replace=False).tolist())
    stars = rng.choice(np.arange(0.5, 5.5, 0.5), size=len(rows))
    csr = csr_from_triples(np.array(rows), np.array(cols), stars, len(counts), n_cols)
    other = rng.normal(0, 0.7, (n_cols, k))
    current = rng.normal(0, 0.3, (len(counts), k))
    weights = confidence_weights(csr.values, alpha=2.5, confidence="rating")
    return csr, other, current, weights, preferences(csr.values, threshold)


def dense_terms(csr, weights, prefs):
    """C and P as dense (rows, cols) arrays: confidence 1 and preference 0 off the ratings."""
    c = np.ones((csr.n_rows, csr.n_cols))
    p = np.zeros((csr.n_rows, csr.n_cols))
    rows = csr.row_of_entry()
    c[rows, csr.indices] = 1.0 + weights
    p[rows, csr.indices] = prefs
    return c, p


def half_objective(x, other, c, p, reg):
    """The terms of L that depend on the updated side, summed over every cell."""
    return float(np.sum(c * (p - x @ other.T) ** 2) + reg * np.sum(x**2))


# ----------------------------------------------------------------------------- the data terms


def test_confidence_and_preference_by_hand():
    r = np.array([0.5, 1.0, 4.0])
    np.testing.assert_allclose(confidence_weights(r, alpha=2.0), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(confidence_weights(r, alpha=2.0, confidence="rating"), 2 * r)
    np.testing.assert_allclose(
        confidence_weights(r, alpha=2.0, confidence="log", eps=0.5),
        2 * np.log([2.0, 3.0, 9.0]),
    )
    np.testing.assert_array_equal(preferences(r), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(preferences(r, 1.0), [0.0, 1.0, 1.0])


def test_one_user_by_hand():
    # item 0 rated (y = 2), item 1 not rated (y = 1), alpha = 3, reg = 1, k = 1:
    # A = YᵀY + w·y0² + λ = (4 + 1) + 3·4 + 1 = 18, b = (1 + w)·p·y0 = 4·1·2 = 8
    csr = csr_from_triples(np.array([0]), np.array([0]), np.array([4.0]), 1, 2)
    y = np.array([[2.0], [1.0]])
    w = np.array([3.0])
    for solve in (implicit_half_step, implicit_half_step_reference):
        x = solve(csr, y, np.zeros((1, 1)), w, np.ones(1), reg=1.0, solver="exact")
        np.testing.assert_allclose(x, [[8 / 18]])


# ----------------------------------------------------------------------------- the half-step


@pytest.mark.parametrize("threshold", [None, 3.0])
def test_exact_half_step_is_the_minimiser(threshold):
    csr, other, current, w, p = random_side(COUNTS, threshold=threshold)
    x = implicit_half_step_reference(csr, other, current, w, p, reg=0.4, solver="exact")
    c, pref = dense_terms(csr, w, p)
    # gradient of the half objective, over all cells: -2 (C∘(P - XYᵀ)) Y + 2λX = 0
    grad = -2 * (c * (pref - x @ other.T)) @ other + 2 * 0.4 * x
    np.testing.assert_allclose(grad, 0.0, atol=1e-10)
    best = half_objective(x, other, c, pref, 0.4)
    rng = np.random.default_rng(1)
    for _ in range(10):
        worse = half_objective(x + 1e-3 * rng.normal(size=x.shape), other, c, pref, 0.4)
        assert worse > best


def test_rows_without_ratings_get_zero_factors():
    csr, other, current, w, p = random_side(COUNTS)
    for solver in ("exact", "cg"):
        x = implicit_half_step(csr, other, current, w, p, reg=0.4, solver=solver)
        empty = csr.counts() == 0
        assert np.all(x[empty] == 0) and np.all(np.abs(x[~empty]).sum(axis=1) > 0)


def test_enough_cg_steps_give_the_exact_solution():
    csr, other, current, w, p = random_side(COUNTS)
    exact = implicit_half_step_reference(csr, other, current, w, p, reg=0.4, solver="exact")
    few = implicit_half_step(csr, other, current, w, p, reg=0.4, solver="cg", cg_steps=1)
    many = implicit_half_step(csr, other, current, w, p, reg=0.4, solver="cg", cg_steps=4 * K)
    np.testing.assert_allclose(many, exact, rtol=1e-9, atol=1e-11)
    assert np.abs(few - exact).max() > 1e-4  # one step is not enough: the test can tell


def test_cg_lowers_the_half_objective_step_by_step():
    csr, other, current, w, p = random_side(COUNTS)
    c, pref = dense_terms(csr, w, p)
    start = current.copy()
    start[csr.counts() == 0] = 0.0  # rows without ratings go to 0 in every solver
    values = [half_objective(start, other, c, pref, 0.4)]
    for steps in range(1, 4):
        x = implicit_half_step(csr, other, current, w, p, reg=0.4, solver="cg", cg_steps=steps)
        values.append(half_objective(x, other, c, pref, 0.4))
    assert all(b < a for a, b in itertools.pairwise(values)), values


@pytest.mark.parametrize("solver", ["exact", "cg"])
@pytest.mark.parametrize("chunk_entries", [3, 4096])
@pytest.mark.parametrize("threshold", [None, 3.0])
def test_fast_half_step_equals_the_readable_loop(solver, chunk_entries, threshold):
    csr, other, current, w, p = random_side(COUNTS, threshold=threshold)
    assert {0, 1, K, K + 1, 30} <= set(csr.counts().tolist())  # empty, dual, primal rows
    slow = implicit_half_step_reference(csr, other, current, w, p, reg=0.4, solver=solver)
    fast = implicit_half_step(
        csr, other, current, w, p, reg=0.4, solver=solver, chunk_entries=chunk_entries
    )
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12)


def test_rated_loss_is_the_rated_part_of_the_objective():
    csr, other, current, w, p = random_side(COUNTS)
    loss = np.full(csr.n_rows, np.nan)
    x = implicit_half_step(csr, other, current, w, p, reg=0.4, solver="cg", rated_loss=loss)
    c, pref = dense_terms(csr, w, p)
    s = x @ other.T
    rated = c > 1
    want = np.where(rated, c * (pref - s) ** 2 - s**2, 0.0).sum(axis=1)
    np.testing.assert_allclose(loss, want, rtol=1e-10, atol=1e-12)


def test_half_step_does_not_depend_on_workers():
    csr, other, current, w, p = random_side(COUNTS * 20)
    one = implicit_half_step(csr, other, current, w, p, reg=0.4, chunk_entries=16, workers=1)
    two = implicit_half_step(csr, other, current, w, p, reg=0.4, chunk_entries=16, workers=2)
    np.testing.assert_array_equal(one, two)


# ----------------------------------------------------------------------------- objective and fit


def small_train():
    return random_ratings(2, n_users=14, n_items=11, density=0.35, raw_ids=True, low_rank=True)


def test_objective_equals_the_dense_sum_over_all_cells():
    matrix = build_matrix(small_train())
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(matrix.n_users, 3)), rng.normal(size=(matrix.n_items, 3))
    w = confidence_weights(matrix.values, alpha=1.5, confidence="rating")
    p = preferences(matrix.values, 3.0)
    c = np.ones(matrix.shape)
    pref = np.zeros(matrix.shape)
    c[matrix.users, matrix.items] = 1 + w
    pref[matrix.users, matrix.items] = p
    dense = np.sum(c * (pref - x @ y.T) ** 2) + 0.7 * (np.sum(x**2) + np.sum(y**2))
    got = implicit_objective(matrix, x, y, w, p, reg=0.7)
    np.testing.assert_allclose(got, dense, rtol=1e-12)


def test_exact_objective_never_increases_and_history_is_the_objective():
    train = small_train()
    model = fit_implicit_als(train, k=3, reg=0.5, alpha=4.0, iterations=12, solver="exact")
    objective = np.array(model.history["objective"])
    assert model.history["iteration"] == list(range(1, 13))
    assert np.all(np.diff(objective) <= 1e-9 * objective[:-1]), objective
    assert objective[-1] < objective[0]
    matrix = build_matrix(train)
    final = implicit_objective(
        matrix,
        model.user_factors,
        model.item_factors,
        confidence_weights(matrix.values, alpha=4.0),
        preferences(matrix.values),
        reg=0.5,
    )
    np.testing.assert_allclose(objective[-1], final, rtol=1e-10)


def test_the_model_ranks_and_refuses_to_predict_stars():
    train = small_train()
    model = fit_implicit_als(train, k=3, iterations=2)
    assert model.predicts_stars is False and model.global_mean == 0.0
    assert np.all(model.user_bias == 0) and np.all(model.item_bias == 0)
    assert model.k == 3 and model.name == "implicit ALS"
    assert isinstance(model.fold_in, ImplicitFoldIn)
    with pytest.raises(TypeError, match="fitted to rank"):
        model.predict(train.userId[:3], train.movieId[:3])
    scores = model.score(model.user_ids[:2], model.item_ids)
    np.testing.assert_allclose(scores, model.user_factors[:2] @ model.item_factors.T)


def test_fold_in_is_the_user_half_step():
    train = small_train()
    model = fit_implicit_als(train, k=3, alpha=2.0, reg=0.3, confidence="log", threshold=3.0)
    matrix = build_matrix(train)
    w = confidence_weights(matrix.by_user.values, alpha=2.0, confidence="log")
    p = preferences(matrix.by_user.values, 3.0)
    rows = implicit_half_step_reference(
        matrix.by_user, model.item_factors, model.user_factors, w, p, reg=0.3, solver="exact"
    )
    for u in (0, 5, matrix.n_users - 1):
        items, stars = matrix.by_user.row(u)
        bias, factors = model.fold_in.solve(model, items, stars)
        assert bias == 0.0
        np.testing.assert_allclose(factors, rows[u], rtol=1e-10, atol=1e-12)
    assert "λ = 0.3" in model.fold_in.describe()


def test_seed_determinism_and_workers():
    train = small_train()
    a = fit_implicit_als(train, k=4, iterations=3, seed=5, workers=1)
    b = fit_implicit_als(train, k=4, iterations=3, seed=5, workers=2)
    c = fit_implicit_als(train, k=4, iterations=3, seed=6, workers=1)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    assert not np.array_equal(a.item_factors, c.item_factors)


def test_valid_gives_an_ndcg_curve():
    full = random_ratings(4, n_users=30, n_items=20, density=0.4, raw_ids=True, low_rank=True)
    train, valid, _ = random_split(full, 0.25, seed=0)
    model = fit_implicit_als(train, k=3, iterations=4, valid=valid)
    assert set(model.history) == {"iteration", "objective", "valid_ndcg"}
    assert len(model.history["valid_ndcg"]) == 4
    assert all(0.0 < v <= 1.0 for v in model.history["valid_ndcg"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 0}, ValueError, "k must be >= 1"),
        ({"k": 2.5}, TypeError, "k must be an integer"),
        ({"reg": 0.0}, ValueError, "reg must be > 0"),
        ({"alpha": -1.0}, ValueError, "alpha must be > 0"),
        ({"solver": "lu"}, ValueError, "solver must be one of"),
        ({"confidence": "stars"}, ValueError, "confidence must be one of"),
        ({"cg_steps": 0}, ValueError, "cg_steps must be >= 1"),
        ({"threshold": "4"}, TypeError, "threshold must be a number"),
        ({"workers": 0}, ValueError, "workers must be >= 1"),
        ({"valid": "nope"}, TypeError, "valid must be a DataFrame"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        fit_implicit_als(small_train(), iterations=1, **kwargs)


def test_rating_confidence_needs_positive_ratings():
    train = pd.DataFrame({"userId": [1, 1, 2], "movieId": [1, 2, 1], "rating": [0.0, 3, 4]})
    with pytest.raises(ValueError, match="needs positive ratings"):
        fit_implicit_als(train, k=2, iterations=1, confidence="rating")
    fit_implicit_als(train, k=2, iterations=1)  # binary confidence does not read the stars


@pytest.mark.parametrize("chunk_entries", [1, 8, 4096])
def test_planned_chunks_hold_every_rating_once_and_pad_with_zeros(chunk_entries):
    csr, _, _, weights, prefs = random_side(COUNTS)
    chunks = plan_chunks(csr, weights, prefs, K, chunk_entries)
    assert [ch.cost for ch in chunks] == sorted((ch.cost for ch in chunks), reverse=True)
    rows = np.concatenate([ch.rows for ch in chunks])
    assert sorted(rows.tolist()) == [r for r, c in enumerate(COUNTS) if c > 0]
    seen = []
    for ch in chunks:
        assert ch.cols.shape == ch.weights.shape == ch.prefs.shape == ch.mask.shape
        assert np.all(ch.cols[~ch.mask] == csr.n_cols)  # the zero sentinel row
        assert np.all(ch.weights[~ch.mask] == 0) and np.all(ch.prefs[~ch.mask] == 0)
        for row, cols, w, m in zip(ch.rows, ch.cols, ch.weights, ch.mask, strict=True):
            lo, hi = csr.indptr[row], csr.indptr[row + 1]
            np.testing.assert_array_equal(cols[m], csr.indices[lo:hi])
            np.testing.assert_array_equal(w[m], weights[lo:hi])
            seen += [(row, col) for col in cols[m]]
    assert len(seen) == len(set(seen)) == csr.nnz


@pytest.mark.parametrize("solver", ["cg", "exact"])
def test_float32_fit_is_the_float64_fit_to_single_precision(solver):
    train = random_ratings(seed=3, n_users=40, n_items=30, density=0.3)
    kwargs = {"k": 4, "reg": 1.0, "alpha": 2.0, "iterations": 5, "solver": solver, "seed": 1}
    exact = fit_implicit_als(train, **kwargs)
    single = fit_implicit_als(train, dtype="float32", **kwargs)
    assert single.params["dtype"] == "float32" and "dtype" not in exact.params
    assert single.item_factors.dtype == np.float64
    assert not np.array_equal(single.item_factors, exact.item_factors)
    np.testing.assert_allclose(single.item_factors, exact.item_factors, rtol=0, atol=1e-4)
    np.testing.assert_allclose(
        single.history["objective"], exact.history["objective"], rtol=1e-5, atol=0
    )


def test_bad_dtype_is_refused_by_name():
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\]"):
        fit_implicit_als(random_ratings(seed=3, n_users=10, n_items=8), dtype="half")
