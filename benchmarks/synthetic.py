"""Synthetic explicit ratings with a known low-rank structure, for scaling measurements.

A rating is ``mu + b_u + b_i + p_u . q_i + noise``, clipped to 0.5–5 stars and rounded to the
half-star grid, so it looks like MovieLens (mean about 3.5 stars, standard deviation about 1).
Which (user, movie) pairs are rated follows Zipf-like popularity on both sides: the user (or
movie) of popularity rank ``r`` is drawn with probability about ``(r + offset) ** -exponent``, so
a few movies are rated by a large share of users and most movies by a handful, and a few users
rate thousands of movies while most rate a few dozen. Pairs are drawn independently from the two
popularities, duplicates are dropped and more pairs are drawn until exactly ``n_ratings``
distinct pairs exist.

Memory is O(n_ratings): the generator never allocates a users × movies array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Sizes measured by ``--scale`` by default (number of ratings).
DEFAULT_SIZES = (100_000, 1_000_000, 5_000_000, 25_000_000)

#: Shape of the largest default size: 25 million ratings by 200k users on 50k movies.
LARGEST = (25_000_000, 200_000, 50_000)

_CHUNK = 1 << 20  # ratings per chunk when computing the low-rank part (keeps temporaries small)
_MAX_ROUNDS = 60  # rounds of drawing more pairs before giving up on a too dense request


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of the generator (defaults give MovieLens-like statistics)."""

    rank: int = 10  # rank of the hidden factor structure
    mu: float = 3.5  # global mean before clipping, stars
    user_bias_sd: float = 0.4  # stars
    item_bias_sd: float = 0.5  # stars
    interaction_sd: float = 0.5  # standard deviation of p_u . q_i, stars
    noise_sd: float = 0.5  # standard deviation of the noise, stars
    user_exponent: float = 1.0  # Zipf exponent of user activity
    user_offset: float = 100.0  # flattens the head of user activity
    item_exponent: float = 2.0  # Zipf exponent of movie popularity
    item_offset: float = 250.0  # flattens the head of movie popularity


def default_shape(n_ratings: int) -> tuple[int, int]:
    """Users and movies for a data set of ``n_ratings`` ratings.

    Users grow linearly with the ratings (125 per user on average, as in the largest MovieLens
    sets) and movies with their square root, reaching 200k users × 50k movies at 2.5e7 ratings.
    """
    total, users, items = LARGEST
    n_users = max(10, round(users * n_ratings / total))
    n_items = max(10, round(items * np.sqrt(n_ratings / total)))
    return n_users, n_items


def power_law_ranks(
    n: int, exponent: float, offset: float, size: int, rng: np.random.Generator
) -> np.ndarray:
    """``size`` popularity ranks in ``0..n-1`` drawn with density proportional to
    ``(rank + offset) ** -exponent`` (a continuous Zipf law, sampled by inverting its CDF).

    Returns int64, shape (size,). O(size) time and memory, whatever ``n``.
    """
    if offset <= 0 or exponent < 0:
        raise ValueError(f"need offset > 0 and exponent >= 0, got {offset} and {exponent}")
    u = rng.random(size)
    lo, hi = float(offset), float(n + offset)
    if abs(exponent - 1.0) < 1e-12:
        x = lo * (hi / lo) ** u
    else:
        e = 1.0 - exponent
        x = (lo**e + u * (hi**e - lo**e)) ** (1.0 / e)
    ranks = (x - offset).astype(np.int64)
    return np.clip(ranks, 0, n - 1, out=ranks)


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """The distinct values of ``a``, ascending, by sorting (in place) and dropping repeats.

    Same result as ``np.unique(a)``, faster on large int64 arrays than its hash-based path.
    """
    a.sort()
    if len(a) < 2:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def distinct_pairs(
    n_ratings: int,
    n_users: int,
    n_items: int,
    rng: np.random.Generator,
    spec: SyntheticSpec = SyntheticSpec(),
) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``n_ratings`` distinct (user, item) index pairs, sorted by user then item.

    Returns ``(users, items)``, two int32 arrays of shape (n_ratings,).
    """
    # popularity rank -> index: a random permutation, so ids carry no popularity order
    user_of_rank = rng.permutation(n_users).astype(np.int64)
    item_of_rank = rng.permutation(n_items).astype(np.int64)
    keys = np.empty(0, dtype=np.int64)
    for _ in range(_MAX_ROUNDS):
        missing = n_ratings - len(keys)
        size = int(missing * 1.15) + 1000
        draw = user_of_rank[
            power_law_ranks(n_users, spec.user_exponent, spec.user_offset, size, rng)
        ]
        draw *= n_items
        draw += item_of_rank[
            power_law_ranks(n_items, spec.item_exponent, spec.item_offset, size, rng)
        ]
        keys = sorted_unique(np.concatenate([keys, draw]))
        del draw
        if len(keys) >= n_ratings:
            break
    if len(keys) < n_ratings:
        raise RuntimeError(
            f"could not place {n_ratings:,} distinct ratings on {n_users:,} users x "
            f"{n_items:,} movies in {_MAX_ROUNDS} rounds; use fewer ratings or more users/movies"
        )
    if len(keys) > n_ratings:  # drop a random surplus, keeping the sorted order
        drop = rng.choice(len(keys), size=len(keys) - n_ratings, replace=False)
        mask = np.ones(len(keys), dtype=bool)
        mask[drop] = False
        keys = keys[mask]
    users = (keys // n_items).astype(np.int32)
    items = (keys % n_items).astype(np.int32)
    return users, items


def synthetic_ratings(
    n_ratings: int,
    n_users: int | None = None,
    n_items: int | None = None,
    *,
    seed: int = 0,
    spec: SyntheticSpec = SyntheticSpec(),
) -> pd.DataFrame:
    """A ratings table of exactly ``n_ratings`` distinct (userId, movieId) pairs.

    Columns: ``userId`` (int32, 1-based), ``movieId`` (int32, 1-based), ``rating`` (float64,
    0.5–5 on the half-star grid). ``n_users``/``n_items`` default to :func:`default_shape`. Users
    or movies that drew no rating are absent. Deterministic for a given ``seed``.
    """
    if isinstance(n_ratings, bool) or not isinstance(n_ratings, int | np.integer):
        raise TypeError(f"n_ratings must be an integer, got {type(n_ratings).__name__}")
    if n_ratings < 1:
        raise ValueError(f"n_ratings must be at least 1, got {n_ratings}")
    default_users, default_items = default_shape(int(n_ratings))
    n_users = default_users if n_users is None else n_users
    n_items = default_items if n_items is None else n_items
    if n_users < 1 or n_items < 1:
        raise ValueError(f"need at least one user and one movie, got {n_users} x {n_items}")
    if n_ratings > n_users * n_items // 2:
        raise ValueError(
            f"{n_ratings:,} ratings do not fit on {n_users:,} users x {n_items:,} movies: "
            f"at most half of the {n_users * n_items:,} cells may be rated"
        )
    if spec.rank < 1:
        raise ValueError(f"rank must be at least 1, got {spec.rank}")
    rng = np.random.default_rng(seed)
    users, items = distinct_pairs(int(n_ratings), n_users, n_items, rng, spec)

    # Hidden structure: biases and factors scaled so that p_u . q_i has sd interaction_sd.
    scale = (spec.interaction_sd**2 / spec.rank) ** 0.25
    user_bias = rng.normal(0.0, spec.user_bias_sd, n_users)
    item_bias = rng.normal(0.0, spec.item_bias_sd, n_items)
    p = rng.normal(0.0, scale, (n_users, spec.rank))
    q = rng.normal(0.0, scale, (n_items, spec.rank))
    rating = np.empty(len(users), dtype=np.float64)
    for lo in range(0, len(users), _CHUNK):
        u, i = users[lo : lo + _CHUNK], items[lo : lo + _CHUNK]
        stars = spec.mu + user_bias[u] + item_bias[i] + np.einsum("nk,nk->n", p[u], q[i])
        stars += rng.normal(0.0, spec.noise_sd, len(u))
        rating[lo : lo + _CHUNK] = np.clip(np.round(stars * 2.0) / 2.0, 0.5, 5.0)
    return pd.DataFrame(
        {"userId": users + np.int32(1), "movieId": items + np.int32(1), "rating": rating},
        copy=False,
    )
