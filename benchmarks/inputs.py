"""The data a benchmark runs on: the default split of ml-latest-small, or a teacher's own CSVs.

Any pair of CSV files with the columns of MovieLens ``ratings.csv`` (``userId``, ``movieId``,
``rating`` and optionally ``timestamp``; other columns are ignored) can stand in for the default
split. Every problem is reported at the boundary with the file and the data rows concerned
(data rows count from 1, after the header line).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from helpers.schema import RATING_COLUMNS, RATING_SCALE

REQUIRED_COLUMNS = RATING_COLUMNS
RATING_RANGE = RATING_SCALE  # stars, inclusive
DEFAULT_TEST_FRACTION = 0.2


def _rows(positions: np.ndarray, limit: int = 5) -> str:
    """Data row numbers (1-based) of the first few ``positions``, e.g. '3, 7 and 2 more'."""
    shown = ", ".join(str(int(p) + 1) for p in positions[:limit])
    more = f" and {len(positions) - limit} more" if len(positions) > limit else ""
    return shown + more


def _values(series: pd.Series, positions: np.ndarray, limit: int = 3) -> str:
    """The first few offending values as written: strings quoted, numbers plain."""
    values = (series.iloc[int(p)] for p in positions[:limit])
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)


def _numeric_column(column: pd.Series, name: str, where: str) -> np.ndarray:
    """``column`` as float64 (rating) or int64 (ids), or a ValueError naming the bad rows."""
    absent = np.flatnonzero(column.isna().to_numpy())
    if len(absent):
        raise ValueError(
            f"{where}: {len(absent)} missing (empty or NaN) {name} value(s), "
            f"at data row(s) {_rows(absent)}"
        )
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        raise ValueError(
            f"{where}: {len(bad)} {name} value(s) are not finite numbers, at data row(s) "
            f"{_rows(bad)} (values {_values(column, bad)})"
        )
    if name == "rating":
        lo, hi = RATING_RANGE
        bad = np.flatnonzero((numbers < lo) | (numbers > hi))
        if len(bad):
            raise ValueError(
                f"{where}: {len(bad)} rating(s) outside {lo:g}–{hi:g} stars, at data row(s) "
                f"{_rows(bad)} (values {_values(column, bad)})"
            )
        return numbers
    bad = np.flatnonzero(numbers != np.round(numbers))
    if len(bad):
        raise ValueError(
            f"{where}: {len(bad)} {name} value(s) are not integers, at data row(s) "
            f"{_rows(bad)} (values {_values(column, bad)})"
        )
    return numbers.astype(np.int64)


def read_ratings_csv(path: str | Path, label: str = "ratings") -> pd.DataFrame:
    """Read and check one ratings CSV.

    Returns a table with ``userId`` (int64), ``movieId`` (int64) and ``rating`` (float64, stars),
    in file order. Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for an
    unreadable or empty file, missing columns, missing (NaN) values, non-integer ids, non-numeric
    ratings, ratings outside 0.5–5 and duplicate (userId, movieId) pairs. ``label`` (e.g.
    ``"--train"``) starts every message.
    """
    path = Path(path)
    where = f"{label} file {path}"
    if not path.exists():
        raise FileNotFoundError(f"{where} does not exist")
    if not path.is_file():
        raise ValueError(f"{where} is not a file")
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{where} is empty: expected a header line {','.join(REQUIRED_COLUMNS)}"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where} is not a readable CSV file: {exc}") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{where} lacks column(s) {missing}: it has {list(table.columns)}, expected "
            f"{', '.join(REQUIRED_COLUMNS)} (and optionally timestamp) as in ratings.csv"
        )
    if len(table) == 0:
        raise ValueError(f"{where} has a header but no ratings")
    out = {col: _numeric_column(table[col], col, where) for col in REQUIRED_COLUMNS}
    ratings = pd.DataFrame(out)
    dup = np.flatnonzero(ratings.duplicated(["userId", "movieId"], keep="first").to_numpy())
    if len(dup):
        user, movie = (ratings[c].iloc[int(dup[0])] for c in ("userId", "movieId"))
        raise ValueError(
            f"{where}: {len(dup)} repeated (userId, movieId) pair(s), at data row(s) "
            f"{_rows(dup)} (first: userId={user}, movieId={movie}); "
            "keep one rating per pair"
        )
    return ratings


def load_pair(train_path: str | Path, test_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A teacher's own split: two checked ratings tables (see :func:`read_ratings_csv`)."""
    return read_ratings_csv(train_path, "--train"), read_ratings_csv(test_path, "--test")


def default_split(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded random 80/20 split of ml-latest-small (``helpers.splits.random_split``):
    ``(train, test)`` tables with userId, movieId, rating."""
    from helpers.data import load_ratings
    from helpers.splits import random_split

    ratings = load_ratings()
    train, test, _ = random_split(ratings, DEFAULT_TEST_FRACTION, seed=seed)
    columns = list(REQUIRED_COLUMNS)
    return train[columns].reset_index(drop=True), test[columns].reset_index(drop=True)


def describe(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """Sizes of a split, for the report."""
    return {
        "train_ratings": len(train),
        "test_ratings": len(test),
        "users": int(pd.concat([train["userId"], test["userId"]]).nunique()),
        "movies": int(pd.concat([train["movieId"], test["movieId"]]).nunique()),
    }
