"""Solutions of notebook 08's exercises (NMF)."""

from __future__ import annotations

import numpy as np

from helpers.baselines import fit_biases
from helpers.data import load_ratings
from helpers.matrix import build_matrix
from helpers.metrics import rmse
from helpers.nmf import fit_nmf
from helpers.splits import random_split


def mu_update_P(T, mask, P, Q, reg, eps):
    W = mask.astype(float)
    T = np.where(mask, T, 0.0)  # unobserved cells are never used
    lam_u = reg * W.sum(axis=1)
    return P * (T @ Q + eps) / ((W * (P @ Q.T)) @ Q + lam_u[:, None] * P + eps)


def ex_08_1():
    return mu_update_P


def ex_08_2() -> str:
    return "b"  # (PO)(QO)^T = P Q^T and the norms are unchanged; O has negative entries


def ex_08_3() -> float:
    train, test, _ = random_split(load_ratings(), 0.2, seed=0)
    model = fit_nmf(train, k=10, iterations=20, reg=0.1, shift=0.5, seed=0)
    return rmse(test.rating, model.predict(test.userId, test.movieId))


def ex_08_4() -> float:
    train, _, _ = random_split(load_ratings(), 0.2, seed=0)
    R = build_matrix(train)
    baseline = fit_biases(train, damping=2.0, iterations=5)
    residual = R.values - baseline.predict_index(R.users, R.items, clip=False)
    return float(np.mean(residual < -0.75))
