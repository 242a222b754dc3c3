"""Alternating least squares: exact half-steps, monotone objective, fast = naive, error paths."""

import numpy as np
import pandas as pd
import pytest

from conftest import random_ratings
from helpers.als import (
    als_half_step,
    als_objective,
    bucket_summary,
    fit_als,
    fit_als_zeros,
    plan_batches,
)
from helpers.matrix import build_matrix, csr_from_triples

K = 3  # k + 1 = 4: rows with <= 4 ratings take the dual path, the others the primal one
COUNTS = [0, 1, 1, 2, 3, 4, 5, 7, 12, 0, 30]  # ratings per row, 0 to "many"


def random_side(counts, n_cols=40, k=K, seed=0):
    """A CSR whose rows have exactly ``counts`` ratings, plus random factors of the other side."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for r, c in enumerate(counts):
        rows += [r] * c
        cols += sorted(rng.choice(n_cols, size=c, replace=False).tolist())
    values = rng.choice(np.arange(0.5, 5.5, 0.5), size=len(rows))
    csr = csr_from_triples(np.array(rows), np.array(cols), values, len(counts), n_cols)
    return csr, rng.normal(0, 0.7, (n_cols, k)), rng.normal(0, 0.3, n_cols)


def naive_half_step(csr, q, b, mu, reg, exponent):
    """One np.linalg.solve per row, straight from the normal equations."""
    k1 = q.shape[1] + 1
    out = np.zeros((csr.n_rows, k1))
    for r in range(csr.n_rows):
        cols, vals = csr.row(r)
        if len(cols) == 0:
            continue
        x = np.column_stack([np.ones(len(cols)), q[cols]])
        lam = reg * len(cols) ** exponent
        out[r] = np.linalg.solve(x.T @ x + lam * np.eye(k1), x.T @ (vals - mu - b[cols]))
    return out[:, 0], out[:, 1:]


def small_ratings(seed=0, n_users=30, n_items=25, density=0.3):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    u, i = np.nonzero(mask)
    p, q = rng.normal(0, 1, (n_users, 2)), rng.normal(0, 1, (n_items, 2))
    stars = np.clip(3.5 + np.sum(p[u] * q[i], axis=1) + rng.normal(0, 0.3, len(u)), 0.5, 5)
    return pd.DataFrame({"userId": u + 1, "movieId": i + 100, "rating": stars})


#: (weighted, reg_exponent) of a half-step and the exponent of the row penalty reg · n^e
PENALTIES = [(False, None, 0.0), (True, None, 1.0), (False, 0.5, 0.5)]


@pytest.mark.parametrize(("weighted", "reg_exponent", "exponent"), PENALTIES)
@pytest.mark.parametrize("chunk_entries", [3, 2**17])
def test_fast_half_step_equals_naive_per_row_solve(weighted, reg_exponent, exponent, chunk_entries):
    csr, q, b = random_side(COUNTS)
    assert set(csr.counts().tolist()) >= {0, 1, K + 1, 30}  # dual, primal and empty rows
    fast_b, fast_p = als_half_step(
        csr,
        q,
        b,
        3.4,
        reg=0.3,
        weighted=weighted,
        chunk_entries=chunk_entries,
        reg_exponent=reg_exponent,
    )
    slow_b, slow_p = naive_half_step(csr, q, b, 3.4, 0.3, exponent)
    np.testing.assert_allclose(fast_b, slow_b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast_p, slow_p, rtol=1e-10, atol=1e-12)


def test_rows_without_ratings_get_zero_bias_and_factors():
    csr, q, b = random_side(COUNTS)
    bias, factors = als_half_step(csr, q, b, 3.0, reg=0.1)
    empty = csr.counts() == 0
    assert np.all(bias[empty] == 0) and np.all(factors[empty] == 0)
    assert np.all(np.abs(factors[~empty]).sum(axis=1) > 0)


def test_one_rating_by_hand():
    # design row [1, q] = [1, 2], target r - mu - b_i = 4 - 3 - 0 = 1, lambda = 1:
    # x = [1, 2] * 1 / (1 + 4 + 1) = [1/6, 2/6]
    csr = csr_from_triples(np.array([0]), np.array([0]), np.array([4.0]), 1, 1)
    bias, factors = als_half_step(csr, np.array([[2.0]]), np.zeros(1), 3.0, reg=1.0)
    np.testing.assert_allclose(bias, [1 / 6])
    np.testing.assert_allclose(factors, [[2 / 6]])


def gradient(matrix, mu, bu, bi, p, q, reg, exponent, side):
    """Gradient of the ALS objective wrt [b, factors] of one side, looping over ratings."""
    g_b = np.zeros(len(bu) if side == "user" else len(bi))
    g_f = np.zeros((len(g_b), p.shape[1]))
    for u, i, r in zip(matrix.users, matrix.items, matrix.values, strict=True):
        e = r - (mu + bu[u] + bi[i] + p[u] @ q[i])
        row, other = (u, q[i]) if side == "user" else (i, p[u])
        g_b[row] -= 2 * e
        g_f[row] -= 2 * e * other
    csr = matrix.by_user if side == "user" else matrix.by_item
    w = csr.counts() ** exponent
    b, f = (bu, p) if side == "user" else (bi, q)
    return g_b + 2 * reg * w * b, g_f + 2 * reg * w[:, None] * f


@pytest.mark.parametrize(("weighted", "reg_exponent", "exponent"), PENALTIES)
def test_each_half_step_is_the_exact_minimiser(weighted, reg_exponent, exponent):
    matrix = build_matrix(small_ratings())
    rng = np.random.default_rng(1)
    mu = matrix.values.mean()
    p, q = rng.normal(0, 0.5, (matrix.n_users, 4)), rng.normal(0, 0.5, (matrix.n_items, 4))
    bu, bi = rng.normal(0, 0.2, matrix.n_users), rng.normal(0, 0.2, matrix.n_items)
    args = {"reg": 0.2, "weighted": weighted, "reg_exponent": reg_exponent}
    # before the step the gradient is far from zero; after it, zero up to rounding
    g_b, g_f = gradient(matrix, mu, bu, bi, p, q, 0.2, exponent, "user")
    assert np.abs(g_b).max() > 0.1 and np.abs(g_f).max() > 0.1
    bu, p = als_half_step(matrix.by_user, q, bi, mu, **args)
    for g in gradient(matrix, mu, bu, bi, p, q, 0.2, exponent, "user"):
        np.testing.assert_allclose(g, 0, atol=1e-9)
    bi, q = als_half_step(matrix.by_item, p, bu, mu, **args)
    for g in gradient(matrix, mu, bu, bi, p, q, 0.2, exponent, "item"):
        np.testing.assert_allclose(g, 0, atol=1e-9)


@pytest.mark.parametrize(("weighted", "reg_exponent", "exponent"), PENALTIES)
def test_objective_never_increases(weighted, reg_exponent, exponent):
    train = small_ratings(seed=2)
    model = fit_als(
        train, k=5, reg=0.05, iterations=12, weighted=weighted, reg_exponent=reg_exponent, seed=3
    )
    obj = np.array(model.history["objective"])
    assert len(obj) == 12
    assert np.all(np.diff(obj) <= 1e-9 * obj[:-1])
    assert obj[-1] < obj[0]
    # the recorded value is the objective of the returned parameters
    final = als_objective(
        train,
        model.global_mean,
        model.user_bias,
        model.item_bias,
        model.user_factors,
        model.item_factors,
        reg=0.05,
        weighted=weighted,
        reg_exponent=reg_exponent,
    )
    assert final == pytest.approx(obj[-1], rel=1e-12)


def test_history_and_model_fields():
    train = small_ratings(seed=4)
    valid = small_ratings(seed=5).head(40)
    model = fit_als(train, k=4, reg=0.1, iterations=3, weighted=True, valid=valid)
    assert model.name == "ALS-WR" and model.k == 4
    assert model.global_mean == pytest.approx(train["rating"].mean())
    assert model.history["iteration"] == [1, 2, 3]
    assert set(model.history) == {"iteration", "objective", "train_rmse", "valid_rmse"}
    assert all(len(v) == 3 for v in model.history.values())
    assert model.params["reg"] == 0.1 and model.params["weighted"] is True
    pred = model.predict(train["userId"], train["movieId"])
    assert np.sqrt(np.mean((pred - train["rating"]) ** 2)) == pytest.approx(
        model.history["train_rmse"][-1]
    )


def test_fits_low_rank_data_better_than_the_mean():
    train = small_ratings(seed=6, density=0.6)
    model = fit_als(train, k=2, reg=0.05, iterations=10)
    assert model.history["train_rmse"][-1] < 0.5 * train["rating"].std()


def test_deterministic_for_a_seed():
    train = small_ratings(seed=7)
    a = fit_als(train, k=3, iterations=3, seed=11)
    b = fit_als(train, k=3, iterations=3, seed=11)
    c = fit_als(train, k=3, iterations=3, seed=12)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    assert a.history == b.history
    assert not np.allclose(a.item_factors, c.item_factors)


def test_missing_as_zero_pitfall_predicts_far_too_low():
    train = small_ratings(seed=8, density=0.3)
    zeros = fit_als_zeros(train, k=3, reg=0.1, iterations=8)
    obj = np.array(zeros.history["objective"])
    assert np.all(np.diff(obj) <= 1e-9 * obj[:-1])
    dense0 = build_matrix(train).to_dense(fill=0.0)
    p, q = zeros.user_factors, zeros.item_factors
    direct = np.sum((dense0 - p @ q.T) ** 2) + 0.1 * (np.sum(p**2) + np.sum(q**2))
    assert obj[-1] == pytest.approx(direct, rel=1e-9)
    # unseen cells are pulled towards 0 stars: their mean prediction is far below the data's mean
    dense = build_matrix(train).to_dense()
    unseen = np.argwhere(np.isnan(dense))
    pred = zeros.predict_index(unseen[:, 0], unseen[:, 1])
    assert pred.mean() < 0.5 * train["rating"].mean()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 0}, ValueError, "k must be >= 1, got 0"),
        ({"k": 2.5}, TypeError, "k must be an integer"),
        ({"reg": -0.1}, ValueError, "reg must be > 0, got -0.1: without regularisation"),
        ({"reg": 0.0}, ValueError, "reg must be > 0, got 0"),
        ({"reg": "a lot"}, TypeError, "reg must be a number"),
        ({"iterations": 0}, ValueError, "iterations must be >= 1"),
    ],
)
def test_bad_hyper_parameters(kwargs, error, match):
    train = small_ratings()
    with pytest.raises(error, match=match):
        fit_als(train, **kwargs)
    if "iterations" not in kwargs:
        with pytest.raises(error, match=match):
            fit_als_zeros(train, **kwargs)


def test_bad_input():
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        fit_als(np.zeros((3, 3)))
    csr, q, b = random_side([1, 2])
    with pytest.raises(ValueError, match="the ratings have 40 columns"):
        als_half_step(csr, q[:5], b[:5], 3.0, reg=0.1)


def test_residuals_of_a_half_step_are_r_minus_prediction():
    csr, q, b = random_side(COUNTS)
    resid = np.full(csr.nnz, np.nan)
    bias, factors = als_half_step(csr, q, b, 3.4, reg=0.3, residuals=resid)
    rows = csr.row_of_entry()
    pred = 3.4 + bias[rows] + b[csr.indices] + np.sum(factors[rows] * q[csr.indices], axis=1)
    np.testing.assert_allclose(resid, csr.values - pred, atol=1e-12)


def test_bucket_summary_counts_every_rating_once():
    counts = np.array([0, 1, 2, 3, 3, 5, 9, 60, 0])
    table = bucket_summary(counts, k=4, chunk_entries=8)
    assert table["rows"].sum() == 7 and table["ratings"].sum() == counts.sum()
    assert table["ratings per row"].tolist() == ["1–1", "2–2", "3–4", "5–5", "6–60"]
    assert table["system"].tolist() == [
        "dual ≤1×1",
        "dual ≤2×2",
        "dual ≤4×4",
        "dual ≤5×5",
        "primal 5×5",
    ]
    assert table["rows"].tolist() == [1, 1, 2, 1, 2]
    # the two rows with 3 ratings fit one batch of 8 ratings; 9 + 60 > 8: one batch per long row
    assert table["batches"].tolist() == [1, 1, 1, 1, 2]


@pytest.mark.parametrize("chunk_entries", [1, 7, 64, 2**13])
def test_plan_batches_covers_every_rated_row_once(chunk_entries):
    counts = np.array([0, 1, 1, 2, 3, 4, 5, 7, 12, 0, 30, 4, 4, 1, 6])
    k = 3
    batches = plan_batches(counts, k, chunk_entries)
    rows = np.concatenate([batch.rows for batch in batches])
    np.testing.assert_array_equal(np.sort(rows), np.flatnonzero(counts > 0))
    for batch in batches:
        assert np.all(np.diff(batch.rows) > 0)  # ascending, no repeats
        if batch.count:  # dual: one exact count, at most k + 1
            assert 1 <= batch.count <= k + 1 and np.all(counts[batch.rows] == batch.count)
        else:  # primal: longer rows only
            assert np.all(counts[batch.rows] > k + 1)
        assert counts[batch.rows].sum() <= chunk_entries or len(batch.rows) == 1
    costs = [batch.cost for batch in batches]
    assert costs == sorted(costs, reverse=True)  # the costliest first


def test_half_step_does_not_depend_on_batches_or_threads():
    csr, q, b = random_side(COUNTS * 3, n_cols=60)
    resid = {}
    results = []
    for chunk_entries, workers in ((3, 1), (40, 2), (2**13, 2), (2**13, 1)):
        resid[chunk_entries, workers] = np.full(csr.nnz, np.nan)
        results.append(
            als_half_step(
                csr,
                q,
                b,
                3.2,
                reg=0.2,
                weighted=True,
                chunk_entries=chunk_entries,
                workers=workers,
                residuals=resid[chunk_entries, workers],
            )
        )
    for bias, factors in results[1:]:
        np.testing.assert_array_equal(bias, results[0][0])
        np.testing.assert_array_equal(factors, results[0][1])
    first = resid[3, 1]
    assert np.all(np.isfinite(first))
    for other in resid.values():
        np.testing.assert_array_equal(other, first)


#: fit_als(random_ratings(11, 40, 30, 0.15, raw_ids=True, low_rank=True), k=3, iterations=6,
#: seed=5) as computed by the previous kernel (padded power-of-two buckets, LU solves, before the
#: batches of exact counts): the rewrite must give the same model to 1e-8.
REFERENCE = {
    (False, 0.5): {
        "objective": [
            53.11489088416109,
            33.34735373242145,
            31.676370139161317,
            31.044899606485608,
            30.761084160190318,
            30.62076447544603,
        ],
        "train_rmse": [
            0.42419314895918664,
            0.2020785875751485,
            0.1765720112312602,
            0.16700611088766681,
            0.16295956647463364,
            0.16140387058239064,
        ],
        "user_factors[:2]": [
            [-0.08166989149733639, -0.07035128894763734, 0.022784723870715128],
            [-0.1469252527548975, -0.09283237761978655, -0.1020376423662766],
        ],
        "item_bias[:4]": [
            -0.262851927450999,
            0.02021012559829427,
            -0.39679681802955946,
            -0.013605836280346081,
        ],
        "sums": [2.449498773922572, -0.18579244478470983, 0.11572197233955461, -0.5836342091411469],
    },
    (True, 0.1): {
        "objective": [
            56.690623422484194,
            36.43986296442891,
            34.261431913679175,
            33.5397807917161,
            33.196678587216795,
            33.00679490186238,
        ],
        "train_rmse": [
            0.43626981794693087,
            0.22089468493915695,
            0.18979669669884472,
            0.17954834309820614,
            0.1740199914985554,
            0.17081876613192187,
        ],
        "user_factors[:2]": [
            [-0.05005703805792928, -0.07408157875347827, -0.014218339974991423],
            [-0.2954381689352601, -0.26639406371601226, -0.13822413347651938],
        ],
        "item_bias[:4]": [
            -0.30907089970456125,
            0.10610871907965841,
            -0.47212030542618416,
            0.03338733758486431,
        ],
        "sums": [-0.10192041870729085, -2.100286167585059, 0.2774514037424778, -0.461473822106243],
    },
}


@pytest.mark.parametrize(("weighted", "reg"), list(REFERENCE))
def test_fit_gives_the_model_of_the_previous_kernel(weighted, reg):
    train = random_ratings(11, n_users=40, n_items=30, density=0.15, raw_ids=True, low_rank=True)
    counts = build_matrix(train).by_item.counts()
    assert counts.min() <= 4 < counts.max()  # k + 1 = 4: both the dual and the primal form
    model = fit_als(train, k=3, reg=reg, iterations=6, weighted=weighted, seed=5)
    want = REFERENCE[weighted, reg]
    got = {
        "objective": model.history["objective"],
        "train_rmse": model.history["train_rmse"],
        "user_factors[:2]": model.user_factors[:2],
        "item_bias[:4]": model.item_bias[:4],
        "sums": [
            model.user_factors.sum(),
            model.item_factors.sum(),
            model.user_bias.sum(),
            model.item_bias.sum(),
        ],
    }
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-8, atol=1e-8, err_msg=key)


def test_train_rmse_of_the_history_uses_clipped_predictions():
    # most stars at the top of the scale: the fit predicts above 5 for some training ratings
    rng = np.random.default_rng(3)
    train = small_ratings(seed=9, density=0.5)
    train["rating"] = np.where(rng.random(len(train)) < 0.7, 5.0, train["rating"])
    model = fit_als(train, k=4, reg=0.01, iterations=4)
    raw = model.predict(train["userId"], train["movieId"], clip=False)
    assert raw.max() > 5.0
    clipped = np.sqrt(np.mean((np.clip(raw, 0.5, 5.0) - train["rating"]) ** 2))
    unclipped = np.sqrt(np.mean((raw - train["rating"]) ** 2))
    assert model.history["train_rmse"][-1] == pytest.approx(clipped, rel=1e-12)
    assert clipped < unclipped


def test_a_bad_valid_is_refused_before_the_thread_limit_is_taken():
    # It used to surface as a bare KeyError from pandas mid-fit, leaving BLAS at one thread.
    from threadpoolctl import threadpool_info

    before = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
    train = small_ratings()
    with pytest.raises(ValueError, match=r"valid lacks column\(s\) \['rating'\]"):
        fit_als(train, k=2, iterations=2, valid=train.drop(columns="rating"))
    assert [(p["internal_api"], p["num_threads"]) for p in threadpool_info()] == before


def test_workers_default_to_the_cores_this_process_may_use(monkeypatch):
    import helpers.threads as threads

    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 64)
    assert threads.resolve_workers(None) == 1
    assert threads.resolve_workers(np.int64(3)) == 3
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        threads.resolve_workers(0)


def test_reg_exponent_0_and_1_are_plain_als_and_als_wr():
    train = small_ratings(seed=12)
    for weighted, exponent, name in ((False, 0, "ALS"), (True, 1.0, "ALS-WR")):
        a = fit_als(train, k=3, iterations=3, weighted=weighted)
        b = fit_als(train, k=3, iterations=3, reg_exponent=exponent)
        np.testing.assert_array_equal(a.user_factors, b.user_factors)
        np.testing.assert_array_equal(a.item_bias, b.item_bias)
        assert a.history == b.history and b.name == name
    half = fit_als(train, k=3, iterations=3, reg_exponent=0.5)
    assert half.name == "ALS, λ·n^0.5" and half.params["reg_exponent"] == 0.5
    assert not np.allclose(half.user_factors, a.user_factors)


def test_fold_in_of_the_square_root_penalty_is_its_user_half_step():
    train = small_ratings(seed=13)
    matrix = build_matrix(train)
    model = fit_als(matrix, k=3, reg=0.4, iterations=4, reg_exponent=0.5)
    bias, factors = als_half_step(
        matrix.by_user,
        model.item_factors,
        model.item_bias,
        model.global_mean,
        reg=0.4,
        reg_exponent=0.5,
    )
    rule = model.fold_in
    assert "0.4·n_u^0.5" in rule.describe()
    for user in (0, 5, 17):
        cols, stars = matrix.by_user.row(user)
        b, f = rule.solve(model, cols, stars)
        assert b == pytest.approx(bias[user], abs=1e-12)
        np.testing.assert_allclose(f, factors[user], atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"reg_exponent": -0.5}, ValueError, "reg_exponent must be >= 0, got -0.5"),
        ({"reg_exponent": "half"}, TypeError, "reg_exponent must be a number"),
        ({"reg_exponent": 0.5, "weighted": True}, ValueError, "weighted=True means reg_exponent=1"),
    ],
)
def test_bad_reg_exponent(kwargs, error, match):
    with pytest.raises(error, match=match):
        fit_als(small_ratings(), **kwargs)


@pytest.mark.parametrize("weighted", [False, True])
def test_float32_fit_is_the_float64_fit_to_single_precision(weighted):
    train = small_ratings(seed=4, n_users=60, n_items=50)
    kwargs = {"k": 4, "reg": 0.5, "iterations": 8, "weighted": weighted, "seed": 2}
    exact = fit_als(train, **kwargs)
    single = fit_als(train, dtype="float32", **kwargs)
    assert single.params["dtype"] == "float32" and "dtype" not in exact.params
    assert single.item_factors.dtype == np.float64  # the model's arrays stay float64
    assert not np.array_equal(single.item_factors, exact.item_factors)  # it did compute in float32
    np.testing.assert_allclose(single.item_factors, exact.item_factors, rtol=0, atol=1e-4)
    np.testing.assert_allclose(single.user_bias, exact.user_bias, rtol=0, atol=1e-4)
    np.testing.assert_allclose(
        single.history["objective"], exact.history["objective"], rtol=1e-5, atol=0
    )
    users, items = train["userId"], train["movieId"]
    np.testing.assert_allclose(single.predict(users, items), exact.predict(users, items), atol=1e-4)


@pytest.mark.parametrize(
    ("dtype", "error", "match"),
    [
        ("float16", ValueError, r"dtype must be one of \['float32', 'float64'\], got 'float16'"),
        (np.float32, TypeError, "dtype must be a string"),
    ],
)
def test_bad_dtype(dtype, error, match):
    with pytest.raises(error, match=match):
        fit_als(small_ratings(), dtype=dtype)
