"""Solutions of notebook 06's exercises (implicit feedback)."""

from __future__ import annotations

import numpy as np

from helpers.data import load_ratings
from helpers.ease import fit_ease
from helpers.metrics import ranking_report
from helpers.splits import random_split


def ease_weights(G, lam):
    P = np.linalg.inv(G + lam * np.eye(len(G)))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B


def ex_06_1():
    return ease_weights


def bpr_triple_gradient(p_u, q_i, q_j, b_i, b_j, reg):
    x = b_i - b_j + p_u @ (q_i - q_j)
    g = 1 / (1 + np.exp(x))  # sigma(-x): how wrong the pair still is
    return (
        -g * (q_i - q_j) + reg * p_u,
        -g * p_u + reg * q_i,
        g * p_u + reg * q_j,
        -g + reg * b_i,
        g + reg * b_j,
    )


def ex_06_2():
    return bpr_triple_gradient


def ex_06_3() -> float:
    train, test, _ = random_split(load_ratings(), 0.2, seed=0)
    return ranking_report(fit_ease(train, reg=300.0, min_ratings=20), train, test, k=10)["ndcg"]


def ex_06_4() -> float:
    return 10 / 101  # the relevant movie is at each of the 101 positions with probability 1/101
