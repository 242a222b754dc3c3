"""Solutions of notebook 04's exercises (SVD and ALS)."""

from __future__ import annotations

import numpy as np

from helpers.als import fit_als
from helpers.data import load_ratings
from helpers.metrics import rmse
from helpers.splits import random_split


def user_update(Q, item_bias, mu, items, stars, reg, weighted):
    Z = np.column_stack([np.ones(len(items)), Q[items]])  # design rows [1, q_i]
    y = stars - mu - item_bias[items]  # targets r - mu - b_i
    lam = reg * len(items) if weighted else reg
    x = np.linalg.solve(Z.T @ Z + lam * np.eye(Z.shape[1]), Z.T @ y)
    return x[0], x[1:]


def ex_04_1():
    return user_update


def ex_04_2() -> float:
    s = np.array([6.0, 4.0, 3.0, 2.0, 1.0])
    return float(np.sqrt(np.sum(s[2:] ** 2)))


def ex_04_3() -> float:
    train, test, _ = random_split(load_ratings(), 0.2, seed=0)
    model = fit_als(train, k=10, reg=0.1, iterations=10, weighted=True, seed=0)
    return rmse(test.rating, model.predict(test.userId, test.movieId))


def ex_04_4() -> str:
    return "b"  # movie: 10 against 0.1 * 3 = 0.3; busiest user: 10 against 0.1 * 2,150 = 215
