"""Solutions of notebook 03's exercises (SGD)."""

from __future__ import annotations

from helpers.data import load_ratings
from helpers.metrics import rmse
from helpers.sgd import fit_sgd
from helpers.splits import random_split


def sgd_step(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    e = r - (mu + b_u + b_i + p_u @ q_i)  # the error, at the old values
    return (
        b_u + lr * (e - reg * b_u),
        b_i + lr * (e - reg * b_i),
        p_u + lr * (e * q_i - reg * p_u),
        q_i + lr * (e * p_u - reg * q_i),
    )


def ex_03_1():
    return sgd_step


def ex_03_2() -> tuple[float, float]:
    alpha, beta = 0.0002, 0.02
    return 2 * alpha, beta / 2  # the factor 2 of e² goes into the step; beta/2 is the penalty


def ex_03_3() -> float:
    lr, reg = 0.02, 0.05
    return 2 / (lr * (1 + reg))


def ex_03_4() -> float:
    train, test, _ = random_split(load_ratings(), 0.2, seed=0)
    model = fit_sgd(train, k=0, lr=0.01, reg=0.5, epochs=25, seed=0)
    return rmse(test.rating, model.predict(test.userId, test.movieId))


def ex_03_5() -> str:
    return "b"  # d/dp_u = -e q_i + reg p_u = 0 at p = q = 0, while the biases' gradient is -e
