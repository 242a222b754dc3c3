"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008): learn from *who rated what*, then rank.

Every (user, movie) cell counts, rated or not. A rating is read as a **preference**
:math:`p_{ui} = 1` (or, with ``threshold``, ``1`` only for ratings ``>= threshold``) held with
**confidence** :math:`c_{ui} = 1 + \\alpha f(r_{ui})`; every unrated cell has :math:`p_{ui} = 0`
with confidence 1. The objective over all n × m cells is

.. math::

    L = \\sum_{u,i} c_{ui} (p_{ui} - x_u^\\top y_i)^2
        + \\lambda \\Big(\\sum_u \\lVert x_u \\rVert^2 + \\sum_i \\lVert y_i \\rVert^2\\Big)

with ``f`` one of :data:`CONFIDENCES`: ``"binary"`` (f = 1: every rating equally sure),
``"rating"`` (f = r, stars: a 5-star rating is 10 times surer than a half star) or ``"log"``
(f = log(1 + r / eps), Hu et al.'s damped form). The scores :math:`x_u^\\top y_i` order a
user's movies; they are not stars (the model has ``predicts_stars=False``).

**One half-step.** With the item factors Y (m, k) fixed, user u solves the ridge problem

.. math::  (Y^\\top C_u Y + \\lambda I)\\, x_u = Y^\\top C_u p_u,
    \\qquad Y^\\top C_u Y = Y^\\top Y + Y^\\top (C_u - I) Y

and :math:`C_u - I` is zero outside the user's rated movies, so :math:`Y^\\top Y` is computed once
per half-step for all users and the rest costs O(n_u k²) per user: a half-step is
O(nnz·k² + rows·k³) (``solver="exact"``) and never touches the users × items matrix. Users and
items are symmetric: items are updated with the roles swapped.

**Conjugate gradient** (Takács, Pilászy & Tikk 2011; ``solver="cg"``): instead of solving
exactly, take ``cg_steps`` CG steps on the same system, started from the current factors. A CG
step needs only the product :math:`A_u v = (Y^\\top Y + \\lambda I) v + Y_u^\\top (C_u - I)(Y_u v)`,
O(k² + n_u k), so a half-step costs O(cg_steps · (nnz·k + rows·k²)): no k × k system is formed
per row. After k steps CG is exact (in exact arithmetic); 3 are usually enough because the
factors change little between iterations.

**Making it fast.** :func:`implicit_half_step_reference` is the readable loop, one row at a
time. :func:`implicit_half_step` does the same for chunks of rows at once: rows are sorted by
their number of ratings, bucketed by powers of two and padded to a common length ``c`` inside a
chunk, so that one stacked ``(B, c, k)`` array holds the rated movies' factors (padding: zero
rows, zero weights, which change nothing). The exact solver uses the primal ``(B, k, k)`` systems
for rows with more than k ratings and, for the many rows with few, the dual (Woodbury) form with
the shared :math:`M = Y^\\top Y + \\lambda I`,

.. math::  x_u = Z_u^\\top (W_u^{-1} + Z_u Y_u^\\top)^{-1} W_u^{-1} c_u p_u,
    \\qquad Z = Y M^{-1},\\ W_u = C_u - I,

a ``c × c`` system (it needs :math:`c_{ui} > 1` on the rated cells, i.e. ``alpha > 0``). Memory is
O(nnz·k + (users + items)·k²).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from helpers.checks import (
    check_bool,
    check_choice,
    check_int,
    check_positive,
    check_real,
    check_seed,
)
from helpers.history import Monitor
from helpers.matrix import CSR, RatingMatrix, as_matrix
from helpers.model import MFModel, predict_triples
from helpers.threads import resolve_workers, run_all, single_threaded_blas, thread_pool

#: The confidence functions f of c = 1 + alpha * f(r).
CONFIDENCES = ("binary", "rating", "log")
SOLVERS = ("cg", "exact")
#: Padded ratings per chunk of :func:`implicit_half_step`: about 2 MB of factors at k = 64.
CHUNK_ENTRIES = 4096
_MAX_ROWS = 4096  # rows per chunk (rows with one rating: 4096 of them in one chunk)


# ----------------------------------------------------------------------------- the data terms


def confidence_weights(
    ratings: np.ndarray, *, alpha: float, confidence: str = "binary", eps: float = 1.0
) -> np.ndarray:
    """``c - 1 = alpha * f(r)`` for ratings ``r`` (stars, any shape): the extra confidence of a
    rated cell over an unrated one (module docstring). Positive for positive ratings."""
    r = np.asarray(ratings, dtype=np.float64)
    if confidence == "binary":
        f = np.ones_like(r)
    elif confidence == "rating":
        f = r
    else:  # "log"
        f = np.log1p(r / eps)
    return alpha * f


def preferences(ratings: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """``p`` of rated cells: 1 for every rating, or with ``threshold`` 1 only for ratings
    ``>= threshold`` stars (a rated movie below it is a confident 0)."""
    r = np.asarray(ratings, dtype=np.float64)
    return np.ones_like(r) if threshold is None else (r >= threshold).astype(np.float64)


# ----------------------------------------------------------------------------- the readable loop


def _cg(apply, b: np.ndarray, x: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` conjugate-gradient steps on ``A x = b`` for one system, from ``x``;
    ``apply(v) = A v`` (A symmetric positive definite)."""
    r = b - apply(x)
    d = r.copy()
    rs = r @ r
    for _ in range(steps):
        if rs == 0.0:  # already exact
            break
        ad = apply(d)
        step = rs / (d @ ad)
        x = x + step * d
        r = r - step * ad
        rs_new = r @ r
        d = r + (rs_new / rs) * d
        rs = rs_new
    return x


def implicit_half_step_reference(
    csr: CSR,
    other_factors: np.ndarray,
    current: np.ndarray,
    weights: np.ndarray,
    prefs: np.ndarray,
    *,
    reg: float,
    solver: str = "exact",
    cg_steps: int = 3,
) -> np.ndarray:
    """The readable half-step, one row at a time (a reference for tests and the notebook).

    ``csr`` groups the ratings by the rows being updated; ``other_factors`` (m, k) are the fixed
    side's factors (the CSR's columns); ``current`` (n, k) the rows' factors before the step
    (CG starts from them); ``weights`` (nnz,) = ``c - 1`` and ``prefs`` (nnz,) = ``p`` in the
    CSR's order. Returns the new (n, k) factors; rows without ratings get zeros.
    """
    y = np.asarray(other_factors, dtype=np.float64)
    k = y.shape[1]
    gram = y.T @ y  # YᵀY over ALL columns: the unrated cells' confidence-1 part
    new = np.zeros((csr.n_rows, k))
    for row in range(csr.n_rows):
        lo, hi = csr.indptr[row], csr.indptr[row + 1]
        if lo == hi:
            continue
        y_u = y[csr.indices[lo:hi]]  # (n_u, k) factors of the rated columns
        w_u, p_u = weights[lo:hi], prefs[lo:hi]
        a = gram + y_u.T @ (w_u[:, None] * y_u) + reg * np.eye(k)  # YᵀC_uY + λI
        b = y_u.T @ ((1.0 + w_u) * p_u)  # YᵀC_u p_u: only rated cells have p = 1
        if solver == "exact":
            new[row] = np.linalg.solve(a, b)
        else:
            new[row] = _cg(lambda v, a=a: a @ v, b, current[row].copy(), cg_steps)
    return new


# ----------------------------------------------------------------------------- the fast kernel


def _chunks(counts: np.ndarray, split: int, max_entries: int) -> Iterator[tuple[np.ndarray, int]]:
    """Rows with at least one rating, in chunks of similar counts: yields (rows, c) with c the
    largest count of the chunk. Buckets (2^j, 2^(j+1)] are split at ``split``, so padding at most
    doubles a chunk and no chunk mixes rows with ``<= split`` and ``> split`` ratings."""
    order = np.argsort(counts, kind="stable")
    sorted_counts = counts[order]
    top = int(sorted_counts[-1]) if len(counts) else 0
    edges = [0, *(2**j for j in range(max(top, 1).bit_length() + 1)), split]
    edges = np.unique(np.array(edges, dtype=np.int64))
    bounds = np.searchsorted(sorted_counts, edges, side="right")
    for lo, hi, cap in zip(bounds[:-1], bounds[1:], edges[1:], strict=True):
        step = max(1, min(max_entries // int(cap), _MAX_ROWS))
        for start in range(lo, hi, step):
            stop = min(start + step, hi)
            yield order[start:stop], int(sorted_counts[stop - 1])


@dataclass(frozen=True, eq=False)
class Chunk:
    """Rows of one side solved together, padded to the chunk's largest count ``c``: ``rows``
    (B,) row numbers; ``cols`` (B, c) the rated columns (``m``, the zero sentinel row of the
    padded factor table, on padding); ``weights`` (B, c) ``c - 1`` and ``prefs`` (B, c) ``p``,
    zero on padding; ``mask`` (B, c) the real entries."""

    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    prefs: np.ndarray
    mask: np.ndarray

    @property
    def cost(self) -> int:
        return self.cols.size


def plan_chunks(
    csr: CSR,
    weights: np.ndarray,
    prefs: np.ndarray,
    k: int,
    chunk_entries: int = CHUNK_ENTRIES,
    dtype=np.float64,
) -> list[Chunk]:
    """The chunks of :func:`implicit_half_step` for ratings grouped by ``csr`` (``weights`` and
    ``prefs`` (nnz,) in its order, stored in ``dtype``), costliest first. Everything here is the
    same in every iteration of a fit, so :func:`fit_implicit_als` plans once; memory O(nnz), at
    most twice the ratings with padding."""
    counts = csr.counts()
    m = csr.n_cols
    chunks = []
    for rows, c in _chunks(counts, k, chunk_entries):
        offset = np.arange(c)
        mask = offset < counts[rows][:, None]  # (B, c) real entries
        pos = np.where(mask, csr.indptr[rows][:, None] + offset, 0)
        cols = np.where(mask, csr.indices[pos], m)
        w = np.where(mask, weights[pos], 0.0).astype(dtype, copy=False)
        p = np.where(mask, prefs[pos], 0.0).astype(dtype, copy=False)
        chunks.append(Chunk(rows, cols, w, p, mask))
    return sorted(chunks, key=lambda chunk: -chunk.cost)


def implicit_half_step(
    csr: CSR,
    other_factors: np.ndarray,
    current: np.ndarray,
    weights: np.ndarray,
    prefs: np.ndarray,
    *,
    reg: float,
    solver: str = "cg",
    cg_steps: int = 3,
    chunk_entries: int = CHUNK_ENTRIES,
    workers: int | None = None,
    rated_loss: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`implicit_half_step_reference`, batched over chunks of rows (module docstring).

    Same arguments and result (up to rounding). If given, ``rated_loss`` (n,) receives each
    row's ``sum over its rated cells of c (p - s)² - s²`` after the update (``s = x · y``), the
    part of :func:`implicit_objective` that needs the ratings (nearly free: the factors of the
    rated cells are at hand). ``workers`` threads solve the chunks (default:
    one per core); chunks write disjoint rows and each is computed the same way whatever thread
    runs it, so the result does not depend on ``workers``. BLAS is kept to one thread inside.
    A kernel: arguments are not validated (:func:`fit_implicit_als` checks them).
    """
    y = np.asarray(other_factors, dtype=np.float64)
    k = y.shape[1]
    chunks = plan_chunks(csr, weights, prefs, k, chunk_entries)
    workers = resolve_workers(workers)
    with single_threaded_blas(), thread_pool(workers) as pool:
        return _solve_chunks(
            chunks,
            csr.n_rows,
            y,
            current,
            reg=reg,
            solver=solver,
            cg_steps=cg_steps,
            pool=pool,
            workers=workers,
            rated_loss=rated_loss,
        )


def _solve_chunks(
    chunks: list[Chunk],
    n_rows: int,
    y: np.ndarray,
    current: np.ndarray,
    *,
    reg: float,
    solver: str,
    cg_steps: int,
    pool,
    workers: int,
    rated_loss: np.ndarray | None,
) -> np.ndarray:
    """The half-step over planned ``chunks``: the new (n_rows, k) factors (float64), computed
    in the chunks' dtype."""
    k = y.shape[1]
    new = np.zeros((n_rows, k))
    if rated_loss is not None:
        rated_loss[:] = 0.0  # rows without ratings stay at 0
    if not chunks:
        return new
    dtype = chunks[0].weights.dtype
    shared = y.T @ y + reg * np.eye(k)  # M = YᵀY + λI, the same for every row
    # Row m of each padded table is a zero sentinel that padding points to.
    y_pad = np.vstack([y, np.zeros((1, k))]).astype(dtype, copy=False)
    z_pad = None
    if solver == "exact":
        z = np.linalg.solve(shared, y.T).T  # Z = Y M⁻¹
        z_pad = np.vstack([z, np.zeros((1, k))]).astype(dtype, copy=False)
    shared = shared.astype(dtype, copy=False)

    def solve_chunk(j: int) -> None:
        chunk = chunks[j]
        rows, w, p, mask = chunk.rows, chunk.weights, chunk.prefs, chunk.mask
        c = mask.shape[1]
        y_c = y_pad[chunk.cols]  # (B, c, k) factors of the rated columns, zero rows as padding
        v = (1.0 + w) * p  # (B, c) c·p
        b = (v[:, None, :] @ y_c)[:, 0]  # (B, k) = Y_uᵀ C_u p_u
        if solver == "cg":
            start = current[rows].astype(dtype, copy=False)  # CG starts from the current factors
            new[rows] = _cg_batched(shared, y_c, w, b, start, cg_steps)
        elif c > k:  # primal: (B, k, k) systems YᵀY + λI + Y_uᵀ W_u Y_u
            a = (y_c * w[..., None]).transpose(0, 2, 1) @ y_c + shared
            new[rows] = np.linalg.solve(a, b[..., None])[..., 0]
        else:  # dual: (B, c, c) systems W⁻¹ + Z_u Y_uᵀ (padding: identity rows)
            offset = np.arange(c)
            z_c = z_pad[chunk.cols]
            d = z_c @ y_c.transpose(0, 2, 1)
            d[:, offset, offset] += np.where(mask, 1.0 / np.where(mask, w, 1.0), 1.0)
            t = np.linalg.solve(d, np.where(mask, v / np.where(mask, w, 1.0), 0.0)[..., None])
            new[rows] = (z_c.transpose(0, 2, 1) @ t)[..., 0]
        if rated_loss is not None:
            fitted = (y_c @ new[rows][:, :, None])[..., 0]  # (B, c), 0 on padding
            rated_loss[rows] = np.sum((1.0 + w) * (p - fitted) ** 2 - fitted**2, axis=1)

    run_all(len(chunks), solve_chunk, pool, workers)
    return new


def _cg_batched(
    shared: np.ndarray,
    y_c: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    x: np.ndarray,
    steps: int,
) -> np.ndarray:
    """``steps`` CG steps on every system ``(M + Y_uᵀ W_u Y_u) x_u = b_u`` of a chunk at once:
    ``shared`` M (k, k), ``y_c`` (B, c, k), ``w`` (B, c), ``b`` and ``x`` (B, k)."""

    def apply(d: np.ndarray) -> np.ndarray:  # A_u d_u for every row: O(k² + c·k) each
        if y_c.shape[1] <= 2:  # stacked matmul pays per matrix: einsum is faster for tiny c
            s = np.einsum("bck,bk->bc", y_c, d) * w
            return d @ shared + np.einsum("bc,bck->bk", s, y_c)
        s = (y_c @ d[:, :, None])[..., 0] * w  # (B, c) = W_u Y_u d_u
        return d @ shared + (s[:, None, :] @ y_c)[:, 0]

    r = b - apply(x)
    d = r.copy()
    rs = np.einsum("bk,bk->b", r, r)
    for _ in range(steps):
        ad = apply(d)
        dad = np.einsum("bk,bk->b", d, ad)
        step = np.divide(rs, dad, out=np.zeros_like(rs), where=rs > 0)  # converged rows stay
        x = x + step[:, None] * d
        r = r - step[:, None] * ad
        rs_new = np.einsum("bk,bk->b", r, r)
        beta = np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0)
        d = r + beta[:, None] * d
        rs = rs_new
    return x


# ----------------------------------------------------------------------------- objective


def implicit_objective(
    matrix: RatingMatrix,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    weights: np.ndarray,
    prefs: np.ndarray,
    *,
    reg: float,
) -> float:
    """``L`` of the module docstring over all n × m cells, without forming them:
    ``sum_all s² + sum_rated [c (p - s)² - s²] + penalty`` with ``s = x_u · y_i`` and
    ``sum_all s² = <XᵀX, YᵀY>``. ``weights`` (c - 1) and ``prefs`` (p) follow the order of
    ``matrix.values``. O(nnz·k + (n + m)·k²)."""
    x, y = user_factors, item_factors
    s = predict_triples(matrix.users, matrix.items, x, y)
    everything = float(np.sum((x.T @ x) * (y.T @ y)))
    rated = float(np.sum((1.0 + weights) * (prefs - s) ** 2 - s**2))
    return everything + rated + reg * float(np.sum(x**2) + np.sum(y**2))


# ----------------------------------------------------------------------------- fold-in


@dataclass(frozen=True)
class ImplicitFoldIn:
    """A new user under implicit ALS: the user half-step for one user, with every item factor
    fixed. Solves :math:`(Y^\\top Y + Y_u^\\top (C_u - I) Y_u + \\lambda I) x_u = Y_u^\\top C_u
    p_u` exactly, :math:`Y^\\top Y` over all the model's items (recomputed from
    ``model.item_factors``: the unrated movies count too)."""

    reg: float
    alpha: float
    confidence: str = "binary"
    eps: float = 1.0
    threshold: float | None = None

    def solve(self, model, item_rows: np.ndarray, ratings: np.ndarray) -> tuple[float, np.ndarray]:
        """(0.0, factors (k,)) of a user who rated ``item_rows`` with ``ratings`` (stars); the
        bias is 0 because implicit ALS has none."""
        y = model.item_factors
        y_u = y[np.asarray(item_rows, dtype=np.int64)]
        w = confidence_weights(ratings, alpha=self.alpha, confidence=self.confidence, eps=self.eps)
        p = preferences(ratings, self.threshold)
        a = y.T @ y + y_u.T @ (w[:, None] * y_u) + self.reg * np.eye(y.shape[1])
        return 0.0, np.linalg.solve(a, y_u.T @ ((1.0 + w) * p))

    def describe(self) -> str:
        """One line for notebooks: what the new user's problem is."""
        f = {"binary": "1", "rating": "r", "log": f"log(1 + r/{self.eps:g})"}[self.confidence]
        p = "1" if self.threshold is None else f"1[r >= {self.threshold:g}]"
        return (
            f"weighted ridge over all movies: preference {p} on rated movies, 0 elsewhere; "
            f"confidence 1 + {self.alpha:g}·{f} on rated movies, 1 elsewhere; λ = {self.reg:g}"
        )


# ----------------------------------------------------------------------------- the fit


def fit_implicit_als(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 64,
    reg: float = 30.0,
    alpha: float = 3.0,
    iterations: int = 15,
    solver: str = "cg",
    cg_steps: int = 3,
    confidence: str = "binary",
    eps: float = 1.0,
    threshold: float | None = None,
    seed: int = 0,
    init_std: float = 0.01,
    valid: pd.DataFrame | None = None,
    workers: int | None = None,
    progress: bool = False,
    chunk_entries: int = CHUNK_ENTRIES,
    dtype: str = "float64",
) -> MFModel:
    """Implicit-feedback ALS on who rated what (module docstring), fitted to rank.

    ``k`` factors, ridge ``reg`` (λ), confidence ``c = 1 + alpha · f(r)`` with ``f`` from
    ``confidence`` (:data:`CONFIDENCES`; ``eps`` in stars for ``"log"``), preference 1 for every
    rating or only for ratings ``>= threshold``. Both sides start as N(0, init_std²) draws from
    ``seed``; each iteration updates all users, then all items, by ``solver`` ``"cg"``
    (``cg_steps`` conjugate-gradient steps from the current factors) or ``"exact"`` (the exact
    minimiser: the objective never increases). ``workers`` threads (default: one per core;
    results do not depend on it). ``dtype="float32"`` gathers and solves in single precision
    (about 40 % less time with CG at k = 64; the model's arrays stay float64, the rankings of
    the benchmark split were unchanged; the objective is then rounded to about 7 digits).
    The defaults (binary confidence, ``alpha=3``, ``reg=30``) ranked best of a small grid on a
    validation split of an ml-latest-small training set; tune them for other data.

    Returns an :class:`MFModel` with zero biases, ``global_mean`` 0 and ``predicts_stars=False``
    (its scores rank, they are not stars), ``fold_in`` an :class:`ImplicitFoldIn`. ``history``:
    ``iteration``, ``objective`` (``L``) and, with ``valid``, ``valid_ndcg`` (NDCG@10 on
    ``valid``, candidates from ``train``, rules of :mod:`helpers.metrics`).
    """
    k = check_int("k", k, minimum=1)
    reg = check_positive("reg", reg, why="the item systems of unrated users would be singular")
    alpha = check_positive(
        "alpha", alpha, why="a rated movie must be held with more confidence than an unrated one"
    )
    iterations = check_int("iterations", iterations, minimum=1)
    solver = check_choice("solver", solver, SOLVERS)
    cg_steps = check_int("cg_steps", cg_steps, minimum=1)
    confidence = check_choice("confidence", confidence, CONFIDENCES)
    eps = check_positive("eps", eps)
    if threshold is not None:
        threshold = check_real("threshold", threshold)
    seed = check_seed("seed", seed)
    init_std = check_positive("init_std", init_std)
    workers = resolve_workers(workers)
    progress = check_bool("progress", progress)
    chunk_entries = check_int("chunk_entries", chunk_entries, minimum=1)
    dtype = check_choice("dtype", dtype, ("float64", "float32"))
    matrix = as_matrix(train)
    if confidence != "binary" and np.any(matrix.values <= 0):
        raise ValueError(
            f"confidence={confidence!r} needs positive ratings (c = 1 + alpha·f(r) must exceed "
            f"1), got a minimum of {matrix.values.min():g}"
        )
    monitor = Monitor(valid, objective=True, ranking=True, train=train)

    conf = {"alpha": alpha, "confidence": confidence, "eps": eps}
    by_user_w = confidence_weights(matrix.by_user.values, **conf)
    by_user_p = preferences(matrix.by_user.values, threshold)
    by_item_w = confidence_weights(matrix.by_item.values, **conf)
    by_item_p = preferences(matrix.by_item.values, threshold)

    rng = np.random.default_rng(seed)
    model = MFModel.from_matrix(
        matrix,
        global_mean=0.0,
        user_factors=rng.normal(0.0, init_std, size=(matrix.n_users, k)),
        item_factors=rng.normal(0.0, init_std, size=(matrix.n_items, k)),
        name="implicit ALS",
        params={
            "k": k,
            "reg": reg,
            "alpha": alpha,
            "iterations": iterations,
            "solver": solver,
            "cg_steps": cg_steps,
            "confidence": confidence,
            "eps": eps,
            "threshold": threshold,
            "seed": seed,
            "init_std": init_std,
        }
        | ({"dtype": dtype} if dtype != "float64" else {}),
        history=monitor.history,
        predicts_stars=False,
        fold_in=ImplicitFoldIn(
            reg=reg, alpha=alpha, confidence=confidence, eps=eps, threshold=threshold
        ),
    )
    step = {"reg": reg, "solver": solver, "cg_steps": cg_steps}
    k_plan = {"k": k, "chunk_entries": chunk_entries, "dtype": np.dtype(dtype)}
    user_chunks = plan_chunks(matrix.by_user, by_user_w, by_user_p, **k_plan)
    item_chunks = plan_chunks(matrix.by_item, by_item_w, by_item_p, **k_plan)
    # One BLAS thread and one thread pool for the whole fit (restored and shut down on the way
    # out, also if a pass raises): the half-steps run their own threads over chunks.
    rated_loss = np.empty(matrix.n_items)  # the rated cells' part of L, per item
    with single_threaded_blas(), thread_pool(workers) as pool:
        for _ in tqdm(range(iterations), desc=model.name, disable=not progress):
            model.user_factors = _solve_chunks(
                user_chunks,
                matrix.n_users,
                model.item_factors,
                model.user_factors,
                pool=pool,
                workers=workers,
                rated_loss=None,
                **step,
            )
            model.item_factors = _solve_chunks(
                item_chunks,
                matrix.n_items,
                model.user_factors,
                model.item_factors,
                pool=pool,
                workers=workers,
                rated_loss=rated_loss,
                **step,
            )
            x, y = model.user_factors, model.item_factors
            objective = (
                float(np.sum((x.T @ x) * (y.T @ y)))  # every cell's s², rated or not
                + float(rated_loss.sum())
                + reg * float(np.sum(x**2) + np.sum(y**2))
            )
            monitor.record(model, objective=objective)
    return model
