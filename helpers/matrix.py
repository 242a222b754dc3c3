"""The rating matrix in compressed sparse form, built with NumPy only.

A MovieLens ratings table is a list of (user, movie, rating) triples. Factorization kernels want
the same triples addressed by contiguous row and column numbers, grouped by user (to update user
factors) and by movie (to update movie factors). ``build_matrix`` turns the table into a
:class:`RatingMatrix` that holds both groupings. Memory is O(number of ratings): nothing here ever
allocates a users × movies array, except :meth:`RatingMatrix.to_dense`, which refuses to unless the
result is small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.checks import check_ratings
from helpers.schema import ITEM, RATING, USER

#: ``to_dense`` refuses to build matrices with more cells than this (8 bytes each: 800 MB).
MAX_DENSE_CELLS = 100_000_000


class IdMaps:
    """Ascending raw ``user_ids`` (n,) and ``item_ids`` (m,) and the row numbers they map to:
    shared by :class:`RatingMatrix` and :class:`helpers.model.MFModel`."""

    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_index(self, user_ids) -> np.ndarray:
        """Row numbers of raw userIds; -1 for users not in the map."""
        return index_of(self.user_ids, user_ids)

    def item_index(self, item_ids) -> np.ndarray:
        """Row numbers of raw movieIds; -1 for movies not in the map."""
        return index_of(self.item_ids, item_ids)


@dataclass(frozen=True, eq=False)
class CSR:
    """Compressed sparse rows: row ``r`` holds ``indices[indptr[r]:indptr[r+1]]`` (column numbers,
    ascending) with ``values[indptr[r]:indptr[r+1]]``.

    ``order[j]`` is the position, in the original triple order, of the j-th stored entry, so any
    per-rating array (timestamps, residuals) can be laid out the same way as ``values[order]``.
    """

    indptr: np.ndarray  # (n_rows + 1,) int64
    indices: np.ndarray  # (nnz,) int32
    values: np.ndarray  # (nnz,) float64
    order: np.ndarray  # (nnz,) int64
    n_cols: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return len(self.indices)

    def counts(self) -> np.ndarray:
        """Number of stored entries in each row, shape (n_rows,)."""
        return np.diff(self.indptr)

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Column numbers and values stored in row ``r``."""
        lo, hi = self.indptr[r], self.indptr[r + 1]
        return self.indices[lo:hi], self.values[lo:hi]

    def row_of_entry(self) -> np.ndarray:
        """Row number of every stored entry, shape (nnz,) int32."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int32), self.counts())

    @property
    def nbytes(self) -> int:
        return self.indptr.nbytes + self.indices.nbytes + self.values.nbytes + self.order.nbytes


def csr_from_triples(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int, n_cols: int
) -> CSR:
    """Group triples by row (then by column) into a :class:`CSR`. O(nnz) memory: integer
    ``rows`` and ``cols`` of any width are used as they are (no int64 copies)."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    if not np.issubdtype(rows.dtype, np.integer):
        rows = rows.astype(np.int64)
    if not np.issubdtype(cols.dtype, np.integer):
        cols = cols.astype(np.int64)
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return CSR(
        indptr=indptr,
        indices=cols[order].astype(np.int32, copy=False),
        values=np.asarray(values, dtype=np.float64)[order],
        order=order.astype(np.int64, copy=False),
        n_cols=int(n_cols),
    )


@dataclass(frozen=True, eq=False)
class RatingMatrix(IdMaps):
    """Ratings addressed by contiguous indices, grouped by user and by item.

    Row ``u`` is user ``user_ids[u]`` and column ``i`` is movie ``item_ids[i]`` (both sorted
    ascending). ``users``, ``items`` and ``values`` keep the triples in the input order;
    ``by_user`` is the CSR over users and ``by_item`` the CSR over items (the transpose).
    """

    user_ids: np.ndarray  # (n_users,) int64, ascending
    item_ids: np.ndarray  # (n_items,) int64, ascending
    users: np.ndarray  # (nnz,) int32 row of each rating
    items: np.ndarray  # (nnz,) int32 column of each rating
    values: np.ndarray  # (nnz,) float64 stars
    by_user: CSR
    by_item: CSR

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.n_items)

    @property
    def nnz(self) -> int:
        return len(self.values)

    @property
    def density(self) -> float:
        """Observed cells / possible cells."""
        return self.nnz / (self.n_users * self.n_items)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index maps, the triples and both CSR groupings."""
        arrays = (self.user_ids, self.item_ids, self.users, self.items, self.values)
        return sum(a.nbytes for a in arrays) + self.by_user.nbytes + self.by_item.nbytes

    def to_dense(self, fill: float = np.nan) -> np.ndarray:
        """The full (n_users, n_items) float64 array, ``fill`` in unobserved cells.

        Only for small data: raises ``MemoryError`` above ``MAX_DENSE_CELLS`` cells.
        """
        cells = self.n_users * self.n_items
        if cells > MAX_DENSE_CELLS:
            raise MemoryError(
                f"a dense {self.n_users} x {self.n_items} matrix has {cells:,} cells "
                f"({dense_bytes(self.n_users, self.n_items) / 1e9:.1f} GB); the limit is "
                f"{MAX_DENSE_CELLS:,}. Work with the sparse form instead."
            )
        dense = np.full(self.shape, fill, dtype=np.float64)
        dense[self.users, self.items] = self.values
        return dense

    def to_frame(self) -> pd.DataFrame:
        """The triples as a DataFrame with raw ids: columns userId, movieId, rating."""
        return pd.DataFrame(
            {
                "userId": self.user_ids[self.users],
                "movieId": self.item_ids[self.items],
                "rating": self.values,
            }
        )


def index_of(sorted_ids: np.ndarray, query) -> np.ndarray:
    """Positions of ``query`` ids in the ascending array ``sorted_ids``; -1 where absent."""
    query = np.asarray(query)
    if len(sorted_ids) == 0:
        return np.full(query.shape, -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, query)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == query, pos, -1).astype(np.int64, copy=False)


def build_matrix(
    ratings: pd.DataFrame,
    *,
    user_col: str = USER,
    item_col: str = ITEM,
    rating_col: str = RATING,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> RatingMatrix:
    """Build a :class:`RatingMatrix` from a ratings table.

    ``user_ids`` / ``item_ids`` fix the index maps (e.g. to give a test set the rows and columns of
    its training set); by default they are the sorted unique ids of ``ratings``. Raises
    ``ValueError`` for an empty table, missing columns, NaN ratings, ids absent from given maps,
    and duplicate (user, item) pairs (naming the first few).
    """
    check_ratings("ratings", ratings, columns=(user_col, item_col, rating_col))
    values = ratings[rating_col].to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise ValueError(
            f"{len(bad)} rating(s) are NaN or infinite, first at row position(s) "
            f"{bad[:5].tolist()}; drop or fix them first"
        )
    for col in (user_col, item_col):
        n_missing = int(ratings[col].isna().sum())
        if n_missing:
            raise ValueError(f"{n_missing} row(s) have a missing {col}; drop or fix them first")
    raw_users = ratings[user_col].to_numpy()
    raw_items = ratings[item_col].to_numpy()
    if user_ids is None:
        user_ids = np.unique(raw_users)
    if item_ids is None:
        item_ids = np.unique(raw_items)
    # integer ids are stored as int64 whatever the input width (int32 ids from a loader, say)
    user_ids = np.asarray(user_ids)
    item_ids = np.asarray(item_ids)
    if np.issubdtype(user_ids.dtype, np.integer):
        user_ids = user_ids.astype(np.int64)
    if np.issubdtype(item_ids.dtype, np.integer):
        item_ids = item_ids.astype(np.int64)
    for name, ids in (("user_ids", user_ids), ("item_ids", item_ids)):
        if len(ids) > 1 and np.any(ids[1:] <= ids[:-1]):
            raise ValueError(f"{name} must be strictly ascending (sorted, no repeats)")
    users = index_of(user_ids, raw_users)
    items = index_of(item_ids, raw_items)
    for name, idx, raw in (("user", users, raw_users), ("item", items, raw_items)):
        if np.any(idx < 0):
            unknown = np.unique(raw[idx < 0])
            raise ValueError(
                f"{len(unknown)} {name} id(s) are not in the given {name}_ids, "
                f"e.g. {unknown[:5].tolist()}"
            )
    n_users, n_items = len(user_ids), len(item_ids)
    users, items = users.astype(np.int32), items.astype(np.int32)  # the triples' own dtype
    by_user = csr_from_triples(users, items, values, n_users, n_items)
    dup = np.flatnonzero((np.diff(users[by_user.order]) == 0) & (np.diff(by_user.indices) == 0))
    if len(dup):
        pairs = [
            (raw_users[by_user.order[j]].item(), raw_items[by_user.order[j]].item())
            for j in dup[:5]
        ]
        raise ValueError(
            f"{len(dup)} duplicate (user, item) pair(s), e.g. {pairs}; keep one rating per pair"
        )
    by_item = csr_from_triples(items, users, values, n_items, n_users)
    return RatingMatrix(
        user_ids=user_ids,
        item_ids=item_ids,
        users=users,
        items=items,
        values=values,
        by_user=by_user,
        by_item=by_item,
    )


def as_matrix(ratings: pd.DataFrame | RatingMatrix) -> RatingMatrix:
    """Accept either a ratings table or an already built matrix."""
    if isinstance(ratings, RatingMatrix):
        return ratings
    if isinstance(ratings, pd.DataFrame):
        return build_matrix(ratings)
    raise TypeError(
        f"expected a pandas DataFrame (userId, movieId, rating) or a RatingMatrix, "
        f"got {type(ratings).__name__}"
    )


def from_dense(
    dense: np.ndarray,
    *,
    missing: float = np.nan,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> RatingMatrix:
    """A :class:`RatingMatrix` of the observed cells of a dense array.

    Cells equal to ``missing`` (or NaN when ``missing`` is NaN) are unobserved. Ids default to
    ``0..n-1``.
    """
    dense = np.asarray(dense, dtype=np.float64)
    if dense.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {dense.shape}")
    observed = ~np.isnan(dense) if np.isnan(missing) else dense != missing
    rows, cols = np.nonzero(observed)
    n_users, n_items = dense.shape
    user_ids = np.arange(n_users) if user_ids is None else np.asarray(user_ids)
    item_ids = np.arange(n_items) if item_ids is None else np.asarray(item_ids)
    if user_ids.shape != (n_users,) or item_ids.shape != (n_items,):
        raise ValueError(
            f"a {n_users} x {n_items} array needs {n_users} user_ids and {n_items} item_ids, "
            f"got {len(user_ids)} and {len(item_ids)}"
        )
    frame = pd.DataFrame(
        {"userId": user_ids[rows], "movieId": item_ids[cols], "rating": dense[rows, cols]}
    )
    return build_matrix(frame, user_ids=user_ids, item_ids=item_ids)


def dense_bytes(n_users: int, n_items: int, itemsize: int = 8) -> int:
    """Bytes of a dense users × items array (float64 by default)."""
    return int(n_users) * int(n_items) * int(itemsize)


def sparse_bytes(nnz: int, n_users: int, n_items: int) -> int:
    """Bytes of one CSR grouping: int64 indptr, int32 indices, float64 values."""
    return 8 * (n_users + 1) + 4 * nnz + 8 * nnz


def matrix_bytes(n_users: int, n_items: int, nnz: int) -> int:
    """Bytes a :class:`RatingMatrix` of this size holds (what its ``nbytes`` reports).

    Both id maps (int64), the triples (int32 rows and columns, float64 stars) and two CSR
    groupings (int64 ``indptr``, int32 ``indices``, float64 ``values``, int64 ``order``):
    ``16 (n_users + n_items + 1) + 56 nnz``. Linear in the number of ratings.
    """
    n_users, n_items, nnz = int(n_users), int(n_items), int(nnz)
    ids = 8 * (n_users + n_items)
    triples = (4 + 4 + 8) * nnz
    groupings = 8 * (n_users + 1) + 8 * (n_items + 1) + 2 * (4 + 8 + 8) * nnz
    return ids + triples + groupings


def memory_table(n_users: int, n_items: int, nnz: int) -> pd.DataFrame:
    """Bytes of the dense and sparse forms of a users × items rating matrix with ``nnz`` ratings.

    One row per storage form (dense float64, dense float32, the COO triples, one CSR grouping,
    the whole :class:`RatingMatrix`), columns ``bytes`` and ``GB`` (10^9 bytes). Nothing is
    allocated, so this works for matrices far too large to build.
    """
    sizes = {
        "dense float64": dense_bytes(n_users, n_items, 8),
        "dense float32": dense_bytes(n_users, n_items, 4),
        "triples (int32, int32, float64)": 16 * int(nnz),
        "one CSR (indptr, indices, values)": sparse_bytes(nnz, n_users, n_items),
        "RatingMatrix (maps, triples, both CSR)": matrix_bytes(n_users, n_items, nnz),
    }
    table = pd.DataFrame({"bytes": pd.Series(sizes, dtype="int64")})
    table["GB"] = table["bytes"] / 1e9
    table.index.name = "storage"
    return table


def dense_block(
    matrix: RatingMatrix, n_rows: int = 50, n_cols: int = 50, *, max_rounds: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a dense ``n_rows`` × ``n_cols`` block of the matrix.

    Finding the densest block exactly is a hard combinatorial problem, so this climbs: start from
    the most active users and the most rated movies, then alternately pick the ``n_cols`` movies
    rated most often by the chosen users and the ``n_rows`` users who rated most of the chosen
    movies, until the choice stops changing. No round lowers the block's observed cells. Returns
    sorted row numbers (n_rows,) and column numbers (n_cols,), O(nnz) work per round.
    """
    for name, size, limit in (
        ("n_rows", n_rows, matrix.n_users),
        ("n_cols", n_cols, matrix.n_items),
    ):
        if not 1 <= size <= limit:
            raise ValueError(f"{name} must be between 1 and {limit}, got {size}")

    def top(counts: np.ndarray, size: int) -> np.ndarray:
        # stable: among equal counts the lower index wins, so the result is deterministic
        return np.sort(np.argsort(-counts, kind="stable")[:size])

    rows = top(matrix.by_user.counts(), n_rows)
    cols = top(matrix.by_item.counts(), n_cols)
    for _ in range(max_rounds):
        in_rows = np.zeros(matrix.n_users, dtype=bool)
        in_rows[rows] = True
        new_cols = top(
            np.bincount(matrix.items[in_rows[matrix.users]], minlength=matrix.n_items), n_cols
        )
        in_cols = np.zeros(matrix.n_items, dtype=bool)
        in_cols[new_cols] = True
        new_rows = top(
            np.bincount(matrix.users[in_cols[matrix.items]], minlength=matrix.n_users), n_rows
        )
        if np.array_equal(new_rows, rows) and np.array_equal(new_cols, cols):
            break
        rows, cols = new_rows, new_cols
    return rows, cols


def item_titles(matrix: RatingMatrix, movies: pd.DataFrame) -> np.ndarray:
    """Title of every column of ``matrix``, shape (n_items,), from a movies table with columns
    ``movieId`` and ``title``; movies missing from the table get an empty string."""
    missing = [c for c in ("movieId", "title") if c not in movies.columns]
    if missing:
        raise ValueError(f"movies table lacks column(s) {missing}; it has {list(movies.columns)}")
    titles = movies.drop_duplicates("movieId").set_index("movieId")["title"]
    return titles.reindex(matrix.item_ids).fillna("").to_numpy(dtype=object)
