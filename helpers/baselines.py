"""Baselines every factorization must beat.

* :func:`fit_global_mean`: predict the mean training rating ``mu`` for everything.
* :func:`fit_biases`: ``mu + b_u + b_i`` with damped (ridge) user and item biases,
  minimising ``sum (r - mu - b_u - b_i)^2 + damping * (sum b_u^2 + sum b_i^2)`` by a few
  alternating closed-form passes.
* :func:`most_popular`: for ranking only, score every movie by its number of training ratings,
  the same for every user.

The first two return an :class:`~helpers.model.MFModel` with ``k = 0``, so they predict, rank and
cross-validate exactly like the factorization models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.checks import check_int, check_real
from helpers.foldin import RidgeFoldIn
from helpers.history import Monitor
from helpers.matrix import RatingMatrix, as_matrix, index_of
from helpers.model import MFModel


def fit_global_mean(train: pd.DataFrame | RatingMatrix) -> MFModel:
    """The model ``r_hat = mu`` (the mean training rating, stars): zero biases, ``k = 0``."""
    mat = as_matrix(train)
    return MFModel.from_matrix(mat, global_mean=float(mat.values.mean()), name="global mean")


def fit_biases(
    train: pd.DataFrame | RatingMatrix,
    *,
    damping: float = 5.0,
    iterations: int = 5,
    valid: pd.DataFrame | None = None,
) -> MFModel:
    """Damped user and item biases: ``r_hat = mu + b_u + b_i`` (stars), ``k = 0``.

    Each pass solves exactly for all item biases with the user biases fixed, then for all user
    biases with the item biases fixed:
    ``b_i = sum_u (r_ui - mu - b_u) / (damping + n_i)`` and
    ``b_u = sum_i (r_ui - mu - b_i) / (damping + n_u)``,
    where ``n_i``, ``n_u`` count training ratings. ``damping`` (a number of pseudo-ratings at the
    mean) shrinks the biases of rarely rated movies and of light users towards 0. One pass is the
    classic Koren (2009) estimate; more passes converge to the joint ridge solution, and the
    objective never increases. ``history`` records ``iteration`` and ``train_rmse`` (and
    ``valid_rmse`` when ``valid`` is given) after every pass. A new user folds in by the user
    pass (ridge with penalty ``damping``).
    """
    damping = check_real("damping", damping, minimum=0.0)
    iterations = check_int("iterations", iterations, minimum=1)
    monitor = Monitor(valid)
    mat = as_matrix(train)
    mu = float(mat.values.mean())
    resid = mat.values - mu
    n_u = np.bincount(mat.users, minlength=mat.n_users)
    n_i = np.bincount(mat.items, minlength=mat.n_items)
    model = MFModel.from_matrix(
        mat,
        global_mean=mu,
        name="biases",
        params={"damping": damping, "iterations": iterations},
        history=monitor.history,
        fold_in=RidgeFoldIn(reg=damping, weighted=False),
    )
    for _ in range(iterations):
        model.item_bias = np.bincount(
            mat.items, resid - model.user_bias[mat.users], mat.n_items
        ) / (damping + n_i)
        model.user_bias = np.bincount(
            mat.users, resid - model.item_bias[mat.items], mat.n_users
        ) / (damping + n_u)
        monitor.record(
            model, train_true=mat.values, train_pred=model.predict_index(mat.users, mat.items)
        )
    return model


@dataclass(frozen=True, eq=False, repr=False)
class PopularityScorer:
    """Ranking scores equal to each movie's number of training ratings, for every user: a
    :class:`~helpers.model.Scorer`. ``score(user_ids, item_ids)`` gives a
    (len(user_ids), len(item_ids)) float array; movies it never saw score 0.
    """

    item_ids: np.ndarray  # (m,) raw movieIds, ascending
    counts: np.ndarray  # (m,) training ratings per movie
    name: str = "most popular"

    def score(self, user_ids, item_ids) -> np.ndarray:
        idx = index_of(self.item_ids, np.asarray(item_ids))
        row = np.where(idx >= 0, self.counts[np.maximum(idx, 0)], 0).astype(np.float64)
        return np.tile(row, (len(np.atleast_1d(user_ids)), 1))

    def __repr__(self) -> str:
        return f"PopularityScorer(name={self.name!r}, items={len(self.item_ids)})"


def most_popular(train: pd.DataFrame | RatingMatrix) -> PopularityScorer:
    """A scorer that recommends the most-rated training movies to everyone (minus what each user
    already rated; ties go to the smaller movieId, as for every scorer)."""
    mat = as_matrix(train)
    counts = np.bincount(mat.items, minlength=mat.n_items).astype(np.int64)
    return PopularityScorer(item_ids=mat.item_ids, counts=counts)
