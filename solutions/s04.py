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


def ex_04_5() -> str:
    from helpers.evaluation import error_by_activity

    train, test, _ = random_split(load_ratings(), 0.2, seed=0)
    rmse_by_bin = {}
    for e, reg in {0.0: 10.0, 0.5: 1.4, 1.0: 0.14}.items():
        model = fit_als(train, k=50, reg=reg, iterations=15, reg_exponent=e, seed=0)
        rmse_by_bin[e] = error_by_activity(model, train, test).set_index("bin")["rmse"]
    gain_over_plain = rmse_by_bin[0.0] - rmse_by_bin[0.5]
    gain_over_wr = rmse_by_bin[1.0] - rmse_by_bin[0.5]
    # over e = 0 the lightest gain most (e = 0 holds rows with few ratings harder than e = 1/2);
    # over e = 1 the heaviest (e = 1 holds rows with many ratings harder)
    lightest_over_plain = gain_over_plain["10-19"] > gain_over_plain["500+"]
    lightest_over_wr = gain_over_wr["10-19"] > gain_over_wr["500+"]
    return {(True, True): "a", (True, False): "b", (False, True): "c", (False, False): "d"}[
        lightest_over_plain, lightest_over_wr
    ]
