"""Shared fixtures and the one random-ratings factory of the test suite."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_ratings(
    seed: int = 0,
    n_users: int = 30,
    n_items: int = 25,
    density: float = 0.3,
    *,
    raw_ids: bool = False,
    low_rank: bool = False,
) -> pd.DataFrame:
    """Unique (userId, movieId, rating) triples, ratings on the half-star grid 0.5–5.

    ``density``: share of the n_users × n_items cells that are rated (every user and movie gets
    at least one rating). ``raw_ids``: sparse, non-contiguous ids (to catch id/row mix-ups)
    instead of 0..n-1. ``low_rank``: stars from a rank-2 taste model plus biases (learnable
    structure) instead of uniform noise.
    """
    rng = np.random.default_rng(seed)
    n_cells = n_users * n_items
    nnz = max(round(density * n_cells), max(n_users, n_items))
    # one rating per user and per movie first, then random other cells
    forced = np.unique(
        np.concatenate(
            [
                np.arange(n_users) * n_items + rng.integers(0, n_items, n_users),
                rng.integers(0, n_users, n_items) * n_items + np.arange(n_items),
            ]
        )
    )
    rest = np.setdiff1d(rng.permutation(n_cells), forced, assume_unique=True)
    cells = np.concatenate([forced, rest[: max(0, nnz - len(forced))]])
    u, i = cells // n_items, cells % n_items
    if low_rank:
        p, q = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
        bu, bi = 0.5 * rng.normal(size=n_users), 0.5 * rng.normal(size=n_items)
        raw = 3.5 + bu[u] + bi[i] + 0.6 * np.einsum("nk,nk->n", p[u], q[i])
        stars = np.clip(np.round(2 * (raw + 0.3 * rng.normal(size=len(u)))) / 2, 0.5, 5.0)
    else:
        stars = rng.integers(1, 11, size=len(u)) / 2
    if raw_ids:
        user_ids = np.sort(rng.choice(10_000, size=n_users, replace=False)) + 1
        item_ids = np.sort(rng.choice(100_000, size=n_items, replace=False)) + 1
        u, i = user_ids[u], item_ids[i]
    frame = pd.DataFrame({"userId": u, "movieId": i, "rating": stars})
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
