"""Error metrics for predicted ratings, and ranking metrics for top-k recommendation lists.

**Rating metrics** compare predicted with held-out stars: :func:`rmse` and :func:`mae` over all
test ratings (users with many ratings weigh more), :func:`user_rmse` and :func:`user_mae` averaged
per user (every user counts once), and :func:`rating_report` for all four at once.

**Ranking metrics** judge the list of the ``k`` movies a model would show each user. The rules,
used by every notebook of the series:

* *Catalogue*: the movies of the training set (a model cannot recommend what it never saw).
* *Candidates* of a user: the catalogue minus the movies that user rated in training.
* *Relevant*: a candidate the user rated ``>= threshold`` stars in the test set (4 by default).
  Relevant test movies outside the catalogue cannot be recommended by any model; they are dropped
  and counted (``n_relevant_outside_catalogue``).
* *The list*: the ``k`` candidates with the highest scores. **Ties** are broken
  deterministically: among equal scores the movie with the smaller movieId comes first. A user
  with fewer than ``k`` candidates gets a shorter list (padded with ``-1`` internally).
* *Users*: every user of the test set gets a list; coverage and popularity are computed over all
  these lists. Precision, recall, NDCG, MAP and hit rate are averaged over the users with at least
  one relevant test movie; the others are excluded and counted (``n_users_no_relevant``).

Definitions at ``k`` for one user with relevant set ``R`` (``|R| >= 1``) and list hits
``h_1..h_k`` (1 if the j-th recommended movie is relevant, 0 otherwise; empty slots are 0):
precision ``sum h / k`` (empty slots count as misses); recall ``sum h / |R|``; hit rate
``max h``; NDCG ``sum_j h_j / log2(j+1)`` divided by its ideal value
``sum_{j <= min(k, |R|)} 1 / log2(j+1)``; AP ``sum_j h_j * precision@j / min(k, |R|)``, and
MAP its mean over users.

Scores come from any :class:`~helpers.model.Scorer`: an :class:`~helpers.model.MFModel`
(unclipped ``mu + b_u + b_i + p_u.q_i``, with the series' unseen policy), the popularity
baseline :func:`helpers.baselines.most_popular`, or a ranking model. Users are scored in chunks,
so memory is O(chunk_size × catalogue), never users × movies at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.checks import check_int, check_ratings, check_real
from helpers.history import rmse_of
from helpers.matrix import RatingMatrix, index_of
from helpers.model import MFModel, Scorer
from helpers.schema import ITEM, RATING, USER

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")


# ----------------------------------------------------------------------------- rating metrics


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"shapes differ: y_true {y_true.shape}, y_pred {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("no ratings to evaluate: the test set is empty")
    return y_true, y_pred


def rmse(y_true, y_pred) -> float:
    """Root mean squared error, in stars."""
    return rmse_of(*_pair(y_true, y_pred))


def mae(y_true, y_pred) -> float:
    """Mean absolute error, in stars."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def _per_user_mean(users, values: np.ndarray) -> np.ndarray:
    """Mean of ``values`` within each distinct user, shape (number of distinct users,)."""
    users = np.asarray(users)
    if users.shape != values.shape:
        raise ValueError(f"users has shape {users.shape} but the ratings have {values.shape}")
    _, inverse = np.unique(users, return_inverse=True)
    return np.bincount(inverse, weights=values) / np.bincount(inverse)


def user_rmse(users, y_true, y_pred) -> float:
    """RMSE of each user's test ratings, averaged over users (every user counts once), in stars.

    ``users``, ``y_true``, ``y_pred``: 1-D arrays of equal length, one entry per test rating.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(np.sqrt(_per_user_mean(users, (y_true - y_pred) ** 2))))


def user_mae(users, y_true, y_pred) -> float:
    """MAE of each user's test ratings, averaged over users (every user counts once), in stars."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(_per_user_mean(users, np.abs(y_true - y_pred))))


def _frame(ratings, name: str) -> pd.DataFrame:
    if isinstance(ratings, RatingMatrix):
        ratings = ratings.to_frame()
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(
            f"{name} must be a DataFrame (userId, movieId, rating) or a RatingMatrix, "
            f"got {type(ratings).__name__}"
        )
    return check_ratings(name, ratings)


def predicts_stars(model) -> bool:
    """Whether ``model`` predicts ratings (an MFModel fitted to stars, or any object with
    ``predict`` and no ``predicts_stars=False``), rather than only ranking."""
    return hasattr(model, "predict") and getattr(model, "predicts_stars", True)


def rating_report(model: MFModel, test: pd.DataFrame | RatingMatrix) -> dict[str, float]:
    """RMSE and MAE of ``model.predict`` on ``test``, over all ratings and averaged per user.

    Returns ``{"rmse", "mae", "user_rmse", "user_mae", "n_ratings"}`` (stars; a count).
    """
    if not predicts_stars(model):
        raise TypeError(
            f"rating metrics need a model that predicts stars, got {type(model).__name__} "
            f"{getattr(model, 'name', '')!r}: it only ranks"
        )
    test = _frame(test, "test")
    users = test[USER].to_numpy()
    y_true = test[RATING].to_numpy(dtype=np.float64)
    y_pred = model.predict(users, test[ITEM].to_numpy())
    return {
        "rmse": rmse(y_true, y_pred),
        "mae": mae(y_true, y_pred),
        "user_rmse": user_rmse(users, y_true, y_pred),
        "user_mae": user_mae(users, y_true, y_pred),
        "n_ratings": len(test),
    }


# ----------------------------------------------------------------------------- scoring and top-k


def score_matrix(scorer: Scorer, user_ids, item_ids) -> np.ndarray:
    """Ranking scores of raw ``user_ids`` (b,) for raw ``item_ids`` (m,), shape (b, m) float64:
    ``scorer.score(user_ids, item_ids)``, checked. For an :class:`MFModel` that is
    ``mu + b_u + b_i + p_u.q_i`` unclipped (clipping would create ties at 5 stars), with the
    unseen policy (:meth:`MFModel.score_rows`)."""
    if not isinstance(scorer, Scorer):
        raise TypeError(
            "scorer must be a Scorer (an MFModel, most_popular(...), or any object with name, "
            f"item_ids and score(user_ids, item_ids)), got {type(scorer).__name__}"
        )
    user_ids = np.asarray(user_ids)
    item_ids = np.asarray(item_ids)
    scores = np.asarray(scorer.score(user_ids, item_ids), dtype=np.float64)
    want = (len(user_ids), len(item_ids))
    if scores.shape != want:
        raise ValueError(f"the scorer returned shape {scores.shape}, expected {want}")
    return scores


def top_k(scores: np.ndarray, k: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """Columns of the ``k`` highest ``scores`` in each row, best first, shape (b, k) int64.

    ``candidates`` (b, m) bool marks the columns a row may recommend (default: all). Ties go to
    the smaller column number (with columns in ascending movieId order: the smaller movieId).
    Rows with fewer than ``k`` candidates are padded with ``-1``. Scores of candidates must be
    finite. Uses ``argpartition``-style selection, O(b × m), not a full sort.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-D (users, items) array, got shape {scores.shape}")
    k = check_int("k", k, minimum=1)
    b, m = scores.shape
    if candidates is None:
        candidates = np.ones(scores.shape, dtype=bool)
    elif candidates.shape != scores.shape:
        raise ValueError(f"candidates has shape {candidates.shape}, scores {scores.shape}")
    if not np.all(np.isfinite(scores[candidates])):
        raise ValueError("scores of candidate items must be finite (no NaN or infinity)")
    out = np.full((b, k), -1, dtype=np.int64)
    kk = min(k, m)
    if b == 0 or kk == 0:
        return out
    s = np.where(candidates, scores, -np.inf)
    kth = np.partition(s, m - kk, axis=1)[:, m - kk]  # the kk-th largest score of each row
    above = s > kth[:, None]
    tie = s == kth[:, None]
    room = kk - above.sum(axis=1)  # how many of the tied columns fit, smallest columns first
    crowded = np.flatnonzero(tie.sum(axis=1) > room)  # rows where some tied columns lose
    if len(crowded):
        rank = np.cumsum(tie[crowded], axis=1, dtype=np.int64)
        tie[crowded] &= rank <= room[crowded, None]
    chosen = above | tie
    cols = np.nonzero(chosen)[1].reshape(b, kk)  # exactly kk per row, ascending columns
    vals = np.take_along_axis(s, cols, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")  # stable: ties keep the smaller column
    cols = np.take_along_axis(cols, order, axis=1)
    valid = np.take_along_axis(candidates, cols, axis=1)
    out[:, :kk] = np.where(valid, cols, -1)
    return out


# ----------------------------------------------------------------------------- ranking metrics


def ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-user precision, recall, NDCG, AP and hit at ``k`` from a 0/1 hit matrix.

    ``hits`` (users, >= k): 1 where the j-th recommended movie is relevant (empty slots 0);
    ``n_relevant`` (users,): size of each user's relevant set, all >= 1. Returns arrays of shape
    (users,) under the keys of ``RANKING_METRICS`` (``"map"`` holds each user's AP).
    """
    hits = np.asarray(hits, dtype=np.float64)
    n_relevant = np.asarray(n_relevant, dtype=np.int64)
    k = check_int("k", k, minimum=1)
    if hits.ndim != 2 or hits.shape[1] < k:
        raise ValueError(f"hits must be (users, >= k={k}), got shape {hits.shape}")
    if n_relevant.shape != hits.shape[:1]:
        raise ValueError(f"n_relevant has shape {n_relevant.shape}, expected {hits.shape[:1]}")
    if np.any(n_relevant < 1):
        raise ValueError("every user passed to ranking_metrics needs at least one relevant item")
    h = hits[:, :k]
    n_hits = h.sum(axis=1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.minimum(n_relevant, k) - 1]
    precision_at_j = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    return {
        "precision": n_hits / k,
        "recall": n_hits / n_relevant,
        "ndcg": (h @ discount) / ideal,
        "map": (precision_at_j * h).sum(axis=1) / np.minimum(n_relevant, k),
        "hit_rate": (n_hits > 0).astype(np.float64),
    }


@dataclass(frozen=True, eq=False)
class RankedLists:
    """Top-k lists of every test user and what a report needs to score them.

    ``user_ids`` (b,) raw ids; ``items`` (b, k) catalogue columns, -1 for empty slots;
    ``hits`` (b, k) bool; ``n_relevant`` (b,); ``catalogue`` (m,) raw movieIds;
    ``item_counts`` (m,) training ratings per catalogue movie; ``n_train_users``;
    ``n_relevant_outside_catalogue``; ``threshold``.
    """

    user_ids: np.ndarray
    items: np.ndarray
    hits: np.ndarray
    n_relevant: np.ndarray
    catalogue: np.ndarray
    item_counts: np.ndarray
    n_train_users: int
    n_relevant_outside_catalogue: int
    threshold: float

    @property
    def k(self) -> int:
        return self.items.shape[1]


def rank_lists(
    scorer: Scorer,
    train: pd.DataFrame | RatingMatrix,
    test: pd.DataFrame | RatingMatrix,
    k: int = 10,
    *,
    threshold: float = 4.0,
    chunk_size: int = 256,
) -> RankedLists:
    """Top-``k`` lists for every test user under the rules of this module, in user chunks."""
    train = _frame(train, "train")
    test = _frame(test, "test")
    k = check_int("k", k, minimum=1)
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    threshold = check_real("threshold", threshold)

    catalogue, item_counts = np.unique(train[ITEM].to_numpy(), return_counts=True)
    users = np.unique(test[USER].to_numpy())
    # training ratings of the test users, as (position in `users`, catalogue column)
    tr_u = index_of(users, train[USER].to_numpy())
    tr_i = index_of(catalogue, train[ITEM].to_numpy())
    keep = tr_u >= 0
    tr_u, tr_i = _group(tr_u[keep], tr_i[keep])
    # relevant test ratings, as (position in `users`, catalogue column)
    rel = test[RATING].to_numpy(dtype=np.float64) >= threshold
    te_u = index_of(users, test[USER].to_numpy()[rel])
    te_i = index_of(catalogue, test[ITEM].to_numpy()[rel])
    outside = int(np.sum(te_i < 0))
    te_u, te_i = _group(te_u[te_i >= 0], te_i[te_i >= 0])

    b, m = len(users), len(catalogue)
    items = np.full((b, k), -1, dtype=np.int64)
    hits = np.zeros((b, k), dtype=bool)
    n_relevant = np.zeros(b, dtype=np.int64)
    for lo in range(0, b, chunk_size):
        hi = min(lo + chunk_size, b)
        candidates = np.ones((hi - lo, m), dtype=bool)
        a, z = np.searchsorted(tr_u, [lo, hi])
        candidates[tr_u[a:z] - lo, tr_i[a:z]] = False
        relevant = np.zeros((hi - lo, m), dtype=bool)
        a, z = np.searchsorted(te_u, [lo, hi])
        relevant[te_u[a:z] - lo, te_i[a:z]] = True
        relevant &= candidates  # a movie rated in training is not a candidate
        top = top_k(score_matrix(scorer, users[lo:hi], catalogue), k, candidates)
        items[lo:hi] = top
        hits[lo:hi] = (top >= 0) & relevant[np.arange(hi - lo)[:, None], np.maximum(top, 0)]
        n_relevant[lo:hi] = relevant.sum(axis=1)
    return RankedLists(
        user_ids=users,
        items=items,
        hits=hits,
        n_relevant=n_relevant,
        catalogue=catalogue,
        item_counts=item_counts,
        n_train_users=int(train[USER].nunique()),
        n_relevant_outside_catalogue=outside,
        threshold=float(threshold),
    )


def _group(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(rows, kind="stable")
    return rows[order], cols[order]


def summarize_lists(lists: RankedLists, k: int | None = None) -> dict[str, float]:
    """Averages of the ranking metrics at ``k`` (default: the lists' length) plus coverage and
    popularity of what is recommended. See the module docstring for the rules."""
    k = lists.k if k is None else check_int("k", k, minimum=1)
    if k > lists.k:
        raise ValueError(f"the lists hold {lists.k} items; cannot evaluate at k={k}")
    evaluated = lists.n_relevant > 0
    if not np.any(evaluated):
        raise ValueError(
            f"no test user has a relevant item (test rating >= {lists.threshold:g} on a movie "
            "of the training catalogue); ranking metrics are undefined"
        )
    per_user = ranking_metrics(lists.hits[evaluated], lists.n_relevant[evaluated], k)
    shown = lists.items[:, :k]
    shown = shown[shown >= 0]
    counts = lists.item_counts[shown]
    report: dict[str, float] = {"k": k}
    report.update({name: float(v.mean()) for name, v in per_user.items()})
    report["coverage"] = len(np.unique(shown)) / len(lists.catalogue)
    report["mean_popularity"] = float(counts.mean()) if len(counts) else float("nan")
    novelty = -np.log2(counts / lists.n_train_users)
    report["novelty"] = float(novelty.mean()) if len(counts) else float("nan")
    report["n_users"] = len(lists.user_ids)
    report["n_users_evaluated"] = int(evaluated.sum())
    report["n_users_no_relevant"] = int((~evaluated).sum())
    report["n_relevant_outside_catalogue"] = lists.n_relevant_outside_catalogue
    return report


def ranking_report(
    scorer: Scorer,
    train: pd.DataFrame | RatingMatrix,
    test: pd.DataFrame | RatingMatrix,
    k: int = 10,
    *,
    threshold: float = 4.0,
    chunk_size: int = 256,
) -> dict[str, float]:
    """Ranking metrics at ``k`` of ``scorer`` (a model or a score function) on ``test``.

    Returns a dict (one table row): ``k``; ``precision``, ``recall``, ``ndcg``, ``map``,
    ``hit_rate`` averaged over users with a relevant test movie; ``coverage`` (share of the
    catalogue that appears in some list); ``mean_popularity`` (average number of training ratings
    of a recommended movie); ``novelty`` (average ``-log2`` of the share of training users who
    rated a recommended movie, in bits); and the user counts. Rules: module docstring.
    """
    lists = rank_lists(scorer, train, test, k, threshold=threshold, chunk_size=chunk_size)
    return summarize_lists(lists)


def ranking_curve(
    scorer: Scorer,
    train: pd.DataFrame | RatingMatrix,
    test: pd.DataFrame | RatingMatrix,
    ks: Sequence[int] = (1, 5, 10, 20),
    *,
    threshold: float = 4.0,
    chunk_size: int = 256,
) -> pd.DataFrame:
    """:func:`ranking_report` at several ``ks`` from one ranking (lists of length ``max(ks)``;
    the top-k list is a prefix of the top-max list), one row per k."""
    ks = [check_int("each k of ks", k, minimum=1) for k in ks]
    if not ks:
        raise ValueError("ks is empty: give at least one k")
    lists = rank_lists(scorer, train, test, max(ks), threshold=threshold, chunk_size=chunk_size)
    return pd.DataFrame([summarize_lists(lists, k) for k in ks])
