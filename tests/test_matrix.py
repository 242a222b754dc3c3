"""Tests of helpers.matrix: index maps, the two CSR groupings, dense round trips, errors."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from helpers.matrix import (
    CSR,
    MAX_DENSE_CELLS,
    RatingMatrix,
    as_matrix,
    build_matrix,
    csr_from_triples,
    dense_block,
    dense_bytes,
    from_dense,
    index_of,
    item_titles,
    matrix_bytes,
    memory_table,
    sparse_bytes,
)

NAN = np.nan


@pytest.fixture
def small() -> pd.DataFrame:
    """Three users (ids 30, 10, 20) and three movies (ids 7, 5, 9), in a scrambled order."""
    return pd.DataFrame(
        {
            "userId": [30, 10, 20, 10, 30],
            "movieId": [9, 7, 5, 5, 7],
            "rating": [1.0, 4.5, 3.0, 2.0, 5.0],
        }
    )


def random_ratings(seed: int, n_users: int = 40, n_items: int = 60, nnz: int = 500):
    """Unique random (user, movie) pairs with sparse, non-contiguous raw ids."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(n_users * n_items, size=nnz, replace=False)
    user_ids = np.sort(rng.choice(10_000, size=n_users, replace=False))
    item_ids = np.sort(rng.choice(100_000, size=n_items, replace=False))
    return pd.DataFrame(
        {
            "userId": user_ids[cells // n_items],
            "movieId": item_ids[cells % n_items],
            "rating": rng.integers(1, 11, size=nnz) / 2,
        }
    )


# ----------------------------------------------------------------------------- maps


def test_maps_are_sorted_and_invert_each_other(small):
    m = build_matrix(small)
    assert m.user_ids.tolist() == [10, 20, 30]
    assert m.item_ids.tolist() == [5, 7, 9]
    # raw id -> row -> raw id
    assert np.array_equal(m.user_ids[m.user_index(small.userId)], small.userId)
    assert np.array_equal(m.item_ids[m.item_index(small.movieId)], small.movieId)
    # row -> raw id -> row
    assert np.array_equal(m.user_index(m.user_ids), np.arange(m.n_users))
    assert np.array_equal(m.item_index(m.item_ids), np.arange(m.n_items))
    # the stored triples use the same maps
    assert m.users.tolist() == [2, 0, 1, 0, 2]
    assert m.items.tolist() == [2, 1, 0, 0, 1]


def test_maps_invert_each_other_on_random_data():
    df = random_ratings(1)
    m = build_matrix(df)
    assert np.array_equal(m.user_ids[m.users], df.userId)
    assert np.array_equal(m.item_ids[m.items], df.movieId)
    assert np.array_equal(m.user_index(m.user_ids), np.arange(m.n_users))


def test_index_of_marks_unknown_ids():
    ids = np.array([3, 8, 20])
    assert index_of(ids, [20, 3, 4, 99, 0, 8]).tolist() == [2, 0, -1, -1, -1, 1]
    assert index_of(np.array([], dtype=np.int64), [1, 2]).tolist() == [-1, -1]
    assert index_of(ids, 8).item() == 1


def test_item_titles_follow_the_columns(small):
    m = build_matrix(small)
    movies = pd.DataFrame({"movieId": [9, 5, 1], "title": ["Nine (1999)", "Five (1995)", "One"]})
    assert item_titles(m, movies).tolist() == ["Five (1995)", "", "Nine (1999)"]
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['title'\]"):
        item_titles(m, movies[["movieId"]])


# ----------------------------------------------------------------------------- dense


def test_to_dense_by_hand(small):
    dense = build_matrix(small).to_dense()
    expected = np.array(
        [
            [2.0, 4.5, NAN],  # user 10
            [3.0, NAN, NAN],  # user 20
            [NAN, 5.0, 1.0],  # user 30
        ]
    )
    np.testing.assert_array_equal(dense, expected)
    np.testing.assert_array_equal(build_matrix(small).to_dense(fill=0.0), np.nan_to_num(expected))


def test_sparse_dense_sparse_round_trip():
    df = random_ratings(2)
    m = build_matrix(df)
    back = from_dense(m.to_dense(), user_ids=m.user_ids, item_ids=m.item_ids)
    key = ["userId", "movieId"]
    pd.testing.assert_frame_equal(
        back.to_frame().sort_values(key, ignore_index=True),
        df.sort_values(key, ignore_index=True),
    )
    np.testing.assert_array_equal(back.to_dense(), m.to_dense())


def test_dense_sparse_dense_round_trip_with_zero_as_missing():
    rng = np.random.default_rng(3)
    dense = rng.integers(0, 6, size=(7, 9)).astype(float)  # 0 = unknown, as in many tutorials
    m = from_dense(dense, missing=0.0)
    assert m.nnz == np.count_nonzero(dense)
    np.testing.assert_array_equal(m.to_dense(fill=0.0), dense)
    assert m.user_ids.tolist() == list(range(7))


def test_to_frame_returns_the_input_triples(small):
    pd.testing.assert_frame_equal(build_matrix(small).to_frame(), small)


def test_to_dense_refuses_huge_matrices(small):
    users = np.arange(20_000) * 10 + 10  # contains 10, 20, 30
    items = np.arange(10_000) + 5  # contains 5, 7, 9
    m = build_matrix(small, user_ids=users, item_ids=items)
    assert m.n_users * m.n_items > MAX_DENSE_CELLS
    with pytest.raises(
        MemoryError, match=r"dense 20000 x 10000 matrix has 200,000,000 cells \(1\.6 GB\)"
    ):
        m.to_dense()


# ----------------------------------------------------------------------------- CSR


def test_csr_by_hand(small):
    m = build_matrix(small)
    bu = m.by_user
    assert bu.indptr.tolist() == [0, 2, 3, 5]
    assert bu.indices.tolist() == [0, 1, 0, 1, 2]
    assert bu.values.tolist() == [2.0, 4.5, 3.0, 5.0, 1.0]
    assert bu.order.tolist() == [3, 1, 2, 4, 0]
    assert bu.counts().tolist() == [2, 1, 2]
    assert bu.row_of_entry().tolist() == [0, 0, 1, 2, 2]
    cols, vals = bu.row(2)
    assert cols.tolist() == [1, 2] and vals.tolist() == [5.0, 1.0]
    bi = m.by_item
    assert bi.indptr.tolist() == [0, 2, 4, 5]
    assert bi.indices.tolist() == [0, 1, 0, 2, 2]
    assert bi.values.tolist() == [2.0, 3.0, 4.5, 5.0, 1.0]
    assert (bu.n_rows, bu.n_cols, bi.n_rows, bi.n_cols) == (3, 3, 3, 3)


def test_csr_by_user_and_by_item_hold_the_same_ratings():
    m = build_matrix(random_ratings(4))
    bu, bi = m.by_user, m.by_item
    from_users = set(
        zip(bu.row_of_entry().tolist(), bu.indices.tolist(), bu.values.tolist(), strict=True)
    )
    from_items = set(
        zip(bi.indices.tolist(), bi.row_of_entry().tolist(), bi.values.tolist(), strict=True)
    )
    assert from_users == from_items
    assert len(from_users) == m.nnz
    # both are the same dense matrix
    dense_u = np.full(m.shape, NAN)
    dense_u[bu.row_of_entry(), bu.indices] = bu.values
    dense_i = np.full(m.shape, NAN)
    dense_i[bi.indices, bi.row_of_entry()] = bi.values
    np.testing.assert_array_equal(dense_u, dense_i)
    np.testing.assert_array_equal(dense_u, m.to_dense())


def test_csr_order_points_back_to_the_input_triples():
    m = build_matrix(random_ratings(5))
    for csr, rows, cols in ((m.by_user, m.users, m.items), (m.by_item, m.items, m.users)):
        assert np.array_equal(np.sort(csr.order), np.arange(m.nnz))  # a permutation
        assert np.array_equal(m.values[csr.order], csr.values)
        assert np.array_equal(cols[csr.order], csr.indices)
        assert np.array_equal(rows[csr.order], csr.row_of_entry())
        assert np.all(np.diff(csr.indptr) >= 0) and csr.indptr[-1] == m.nnz
        # column numbers ascend inside every row
        same_row = np.diff(csr.row_of_entry()) == 0
        assert np.all(np.diff(csr.indices)[same_row] > 0)


def test_csr_from_triples_keeps_empty_rows():
    csr = csr_from_triples(np.array([3, 0]), np.array([1, 2]), np.array([4.0, 5.0]), 5, 3)
    assert isinstance(csr, CSR)
    assert csr.indptr.tolist() == [0, 1, 1, 1, 2, 2]
    assert csr.counts().tolist() == [1, 0, 0, 1, 0]
    assert csr.row(1)[0].tolist() == []


def test_given_maps_give_a_test_set_the_training_rows(small):
    m = build_matrix(small)
    test = pd.DataFrame({"userId": [20], "movieId": [9], "rating": [4.0]})
    t = build_matrix(test, user_ids=m.user_ids, item_ids=m.item_ids)
    assert t.shape == m.shape
    assert (t.users.tolist(), t.items.tolist()) == ([1], [2])
    assert t.by_user.counts().tolist() == [0, 1, 0]


def test_as_matrix_accepts_both_forms(small):
    m = build_matrix(small)
    assert as_matrix(m) is m
    assert isinstance(as_matrix(small), RatingMatrix)
    np.testing.assert_array_equal(as_matrix(small).to_dense(), m.to_dense())


def test_shape_density_and_nnz(small):
    m = build_matrix(small)
    assert (m.shape, m.nnz, m.n_users, m.n_items) == ((3, 3), 5, 3, 3)
    assert m.density == pytest.approx(5 / 9)


# ----------------------------------------------------------------------------- memory


def test_matrix_bytes_predicts_nbytes():
    m = build_matrix(random_ratings(6))
    assert matrix_bytes(m.n_users, m.n_items, m.nnz) == m.nbytes
    assert sparse_bytes(m.nnz, m.n_users, m.n_items) == (
        m.by_user.indptr.nbytes + m.by_user.indices.nbytes + m.by_user.values.nbytes
    )


def test_memory_projection_for_ml25m():
    table = memory_table(162_541, 59_047, 25_000_095)
    assert table.loc["dense float64", "bytes"] == 162_541 * 59_047 * 8
    assert round(table.loc["dense float64", "GB"]) == 77
    assert table.loc["dense float32", "bytes"] * 2 == dense_bytes(162_541, 59_047)
    assert table.loc["one CSR (indptr, indices, values)", "GB"] == pytest.approx(0.3013, abs=1e-4)
    assert table.loc["RatingMatrix (maps, triples, both CSR)", "bytes"] == matrix_bytes(
        162_541, 59_047, 25_000_095
    )
    # sparse storage grows with the ratings, not with users x items
    assert matrix_bytes(1000, 1000, 10) < matrix_bytes(1000, 1000, 20)
    assert matrix_bytes(10**6, 10**6, 0) < 10**8


# ----------------------------------------------------------------------------- dense block


def test_dense_block_finds_a_planted_block():
    rng = np.random.default_rng(7)
    dense = np.where(rng.random((60, 80)) < 0.05, 3.0, NAN)
    rows, cols = np.array([3, 11, 17, 40, 52]), np.array([2, 9, 30, 31, 77])
    dense[np.ix_(rows, cols)] = 4.0
    m = from_dense(dense)
    got_rows, got_cols = dense_block(m, 5, 5)
    assert got_rows.tolist() == rows.tolist()
    assert got_cols.tolist() == cols.tolist()


def test_dense_block_is_at_least_as_dense_as_the_most_active():
    m = build_matrix(random_ratings(8, nnz=900))
    dense = m.to_dense()
    rows, cols = dense_block(m, 10, 12)
    assert rows.shape == (10,) and cols.shape == (12,)
    assert np.all(np.diff(rows) > 0) and np.all(np.diff(cols) > 0)
    start_r = np.argsort(-m.by_user.counts(), kind="stable")[:10]
    start_c = np.argsort(-m.by_item.counts(), kind="stable")[:12]
    observed = np.isfinite(dense[np.ix_(rows, cols)]).sum()
    assert observed >= np.isfinite(dense[np.ix_(start_r, start_c)]).sum()


def test_dense_block_checks_sizes(small):
    with pytest.raises(ValueError, match="n_rows must be between 1 and 3, got 4"):
        dense_block(build_matrix(small), 4, 2)
    with pytest.raises(ValueError, match="n_cols must be between 1 and 3, got 0"):
        dense_block(build_matrix(small), 2, 0)


# ----------------------------------------------------------------------------- errors


def test_duplicate_pairs_are_named(small):
    dup = pd.concat([small, small.iloc[[2]]], ignore_index=True)
    with pytest.raises(
        ValueError, match=r"1 duplicate \(user, item\) pair\(s\), e\.g\. \[\(20, 5\)\]"
    ):
        build_matrix(dup)


def test_nan_rating_is_rejected(small):
    bad = small.assign(rating=[1.0, NAN, 3.0, 2.0, 5.0])
    with pytest.raises(
        ValueError, match=r"1 rating\(s\) are NaN or infinite, first at row position\(s\) \[1\]"
    ):
        build_matrix(bad)


def test_missing_id_is_rejected(small):
    bad = small.astype({"movieId": float})
    bad.loc[3, "movieId"] = NAN
    with pytest.raises(ValueError, match="1 row\\(s\\) have a missing movieId"):
        build_matrix(bad)


def test_empty_table_is_rejected(small):
    with pytest.raises(ValueError, match="ratings is empty"):
        build_matrix(small.iloc[:0])


def test_missing_columns_are_named(small):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['rating'\]"):
        build_matrix(small.drop(columns="rating"))


def test_unknown_ids_are_named(small):
    with pytest.raises(
        ValueError, match=r"1 user id\(s\) are not in the given user_ids, e\.g\. \[30\]"
    ):
        build_matrix(small, user_ids=np.array([10, 20]))
    with pytest.raises(
        ValueError, match=r"2 item id\(s\) are not in the given item_ids, e\.g\. \[7, 9\]"
    ):
        build_matrix(small, item_ids=np.array([5]))


def test_unsorted_maps_are_rejected(small):
    with pytest.raises(ValueError, match="user_ids must be strictly ascending"):
        build_matrix(small, user_ids=np.array([30, 20, 10]))
    with pytest.raises(ValueError, match="item_ids must be strictly ascending"):
        build_matrix(small, item_ids=np.array([5, 7, 7, 9]))


def test_wrong_types_are_rejected(small):
    with pytest.raises(TypeError, match=r"ratings must be a DataFrame .* got ndarray"):
        build_matrix(small.to_numpy())
    with pytest.raises(TypeError, match="or a RatingMatrix, got list"):
        as_matrix([[1, 2, 3.0]])


def test_from_dense_errors():
    with pytest.raises(ValueError, match=r"expected a 2-D array, got shape \(3,\)"):
        from_dense(np.ones(3))
    with pytest.raises(ValueError, match="needs 2 user_ids and 3 item_ids, got 3 and 3"):
        from_dense(np.ones((2, 3)), user_ids=[1, 2, 3])


def test_integer_ids_are_stored_as_int64(small):
    m = build_matrix(small.astype({"userId": "int32", "movieId": "int16"}))
    assert m.user_ids.dtype == np.int64 and m.item_ids.dtype == np.int64
    assert m.nbytes == matrix_bytes(m.n_users, m.n_items, m.nnz)


def test_building_needs_no_memory_beyond_the_matrix_it_returns():
    from benchmarks.synthetic import synthetic_ratings

    ratings = synthetic_ratings(200_000, seed=1)  # int32 ids, as the loaders give
    tracemalloc.start()
    try:
        matrix = build_matrix(ratings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # temporaries (sorts, index maps) stay within 5 % of the result: no int64 copies of the
    # triples, which cost 14 % more here and set the peak of the 5 M-rating benchmark
    assert peak <= 1.05 * matrix.nbytes
