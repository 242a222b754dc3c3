"""Train/test splits of a ratings table, all deterministic given their ``seed``.

Every split takes a ratings table (columns ``userId``, ``movieId``, ``rating`` and, for the
temporal splits, ``timestamp``) and returns a :class:`Split`: the training and test tables (same
columns as the input, original index kept, input order kept) and a :class:`SplitReport` with the
sizes and the number of test users and movies that the training set never saw.

- :func:`random_split` — a random fraction of all ratings goes to test.
- :func:`kfold_split` — k splits whose test sets partition the ratings.
- :func:`per_user_split` — a fraction or a count of each user's ratings goes to test, and every
  user keeps at least ``min_train`` training ratings.
- :func:`temporal_split` — a global time cut: ratings at or after the cut go to test.
- :func:`last_n_split` — each user's ``n`` most recent ratings go to test.

:func:`time_leakage` measures how much of a test set lies in the past of its own training set.
Unseen users and movies at prediction time follow the policy in :mod:`helpers.model`.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from helpers.checks import check_int, check_ratings, check_seed
from helpers.schema import ITEM, RATING, TIMESTAMP, USER

TIME = TIMESTAMP


@dataclass(frozen=True)
class SplitReport:
    """Sizes of a split, and how much of the test set is unknown to the training set.

    ``unseen_users`` / ``unseen_movies`` count distinct test users / movies with no training
    rating; ``unseen_ratings`` counts test ratings whose user or movie (or both) is unseen.
    """

    name: str
    n_train: int
    n_test: int
    n_test_users: int
    n_test_movies: int
    unseen_users: int
    unseen_movies: int
    unseen_ratings: int

    @property
    def test_share(self) -> float:
        """Fraction of all ratings that are in the test set."""
        return self.n_test / (self.n_train + self.n_test)

    def to_dict(self) -> dict:
        """The fields plus ``test_share`` (rounded to 4 decimals)."""
        return {**asdict(self), "test_share": round(self.test_share, 4)}

    def to_frame(self) -> pd.DataFrame:
        """One row indexed by the split's name; ``pd.concat`` several to compare splits."""
        row = self.to_dict()
        return pd.DataFrame([row]).set_index("name")

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.n_train:,} train / {self.n_test:,} test ratings "
            f"({self.test_share:.1%} test); the test set has {self.n_test_users:,} users "
            f"({self.unseen_users:,} unseen in train) and {self.n_test_movies:,} movies "
            f"({self.unseen_movies:,} unseen); {self.unseen_ratings:,} test ratings involve "
            f"an unseen user or movie"
        )


class Split(NamedTuple):
    """A training table, a test table and their report: ``train, test, report = split``."""

    train: pd.DataFrame
    test: pd.DataFrame
    report: SplitReport


def split_report(train: pd.DataFrame, test: pd.DataFrame, name: str = "split") -> SplitReport:
    """Sizes of ``train`` and ``test`` and the test users, movies and ratings unseen in train."""
    seen_users = np.unique(train[USER].to_numpy())
    seen_movies = np.unique(train[ITEM].to_numpy())
    test_users = test[USER].to_numpy()
    test_movies = test[ITEM].to_numpy()
    new_user = ~np.isin(test_users, seen_users)
    new_movie = ~np.isin(test_movies, seen_movies)
    return SplitReport(
        name=name,
        n_train=len(train),
        n_test=len(test),
        n_test_users=len(np.unique(test_users)),
        n_test_movies=len(np.unique(test_movies)),
        unseen_users=len(np.unique(test_users[new_user])),
        unseen_movies=len(np.unique(test_movies[new_movie])),
        unseen_ratings=int(np.count_nonzero(new_user | new_movie)),
    )


def report_table(reports) -> pd.DataFrame:
    """Several :class:`SplitReport` (or :class:`Split`) side by side, one row each."""
    rows = [r.report if isinstance(r, Split) else r for r in reports]
    return pd.concat([r.to_frame() for r in rows])


# ----------------------------------------------------------------------------- splits


def random_split(ratings: pd.DataFrame, test_fraction: float = 0.2, *, seed: int = 0) -> Split:
    """Put ``round(test_fraction * n)`` ratings, chosen uniformly at random, in the test set.

    Users and movies with few ratings may end up only in test (see the report's ``unseen_*``).
    """
    _check_ratings(ratings)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    rng = _rng(seed)
    n = len(ratings)
    n_test = int(np.floor(test_fraction * n + 0.5))
    if not 0 < n_test < n:
        raise ValueError(
            f"test_fraction={test_fraction} of {n} rating(s) gives {n_test} test ratings; "
            f"both train and test must be non-empty"
        )
    is_test = np.zeros(n, dtype=bool)
    is_test[rng.permutation(n)[:n_test]] = True
    return _make_split(ratings, is_test, f"random {test_fraction:g}")


def kfold_split(ratings: pd.DataFrame, k: int = 5, *, seed: int = 0) -> list[Split]:
    """``k`` splits whose test sets are disjoint and together hold every rating exactly once.

    The ratings are shuffled and dealt round-robin into ``k`` folds, so fold sizes differ by at
    most one. Split ``f`` tests on fold ``f`` and trains on the other ``k - 1``.
    """
    _check_ratings(ratings)
    k = _check_int("k", k, minimum=2)
    n = len(ratings)
    if k > n:
        raise ValueError(f"k={k} folds need at least {k} ratings, got {n}")
    fold = np.empty(n, dtype=np.int64)
    fold[_rng(seed).permutation(n)] = np.arange(n) % k
    return [_make_split(ratings, fold == f, f"fold {f + 1}/{k}") for f in range(k)]


def fold_of(splits: list[Split]) -> pd.Series:
    """For k-fold splits: the fold number (0-based) of every rating, indexed like the input."""
    return pd.concat(
        [pd.Series(f, index=s.test.index, dtype="int64") for f, s in enumerate(splits)]
    ).sort_index()


def per_user_split(
    ratings: pd.DataFrame,
    *,
    test_fraction: float | None = None,
    test_count: int | None = None,
    min_train: int = 1,
    seed: int = 0,
) -> Split:
    """Hold out part of every user's ratings, chosen at random, keeping ``min_train`` in train.

    Give exactly one of ``test_fraction`` (each user sends ``round(test_fraction * n_u)`` of
    their ``n_u`` ratings to test) or ``test_count`` (each user sends that many). Either is capped
    at ``n_u - min_train`` so that every user keeps at least ``min_train`` training ratings and no
    test user is unseen. Raises ``ValueError`` naming the users with fewer than ``min_train``
    ratings. Vectorized: one sort of all ratings, no loop over users.
    """
    _check_ratings(ratings)
    per_user = _per_user_quota(test_fraction, test_count)
    min_train = _check_int("min_train", min_train, minimum=1)
    rng = _rng(seed)
    u, counts = _user_groups(ratings, min_train)
    n_test = np.minimum(per_user(counts), counts - min_train)
    # a random key per rating; within each user the n_test smallest keys go to test
    rank = _rank_within_user(u, counts, rng.random(len(ratings)))
    label = f"per-user {test_fraction:g}" if test_count is None else f"per-user {test_count}"
    return _make_split(ratings, rank < n_test[u], label)


def temporal_split(
    ratings: pd.DataFrame,
    *,
    quantile: float | None = None,
    cut=None,
    time_col: str = TIME,
) -> Split:
    """A global time cut: ratings at or after the cut go to test, the rest to train.

    Give exactly one of ``quantile`` (the cut is the timestamp at that quantile of all ratings,
    so about ``1 - quantile`` of them go to test) or ``cut`` (a timestamp: seconds since
    1970-01-01 UTC, a ``pd.Timestamp`` or a date string). ``time_col`` may hold Unix seconds or
    datetimes. No randomness. Users who only rated after the cut are unseen in train.
    """
    _check_ratings(ratings, time_col=time_col)
    if (quantile is None) == (cut is None):
        raise ValueError("give exactly one of quantile (e.g. 0.8) or cut (a timestamp)")
    times = ratings[time_col]
    if quantile is not None:
        quantile = _check_fraction("quantile", quantile)
        ordered = times.sort_values(ignore_index=True)
        cut_value = ordered.iloc[min(int(np.ceil(quantile * len(ordered))), len(ordered) - 1)]
        label = f"temporal q={quantile:g}"
    else:
        cut_value = _as_time_of(times, cut)
        label = f"temporal cut {cut}"
    is_test = (times >= cut_value).to_numpy(dtype=bool)
    n_test = int(is_test.sum())
    if not 0 < n_test < len(ratings):
        raise ValueError(
            f"the cut at {cut_value} puts {n_test} of {len(ratings)} ratings in test; "
            f"both train and test must be non-empty"
        )
    return _make_split(ratings, is_test, label)


def last_n_split(
    ratings: pd.DataFrame,
    n: int = 1,
    *,
    min_train: int = 1,
    time_col: str = TIME,
    seed: int = 0,
) -> Split:
    """Each user's ``n`` most recent ratings go to test ("leave the last n out").

    Capped at ``n_u - min_train`` so that every user keeps at least ``min_train`` training
    ratings; raises ``ValueError`` naming the users with fewer than ``min_train`` ratings. Ratings
    with the same timestamp are ordered by a random key drawn from ``seed``. Every test rating is
    at or after all training ratings of its user.
    """
    _check_ratings(ratings, time_col=time_col)
    n = _check_int("n", n, minimum=1)
    min_train = _check_int("min_train", min_train, minimum=1)
    rng = _rng(seed)
    u, counts = _user_groups(ratings, min_train)
    n_test = np.minimum(n, counts - min_train)
    # rank 0 = the newest rating of each user (ties broken by the random key)
    rank = _rank_within_user(u, counts, rng.random(len(ratings)), -_time_key(ratings[time_col]))
    return _make_split(ratings, rank < n_test[u], f"last {n} by time")


def time_leakage(
    train: pd.DataFrame, test: pd.DataFrame, *, per_user: bool = True, time_col: str = TIME
) -> float:
    """Share of test ratings that are older than some training rating, a fraction in [0, 1].

    With ``per_user=True``: older than the newest training rating of the same user (test users
    without training ratings count as not leaking). Such a test rating asks the model to
    "predict" a user's past from their future: 0 for :func:`last_n_split`, nearly 1 for a
    random split. With ``per_user=False``: older than the newest training rating of anyone,
    0 only for a global time cut (:func:`temporal_split`).
    """
    for name, table in (("train", train), ("test", test)):
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
        if time_col not in table.columns or USER not in table.columns:
            raise ValueError(
                f"{name} needs columns {USER!r} and {time_col!r}; it has {list(table.columns)}"
            )
    if len(test) == 0:
        raise ValueError("test is empty: there is no leakage to measure")
    if len(train) == 0:
        return 0.0
    if per_user:
        reference = test[USER].map(train.groupby(USER)[time_col].max())
        older = (test[time_col] < reference).fillna(False).to_numpy(dtype=bool)
    else:
        older = (test[time_col] < train[time_col].max()).to_numpy(dtype=bool)
    return float(older.mean())


# ----------------------------------------------------------------------------- internals


def _make_split(ratings: pd.DataFrame, is_test: np.ndarray, name: str) -> Split:
    train = ratings.iloc[np.flatnonzero(~is_test)]
    test = ratings.iloc[np.flatnonzero(is_test)]
    return Split(train, test, split_report(train, test, name))


def _check_ratings(ratings, *, time_col: str | None = None) -> None:
    check_ratings("ratings", ratings, allow_empty=True)
    if time_col is not None and time_col not in ratings.columns:
        raise ValueError(
            f"a temporal split needs a {time_col!r} column; the ratings have "
            f"{list(ratings.columns)}"
        )
    if len(ratings) == 0:
        raise ValueError("ratings are empty: there is nothing to split")
    for col in (USER, ITEM, RATING) + ((time_col,) if time_col else ()):
        bad = ratings.index[ratings[col].isna().to_numpy()]
        if len(bad):
            what = "rating(s) are NaN" if col == RATING else f"row(s) have a missing {col}"
            raise ValueError(
                f"{len(bad)} {what}, e.g. at index {bad[:5].tolist()}; drop or fix them first"
            )
    dup = ratings.duplicated([USER, ITEM]).to_numpy()
    if dup.any():
        pairs = ratings.loc[dup, [USER, ITEM]].head(5).itertuples(index=False, name=None)
        raise ValueError(
            f"{int(dup.sum())} duplicate (userId, movieId) pair(s), e.g. {list(pairs)}; "
            f"a pair in both train and test would leak its rating, keep one rating per pair"
        )


def _check_fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    value = float(value)
    if not 0 < value < 1:  # also refuses NaN
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value:g}")
    return value


def _check_int(name: str, value, *, minimum: int) -> int:
    return check_int(name, value, minimum=minimum)


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(check_seed("seed", seed))


def _per_user_quota(test_fraction, test_count):
    """A function from per-user counts to per-user test sizes."""
    if (test_fraction is None) == (test_count is None):
        raise ValueError("give exactly one of test_fraction (e.g. 0.2) or test_count (e.g. 5)")
    if test_fraction is not None:
        fraction = _check_fraction("test_fraction", test_fraction)
        return lambda counts: np.floor(fraction * counts + 0.5).astype(np.int64)
    count = _check_int("test_count", test_count, minimum=1)
    return lambda counts: np.full(len(counts), count, dtype=np.int64)


def _user_groups(ratings: pd.DataFrame, min_train: int) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous user number of each rating (nnz,) and ratings per user (n_users,); checks that
    every user has at least ``min_train`` ratings, naming those who do not."""
    user_ids, u = np.unique(ratings[USER].to_numpy(), return_inverse=True)
    counts = np.bincount(u, minlength=len(user_ids))
    short = np.flatnonzero(counts < min_train)
    if len(short):
        examples = ", ".join(f"{user_ids[s]} ({counts[s]})" for s in short[:5])
        raise ValueError(
            f"min_train={min_train} but {len(short)} user(s) have fewer ratings than that: "
            f"userId (ratings) {examples}; lower min_train or drop those users first"
        )
    return u, counts


def _rank_within_user(u: np.ndarray, counts: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Position (0-based) of each rating within its user when sorted by ``keys`` (last key
    primary, as in ``np.lexsort``). Shape (nnz,)."""
    order = np.lexsort((*keys, u))
    starts = np.cumsum(counts) - counts
    rank = np.empty(len(u), dtype=np.int64)
    rank[order] = np.arange(len(u)) - np.repeat(starts, counts)
    return rank


def _time_key(times: pd.Series) -> np.ndarray:
    """Timestamps as numbers that sort like the times (nnz,): Unix seconds as float64, datetimes
    as int64 counts of their unit (time-zone aware ones in UTC)."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    values = times.to_numpy()
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype(np.int64)
    return np.asarray(values, dtype=np.float64)


def _as_time_of(times: pd.Series, cut):
    """``cut`` in the units of the ``times`` column (Unix seconds or datetimes)."""
    is_datetime = pd.api.types.is_datetime64_any_dtype(times.dtype)
    if isinstance(cut, numbers.Real) and not isinstance(cut, bool):
        return pd.Timestamp(cut, unit="s", tz=getattr(times.dt, "tz", None)) if is_datetime else cut
    try:
        stamp = pd.Timestamp(cut)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"cut must be Unix seconds, a pd.Timestamp or a date, got {cut!r}"
        ) from err
    if is_datetime:
        tz = times.dt.tz
        if tz is not None and stamp.tzinfo is None:
            stamp = stamp.tz_localize(tz)
        return stamp
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.timestamp()
