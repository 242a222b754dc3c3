"""Solutions of notebook 02's exercises (the rating matrix and splits)."""

from __future__ import annotations

import numpy as np

from helpers.data import load_ratings
from helpers.splits import random_split


def indptr_of(rows, n_rows: int) -> np.ndarray:
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(np.asarray(rows, dtype=np.int64), minlength=n_rows), out=indptr[1:])
    return indptr


def ex_02_1():
    return indptr_of


def ex_02_2() -> int:
    n, m, nnz = 6_040, 3_706, 1_000_209
    return 16 * (n + m + 1) + 56 * nnz


def ex_02_3() -> int:
    return random_split(load_ratings(), 0.2, seed=1).report.unseen_ratings


def ex_02_4() -> str:
    return "d"  # every user keeps its older ratings, and tests only its newest ones
