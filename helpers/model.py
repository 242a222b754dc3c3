"""One model object for every algorithm of the series.

Every fit function (SGD, SVD, ALS, the baselines) returns an :class:`MFModel`:

.. math::  \\hat r_{ui} = \\mu + b_u + b_i + p_u^\\top q_i

with the global mean ``mu``, user and item biases, user and item factors and the raw-id maps
that say which row belongs to which userId / movieId. A model without biases has them at zero; a
model without factors has ``k == 0``.

**Unseen users and movies** (the policy of the whole series): a user or movie that the model never
saw in training has no bias and no factors, so its terms are dropped. An unseen user gets
``mu + b_i``, an unseen movie ``mu + b_u``, and both unseen get ``mu``. Predictions are clipped to
the rating scale, 0.5 to 5 stars.

**Scorers.** Ranking code (metrics, top-N, explanations) needs only scores: anything with a
``name``, ascending ``item_ids`` and ``score(user_ids, item_ids) -> (b, m)`` is a :class:`Scorer`.
:class:`MFModel` is one; so are the popularity baseline and the ranking models, which rank well
but predict no stars (``predicts_stars=False``: their ``predict`` refuses).

**Fold-in.** A model records in ``fold_in`` how a new user is solved under its own objective
(for example :class:`helpers.foldin.RidgeFoldIn`); ``None`` means the algorithm has no such rule,
and :func:`helpers.recommend.fold_in` refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from helpers.matrix import IdMaps
from helpers.schema import RATING_SCALE

if TYPE_CHECKING:
    from helpers.matrix import RatingMatrix
#: Pairs whose factor rows are gathered at once by ``predict``.
PREDICT_CHUNK = 65_536


@runtime_checkable
class Scorer(Protocol):
    """What ranking needs: ``score(user_ids (b,), item_ids (m,)) -> (b, m)`` float scores for raw
    ids (higher = recommend first; users or items the scorer never saw get a defined fallback,
    never an error), a ``name`` for tables, and the ascending raw ``item_ids`` it knows."""

    name: str
    item_ids: np.ndarray

    def score(self, user_ids, item_ids) -> np.ndarray: ...


@dataclass(eq=False)
class MFModel(IdMaps):
    """A fitted (biased) matrix factorization model. Shapes: n users, m items, k factors.

    ``predicts_stars=False`` marks a model fitted to rank (implicit feedback): its scores order
    movies but are not ratings, so :meth:`predict` raises ``TypeError``. ``fold_in`` is the
    algorithm's rule for a new user (module docstring), ``None`` if it has none.
    """

    global_mean: float
    user_bias: np.ndarray  # (n,)
    item_bias: np.ndarray  # (m,)
    user_factors: np.ndarray  # (n, k)
    item_factors: np.ndarray  # (m, k)
    user_ids: np.ndarray  # (n,) raw userId, ascending
    item_ids: np.ndarray  # (m,) raw movieId, ascending
    name: str = "model"
    params: dict = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    rating_scale: tuple[float, float] = RATING_SCALE
    predicts_stars: bool = True
    fold_in: Any = None

    @classmethod
    def from_matrix(
        cls,
        matrix: RatingMatrix,
        *,
        global_mean: float,
        user_bias: np.ndarray | None = None,
        item_bias: np.ndarray | None = None,
        user_factors: np.ndarray | None = None,
        item_factors: np.ndarray | None = None,
        **fields,
    ) -> MFModel:
        """A model on the users and movies of ``matrix`` (a RatingMatrix, or anything with
        ascending ``user_ids`` and ``item_ids``, such as another model); missing biases are zeros
        and missing factors make a ``k = 0`` model. Other ``fields`` (name, params, history,
        fold_in, …) pass on."""
        n, m = len(matrix.user_ids), len(matrix.item_ids)
        return cls(
            global_mean=float(global_mean),
            user_bias=np.zeros(n) if user_bias is None else user_bias,
            item_bias=np.zeros(m) if item_bias is None else item_bias,
            user_factors=empty_factors(n) if user_factors is None else user_factors,
            item_factors=empty_factors(m) if item_factors is None else item_factors,
            user_ids=matrix.user_ids,
            item_ids=matrix.item_ids,
            **fields,
        )

    def __post_init__(self) -> None:
        n, m = len(self.user_ids), len(self.item_ids)
        checks = {
            "user_bias": (self.user_bias.shape, (n,)),
            "item_bias": (self.item_bias.shape, (m,)),
            "user_factors": (self.user_factors.shape[:1], (n,)),
            "item_factors": (self.item_factors.shape[:1], (m,)),
        }
        for name, (got, want) in checks.items():
            if got != want:
                raise ValueError(f"{name} has leading shape {got}, expected {want}")
        if self.user_factors.shape[1] != self.item_factors.shape[1]:
            raise ValueError(
                f"user_factors has k={self.user_factors.shape[1]} but item_factors has "
                f"k={self.item_factors.shape[1]}"
            )

    @property
    def k(self) -> int:
        """Number of latent factors."""
        return self.user_factors.shape[1]

    def predict(self, users, items, *, clip: bool = True) -> np.ndarray:
        """Predicted stars for pairs of raw ``userId`` and ``movieId`` (array-likes of equal
        length), following the unseen policy above; clipped to the rating scale by default."""
        if not self.predicts_stars:
            raise TypeError(
                f"model {self.name!r} was fitted to rank movies, not to predict stars: its scores "
                "order a user's candidates but are not ratings. Use score() or ranking metrics"
            )
        users = np.asarray(users)
        items = np.asarray(items)
        if users.shape != items.shape:
            raise ValueError(
                f"users and items must have the same shape, got {users.shape} and {items.shape}"
            )
        return self.predict_index(self.user_index(users), self.item_index(items), clip=clip)

    def predict_index(self, u: np.ndarray, i: np.ndarray, *, clip: bool = True) -> np.ndarray:
        """Like :meth:`predict` but with row numbers; -1 marks an unseen user or item."""
        u = np.asarray(u, dtype=np.int64)
        i = np.asarray(i, dtype=np.int64)
        seen_u, seen_i = u >= 0, i >= 0
        uu, ii = np.where(seen_u, u, 0), np.where(seen_i, i, 0)
        pred = np.full(u.shape, self.global_mean, dtype=np.float64)
        if self.n_users:
            pred += np.where(seen_u, self.user_bias[uu], 0.0)
        if self.n_items:
            pred += np.where(seen_i, self.item_bias[ii], 0.0)
        if self.k and self.n_users and self.n_items:
            both = seen_u & seen_i
            pred[both] += predict_triples(uu[both], ii[both], self.user_factors, self.item_factors)
        return self.clip(pred) if clip else pred

    def score_rows(self, u, i=None) -> np.ndarray:
        """Unclipped scores ``mu + b_u + b_i + p_u . q_i`` of user rows ``u`` (b,) for item rows
        ``i`` (m,) (default: every item), shape (b, m), with the unseen policy: row -1 drops that
        side's bias and factors. Unclipped, because clipping would tie everything above 5 stars.
        The one scoring kernel of the series: ranking metrics, top-N and explanations use it."""
        u = np.atleast_1d(np.asarray(u, dtype=np.int64))
        seen_u = u >= 0
        uu = np.where(seen_u, u, 0)
        bu = np.where(seen_u, self.user_bias[uu], 0.0) if self.n_users else np.zeros(len(u))
        if i is None:
            bi, q = self.item_bias, self.item_factors
        else:
            i = np.atleast_1d(np.asarray(i, dtype=np.int64))
            seen_i = i >= 0
            ii = np.where(seen_i, i, 0)
            bi = np.where(seen_i, self.item_bias[ii], 0.0) if self.n_items else np.zeros(len(i))
            q = self.item_factors[ii] * seen_i[:, None] if self.n_items else None
        scores = self.global_mean + bu[:, None] + bi[None, :]
        if self.k and self.n_users and self.n_items:
            scores = scores + (self.user_factors[uu] * seen_u[:, None]) @ q.T
        return scores

    def score(self, user_ids, item_ids) -> np.ndarray:
        """:meth:`score_rows` for raw userIds (b,) and movieIds (m,): the :class:`Scorer` API."""
        return self.score_rows(self.user_index(user_ids), self.item_index(item_ids))

    def clip(self, stars: np.ndarray) -> np.ndarray:
        lo, hi = self.rating_scale
        return np.clip(stars, lo, hi)

    def __repr__(self) -> str:  # short and free of memory addresses, for notebooks
        return (
            f"{type(self).__name__}(name={self.name!r}, users={self.n_users}, "
            f"items={self.n_items}, k={self.k}, global_mean={self.global_mean:.4f})"
        )


def predict_triples(
    users: np.ndarray,
    items: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    user_bias: np.ndarray | None = None,
    item_bias: np.ndarray | None = None,
    mu: float = 0.0,
) -> np.ndarray:
    """``mu + b_u + b_i + p_u . q_i`` for row numbers ``users``/``items`` (nnz,) that are all
    seen; unclipped, (nnz,). Without biases only ``mu + p_u . q_i``.

    Gathers factor rows ``PREDICT_CHUNK`` pairs at a time, so the temporary memory is
    O(chunk * k), not O(nnz * k).
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    pred = np.empty(len(users), dtype=np.float64)
    for start in range(0, len(users), PREDICT_CHUNK):
        u, i = users[start : start + PREDICT_CHUNK], items[start : start + PREDICT_CHUNK]
        chunk = np.einsum("nk,nk->n", np.take(P, u, axis=0), np.take(Q, i, axis=0)) + mu
        if user_bias is not None:
            chunk += np.take(user_bias, u) + np.take(item_bias, i)
        pred[start : start + PREDICT_CHUNK] = chunk
    return pred


def empty_factors(n: int) -> np.ndarray:
    """A (n, 0) factor array, for models without latent factors."""
    return np.zeros((n, 0), dtype=np.float64)
