"""Solutions of notebook 10's exercises (scale out). None of them starts Spark."""

from __future__ import annotations

import numpy as np

from helpers.data import load_ratings
from helpers.matrix import build_matrix
from helpers.spark import shipped_vectors
from helpers.splits import random_split


def expected_blocks(counts, B):
    counts = np.asarray(counts, dtype=float)
    return float(np.sum(B * (1 - (1 - 1 / B) ** counts)))


def ex_10_1():
    return expected_blocks


def ex_10_2() -> int:
    train, _, _ = random_split(load_ratings(), 0.2, seed=0)
    shipped = shipped_vectors(build_matrix(train), 4)
    return int(shipped["users_to_items"].sum() + shipped["items_to_users"].sum())


def ex_10_3() -> float:
    return ex_10_2() * 100 * 4 / 2**20


def ex_10_4() -> str:
    return "a"  # numExplicits * regParam: ALS-WR's lambda * n_u
