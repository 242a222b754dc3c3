"""EASE (Steck 2019): an item-item model in closed form, "embarrassingly shallow autoencoder".

X is the binary users × movies matrix of who rated what. EASE predicts every column of X from the
*other* columns with one item-item weight matrix B,

.. math::

    \\min_B \\lVert X - X B \\rVert_F^2 + \\lambda \\lVert B \\rVert_F^2
    \\quad \\text{subject to} \\quad \\operatorname{diag}(B) = 0,

(without the constraint B = I would copy X). With the Lagrange multipliers of the constraint
the solution is closed form: with :math:`P = (X^\\top X + \\lambda I)^{-1}`,

.. math::  B = I - P \\operatorname{diag}(1 / \\operatorname{diag}(P)),
    \\qquad \\text{i.e. } B_{ij} = -P_{ij} / P_{jj}\\ (i \\ne j), \\quad B_{jj} = 0.

A user's scores are :math:`x_u B`: every movie gets the sum of the weights from the movies the
user rated. B is learned, not factorized: no latent factors, one matrix inverse.

**Memory.** The Gram matrix :math:`X^\\top X` and its inverse are dense m × m arrays of
``m² · 8`` bytes each (m = modelled movies): for all 8,942 movies of a MovieLens
ml-latest-small training set 640 MB each, for the 1,932 movies with at least 10 ratings 30 MB.
``min_ratings`` keeps only the movies with at least that many training ratings (the inverse
costs O(m³) time as well). X itself is never formed: the Gram matrix is accumulated over
chunks of users, so the rest of the memory is O(chunk · m + nnz).

**Scores** (:meth:`EASEScorer.score`, a :class:`~helpers.model.Scorer`): a training user gets
:math:`x_u B` for the modelled movies; movies outside the model (too few ratings, or never seen)
get that user's lowest modelled score minus 1, so they rank after every modelled movie. A user
the model never saw has no row of X: every movie scores its share of training users who rated
it (most popular first), unseen movies 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers.checks import check_int, check_positive
from helpers.matrix import CSR, RatingMatrix, as_matrix, csr_from_triples, index_of

#: Users per chunk when the Gram matrix is accumulated and when users are scored.
USER_CHUNK = 256


@dataclass(eq=False, repr=False)
class EASEScorer:
    """A fitted EASE model. ``item_ids`` (m,) the training catalogue (ascending), ``user_ids``
    (n,) the training users; ``kept`` (m_b,) catalogue columns of the modelled movies,
    ``weights`` B (m_b, m_b) with zero diagonal, ``interactions`` the training users' rated
    modelled movies (a CSR over columns 0..m_b-1), ``popularity`` (m,) training ratings per
    catalogue movie."""

    item_ids: np.ndarray
    user_ids: np.ndarray
    kept: np.ndarray
    weights: np.ndarray
    interactions: CSR
    popularity: np.ndarray
    name: str = "EASE"
    params: dict = field(default_factory=dict)

    def user_rows(self, rows: np.ndarray) -> np.ndarray:
        """The dense binary rows x_u (b, m_b) of training users ``rows`` (row numbers)."""
        x = np.zeros((len(rows), len(self.kept)))
        csr = self.interactions
        counts = csr.counts()[rows]
        local = np.repeat(np.arange(len(rows)), counts)
        starts = np.repeat(csr.indptr[rows], counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        x[local, csr.indices[starts + within]] = 1.0
        return x

    def score(self, user_ids, item_ids) -> np.ndarray:
        """Scores (b, m) of raw ``user_ids`` (b,) for raw ``item_ids`` (m,), module docstring:
        ``x_u B`` for modelled movies, fallbacks for everything else (all finite)."""
        u = index_of(self.user_ids, np.atleast_1d(np.asarray(user_ids)))
        cols = index_of(self.item_ids, np.atleast_1d(np.asarray(item_ids)))
        position = np.full(len(self.item_ids), -1, dtype=np.int64)
        position[self.kept] = np.arange(len(self.kept))
        modelled = np.where(cols >= 0, position[np.maximum(cols, 0)], -1)
        share = self.popularity / max(len(self.user_ids), 1)
        out = np.empty((len(u), len(cols)))
        out[:] = np.where(cols >= 0, share[np.maximum(cols, 0)], 0.0)  # unseen users
        seen = np.flatnonzero(u >= 0)
        for lo in range(0, len(seen), USER_CHUNK):
            rows = seen[lo : lo + USER_CHUNK]
            scores = self.user_rows(u[rows]) @ self.weights  # (b, m_b)
            floor = scores.min(axis=1, initial=0.0) - 1.0  # below every modelled movie
            block = np.repeat(floor[:, None], len(cols), axis=1)
            have = modelled >= 0
            block[:, have] = scores[:, modelled[have]]
            out[rows] = block
        return out

    def __repr__(self) -> str:
        return (
            f"EASEScorer(name={self.name!r}, users={len(self.user_ids)}, "
            f"items={len(self.item_ids)}, modelled={len(self.kept)}, "
            f"reg={self.params.get('reg')!r})"
        )


def ease_weights(gram: np.ndarray, reg: float) -> np.ndarray:
    """B = I - P diag(1/diag(P)), P = (gram + reg·I)⁻¹, for a Gram matrix ``gram`` (m, m):
    the constrained ridge solution of the module docstring (zero diagonal). O(m³) time,
    two m × m arrays of memory (``gram`` is not modified)."""
    m = gram.shape[0]
    p = gram + reg * np.eye(m)
    p = np.linalg.inv(p)
    b = p / (-np.diag(p))[None, :]  # B_ij = -P_ij / P_jj
    b[np.diag_indices(m)] = 0.0
    return b


def _gram(csr: CSR, n_cols: int) -> np.ndarray:
    """XᵀX (n_cols, n_cols) of the binary matrix with rows ``csr``, accumulated over chunks of
    USER_CHUNK rows: never the whole X."""
    gram = np.zeros((n_cols, n_cols))
    for lo in range(0, csr.n_rows, USER_CHUNK):
        hi = min(lo + USER_CHUNK, csr.n_rows)
        x = np.zeros((hi - lo, n_cols))
        a, z = csr.indptr[lo], csr.indptr[hi]
        x[csr.row_of_entry()[a:z] - lo, csr.indices[a:z]] = 1.0
        gram += x.T @ x
    return gram


def fit_ease(
    train: pd.DataFrame | RatingMatrix,
    *,
    reg: float = 300.0,
    min_ratings: int = 10,
    name: str = "EASE",
) -> EASEScorer:
    """EASE on who rated what in ``train`` (every rating is a 1, whatever its stars).

    ``reg`` (λ) is the ridge penalty, in the units of XᵀX (co-rating counts); ``min_ratings``
    keeps the movies with at least that many training ratings (memory ``m² · 8`` bytes per m × m
    array, two of them at the peak; module docstring). The default ``reg`` ranked best on a
    validation split of an ml-latest-small training set (notebook 06). Returns an
    :class:`EASEScorer`.
    """
    reg = check_positive("reg", reg, why="XᵀX is singular when two movies have the same raters")
    min_ratings = check_int("min_ratings", min_ratings, minimum=1)
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    matrix = as_matrix(train)
    popularity = matrix.by_item.counts()
    kept = np.flatnonzero(popularity >= min_ratings)
    if len(kept) == 0:
        raise ValueError(
            f"min_ratings={min_ratings} keeps no movie: the most rated one has "
            f"{popularity.max()} training ratings"
        )
    position = np.full(matrix.n_items, -1, dtype=np.int64)
    position[kept] = np.arange(len(kept))
    on = position[matrix.items] >= 0
    interactions = csr_from_triples(
        matrix.users[on],
        position[matrix.items[on]],
        np.ones(int(on.sum())),
        matrix.n_users,
        len(kept),
    )
    weights = ease_weights(_gram(interactions, len(kept)), reg)
    return EASEScorer(
        item_ids=matrix.item_ids,
        user_ids=matrix.user_ids,
        kept=kept,
        weights=weights,
        interactions=interactions,
        popularity=popularity,
        name=name,
        params={"reg": reg, "min_ratings": min_ratings},
    )
