"""Solutions of notebook 05's exercises (evaluation)."""

from __future__ import annotations

from functools import partial

import numpy as np

from helpers.baselines import fit_biases, most_popular
from helpers.data import load_ratings
from helpers.evaluation import cross_validate
from helpers.metrics import ranking_report
from helpers.splits import random_split


def ndcg_at(hits, n_relevant: int, N: int) -> float:
    discount = 1 / np.log2(np.arange(2, N + 2))
    dcg = np.asarray(hits[:N], dtype=float) @ discount
    ideal = discount[: min(N, n_relevant)].sum()
    return float(dcg / ideal)


def ex_05_1():
    return ndcg_at


def ex_05_2() -> float:
    mu, damping = 3.5, 2.0
    return (5.0 - mu) / (damping + 1)


def ex_05_3() -> float:
    train, test, _ = random_split(load_ratings(), 0.2, seed=0)
    return ranking_report(most_popular(train), train, test, k=5)["ndcg"]


def ex_05_4() -> str:
    return "c"  # equal user weights raise it (0.8883); the root inside the mean lowers it more


def ex_05_5() -> float:
    fits = {"biases": partial(fit_biases, damping=2.0, iterations=5)}
    folds = cross_validate(fits, load_ratings(), n_folds=5, seed=0)
    return float(folds["rmse"].mean())
