"""Solutions of notebook 09's exercises (neural recommenders)."""

from __future__ import annotations

import numpy as np


def gmf_user_factors(h, P):
    return P * h  # h . (p ⊙ q) = (h ⊙ p) . q


def ex_09_1():
    return gmf_user_factors


def ex_09_2() -> int:
    users, movies, k, hidden = 610, 8_942, 50, 100
    embeddings = (users + movies) * k
    layer = 2 * k * hidden + hidden  # weights from both embeddings, and biases
    output = hidden + 1
    return embeddings + layer + output


def mf_grad_P(P, Q, user_bias, item_bias, users, items, ratings, mu, reg):
    pu, qi = P[users], Q[items]
    e = ratings - (mu + user_bias[users] + item_bias[items] + np.sum(pu * qi, axis=1))
    grad = np.zeros_like(P)
    np.add.at(grad, users, -e[:, None] * qi + reg * pu)
    return grad


def ex_09_3():
    return mf_grad_P
