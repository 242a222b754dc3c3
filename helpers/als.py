"""Alternating least squares (ALS) for biased matrix factorization, over observed ratings only.

The model is :math:`\\hat r_{ui} = \\mu + b_u + b_i + p_u^\\top q_i` and ALS minimises

.. math::

    L = \\sum_{(u,i) \\in \\Omega} (r_{ui} - \\hat r_{ui})^2
        + \\lambda \\sum_u w_u (b_u^2 + \\lVert p_u \\rVert^2)
        + \\lambda \\sum_i w_i (b_i^2 + \\lVert q_i \\rVert^2)

with :math:`w = 1` (plain) or :math:`w_u = n_u`, the row's number of ratings (ALS-WR, Zhou et al.
2008). The global mean :math:`\\mu` is fixed to the training mean. With the item side fixed, every
user's unknown :math:`x_u = [b_u, p_u]` solves its own ridge problem with design rows
:math:`[1, q_i]` and targets :math:`r_{ui} - \\mu - b_i`:

.. math::  (X_u^\\top X_u + \\lambda_u I)\\, x_u = X_u^\\top y_u

and symmetrically for items. A half-step is the exact minimiser of ``L`` over one side, so ``L``
never increases.

**Making it fast.** :func:`als_half_step` solves all rows of one side at once: rows are sorted by
their number of ratings ``n``, grouped into buckets (powers of two, split at ``k + 1``), and each
chunk of a bucket is padded with zero design rows to a common length ``c`` so that it becomes one
stacked ``(B, c, k + 1)`` array. Zero rows change neither :math:`X^\\top X` nor :math:`X^\\top y`,
so the padding is exact. Chunks with ``c <= k + 1`` use the dual (Woodbury) form

.. math::  (X^\\top X + \\lambda I)^{-1} X^\\top y = X^\\top (X X^\\top + \\lambda I)^{-1} y

which solves a ``c × c`` system instead of a ``(k+1) × (k+1)`` one; most movies have only a few
ratings, so most systems are tiny. Memory is O(nnz·k + (users + items)·k²) and never users × items.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from tqdm import tqdm

from helpers.checks import check_bool, check_int, check_positive, check_seed
from helpers.foldin import RidgeFoldIn
from helpers.history import Monitor
from helpers.matrix import CSR, RatingMatrix, as_matrix
from helpers.model import MFModel, predict_triples
from helpers.threads import resolve_workers, single_threaded_blas

#: Padded ratings per chunk: bounds the stacked arrays to about 50 MB each at k = 50.
CHUNK_ENTRIES = 2**17
_MAX_ROWS = 256  # rows per chunk: smaller chunks pad less (a dual solve costs c³)


def _check_reg(reg) -> float:
    return check_positive(
        "reg",
        reg,
        why="without regularisation the systems of rows with fewer than k + 1 ratings are singular",
    )


def _chunks(
    counts: np.ndarray, k1: int, max_entries: int
) -> Iterator[tuple[np.ndarray, int, int, int]]:
    """Rows with at least one rating, in chunks of similar counts: yields (rows, c, lo, hi), c =
    the largest count in the chunk, all counts in the bucket (lo, hi]. Buckets are (2^j, 2^(j+1)]
    split at k1, so padding to c at most doubles a chunk and no chunk mixes the dual (c <= k1) and
    primal (c > k1) forms."""
    order = np.argsort(counts, kind="stable")
    sorted_counts = counts[order]
    top = int(sorted_counts[-1]) if len(counts) else 0
    edges = [0, *(2**j for j in range(max(top, 1).bit_length() + 1))]
    edges = np.unique(np.array([*edges, k1], dtype=np.int64))
    bounds = np.searchsorted(sorted_counts, edges, side="right")
    for lo, hi, prev, cap in zip(bounds[:-1], bounds[1:], edges[:-1], edges[1:], strict=True):
        step = max(1, min(max_entries // int(cap), _MAX_ROWS))
        for start in range(lo, hi, step):
            stop = min(start + step, hi)
            yield order[start:stop], int(sorted_counts[stop - 1]), int(prev), int(cap)


def bucket_summary(counts: np.ndarray, k: int, chunk_entries: int = CHUNK_ENTRIES) -> pd.DataFrame:
    """How :func:`als_half_step` batches rows with ``counts`` ratings each (e.g.
    ``matrix.by_item.counts()``) at ``k`` factors: one line per bucket of ratings-per-row
    ``(lo, hi]`` with its rows, ratings, padded entries, chunks and the form solved."""
    counts = np.asarray(counts, dtype=np.int64)
    k = check_int("k", k, minimum=1)
    lines: dict[tuple[int, int], dict] = {}
    for rows, c, lo, hi in _chunks(counts, k + 1, chunk_entries):
        line = lines.setdefault(
            (lo, hi),
            {
                "ratings per row": f"{lo + 1}–{hi}",
                "rows": 0,
                "ratings": 0,
                "padded": 0,
                "chunks": 0,
                "system": f"dual ≤{hi}×{hi}" if hi <= k + 1 else f"primal {k + 1}×{k + 1}",
            },
        )
        line["rows"] += len(rows)
        line["ratings"] += int(counts[rows].sum())
        line["padded"] += len(rows) * c
        line["chunks"] += 1
    return pd.DataFrame(list(lines.values()))


def als_half_step(
    csr: CSR,
    other_factors: np.ndarray,
    other_bias: np.ndarray,
    global_mean: float,
    *,
    reg: float,
    weighted: bool = False,
    chunk_entries: int = CHUNK_ENTRIES,
    residuals: np.ndarray | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ridge update of one side given the other.

    ``csr`` groups the ratings by the rows being updated (``matrix.by_user`` to update users,
    ``matrix.by_item`` to update items); ``other_factors`` (m, k) and ``other_bias`` (m,) belong to
    the fixed side, whose rows are the CSR's column numbers. Returns ``(bias (n,), factors (n, k))``
    minimising ``L`` over this side; rows without ratings get zeros. If given, ``residuals``
    (nnz,) receives ``r - r_hat`` of every rating after the update, in the CSR's order (nearly
    free: the design rows are at hand). ``workers`` threads solve the chunks (default: one per
    CPU core); the result does not depend on it. A kernel: arguments are not validated beyond
    shapes (:func:`fit_als` checks them).
    """
    other_factors = np.asarray(other_factors, dtype=np.float64)
    other_bias = np.asarray(other_bias, dtype=np.float64)
    m, k = other_factors.shape
    if other_bias.shape != (m,) or csr.n_cols != m:
        raise ValueError(
            f"other side has {m} factor rows and bias shape {other_bias.shape}, but the ratings "
            f"have {csr.n_cols} columns"
        )
    k1 = k + 1
    # Design rows [1, q_i, 0]; the last column receives the targets chunk by chunk, so that one
    # product gives both XᵀX and Xᵀy. Row m is an all-zero sentinel that padding points to.
    design = np.zeros((m + 1, k1 + 1))
    design[:m, 0] = 1.0
    design[:m, 1:k1] = other_factors
    counts = csr.counts()
    solution = np.zeros((csr.n_rows, k1))
    if csr.nnz == 0:
        return solution[:, 0], solution[:, 1:]
    targets = csr.values - global_mean - other_bias[csr.indices]
    diag = np.arange(k1)
    local = threading.local()  # one scratch buffer per thread, reused between its chunks

    def solve_chunk(chunk: tuple[np.ndarray, int, int, int]) -> None:
        rows, c, _, _ = chunk
        n = counts[rows]
        offset = np.arange(c)
        mask = offset < n[:, None]
        pos = np.where(mask, csr.indptr[rows][:, None] + offset, 0)
        size = len(rows) * c * (k1 + 1)
        buffer = getattr(local, "buffer", None)
        if buffer is None or size > buffer.size:
            buffer = local.buffer = np.empty(max(size, chunk_entries * (k1 + 1)))
        xy = buffer[:size].reshape(len(rows), c, k1 + 1)  # (B, c, k1 + 1) = [X | y]
        np.take(design, np.where(mask, csr.indices[pos], m), axis=0, out=xy, mode="clip")
        xy[..., k1] = np.where(mask, targets[pos], 0.0)  # padding: zero rows, zero targets
        lam = reg * n if weighted else np.full(len(rows), reg)
        if c <= k1:  # dual: (B, c, c) systems
            x = xy[..., :k1]
            gram = x @ x.transpose(0, 2, 1)
            gram[:, offset, offset] += lam[:, None]
            alpha = np.linalg.solve(gram, xy[..., k1:])
            sol = (x.transpose(0, 2, 1) @ alpha)[..., 0]
        else:  # primal: (B, k1, k1) systems
            full = xy.transpose(0, 2, 1) @ xy  # [[XᵀX, Xᵀy], [yᵀX, yᵀy]]
            gram = full[:, :k1, :k1]
            gram[:, diag, diag] += lam[:, None]
            sol = np.linalg.solve(gram, full[:, :k1, k1:])[..., 0]
        solution[rows] = sol
        if residuals is not None:  # r - r_hat = y - X x, for the real (unpadded) entries
            fitted = (xy[..., :k1] @ sol[:, :, None])[..., 0]
            residuals[pos[mask]] = (xy[..., k1] - fitted)[mask]

    # Chunks write disjoint rows, so they can run in parallel threads (NumPy releases the GIL in
    # matmul and solve). BLAS itself is kept to one thread: its threads only contend on systems
    # this small, which made the same half-step up to several times slower and erratic.
    chunks = list(_chunks(counts, k1, chunk_entries))
    workers = min(resolve_workers(workers), len(chunks))
    with single_threaded_blas():
        if workers == 1:
            for chunk in chunks:
                solve_chunk(chunk)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(solve_chunk, chunks))
    return solution[:, 0].copy(), solution[:, 1:].copy()


def als_objective(
    train: pd.DataFrame | RatingMatrix,
    global_mean: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    *,
    reg: float,
    weighted: bool = False,
) -> float:
    """The regularised squared error ``L`` (module docstring) of the given parameters on the
    observed ratings, in squared stars (a sum, not a mean)."""
    matrix = as_matrix(train)
    reg = _check_reg(reg)
    weighted = check_bool("weighted", weighted)
    pred = predict_triples(
        matrix.users, matrix.items, user_factors, item_factors, user_bias, item_bias, global_mean
    )
    loss = float(np.sum((matrix.values - pred) ** 2))
    return _objective(matrix, loss, user_bias, item_bias, user_factors, item_factors, reg, weighted)


def _objective(
    matrix: RatingMatrix,
    loss: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    reg: float,
    weighted: bool,
) -> float:
    wu = matrix.by_user.counts() if weighted else np.ones(matrix.n_users)
    wi = matrix.by_item.counts() if weighted else np.ones(matrix.n_items)
    penalty = wu @ (user_bias**2 + np.sum(user_factors**2, axis=1)) + wi @ (
        item_bias**2 + np.sum(item_factors**2, axis=1)
    )
    return loss + reg * float(penalty)


def fit_als(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 50,
    reg: float = 0.1,
    iterations: int = 15,
    weighted: bool = False,
    seed: int = 0,
    valid: pd.DataFrame | None = None,
    progress: bool = False,
    init_std: float = 0.1,
    chunk_entries: int = CHUNK_ENTRIES,
    workers: int | None = None,
) -> MFModel:
    """Biased MF by ALS over the observed ratings (plain ridge, or ALS-WR with ``weighted=True``).

    Item factors start as N(0, init_std²) draws from ``seed`` and biases at zero; each iteration
    updates all users, then all items. ``history`` has, per iteration, ``objective`` (``L``,
    squared stars), ``train_rmse`` and, with ``valid``, ``valid_rmse`` (clipped predictions, stars).
    ``workers`` threads solve each half-step (default: one per available core); the result does
    not depend on it. The model's ``fold_in`` is the user half-step of this objective.
    """
    k = check_int("k", k, minimum=1)
    iterations = check_int("iterations", iterations, minimum=1)
    reg = _check_reg(reg)
    weighted = check_bool("weighted", weighted)
    seed = check_seed("seed", seed)
    chunk_entries = check_int("chunk_entries", chunk_entries, minimum=1)
    init_std = check_positive("init_std", init_std)
    workers = resolve_workers(workers)
    monitor = Monitor(valid, objective=True)
    matrix = as_matrix(train)
    mu = float(matrix.values.mean())
    rng = np.random.default_rng(seed)
    name = "ALS-WR" if weighted else "ALS"
    model = MFModel.from_matrix(
        matrix,
        global_mean=mu,
        user_factors=np.zeros((matrix.n_users, k)),
        item_factors=rng.normal(0.0, init_std, size=(matrix.n_items, k)),
        name=name,
        params={
            "k": k,
            "reg": reg,
            "iterations": iterations,
            "weighted": weighted,
            "seed": seed,
            "init_std": init_std,
        },
        history=monitor.history,
        fold_in=RidgeFoldIn(reg=reg, weighted=weighted),
    )
    step = {"reg": reg, "weighted": weighted, "chunk_entries": chunk_entries, "workers": workers}
    resid = np.empty(matrix.nnz)  # r - r_hat after each iteration, in by_item order
    stars = matrix.by_item.values
    # One BLAS thread for the whole fit: the half-steps run their own threads over chunks, and
    # idle BLAS threads spinning between calls would compete with them for the cores.
    with single_threaded_blas():
        for _ in tqdm(range(iterations), desc=name, disable=not progress):
            model.user_bias, model.user_factors = als_half_step(
                matrix.by_user, model.item_factors, model.item_bias, mu, **step
            )
            model.item_bias, model.item_factors = als_half_step(
                matrix.by_item, model.user_factors, model.user_bias, mu, residuals=resid, **step
            )
            args = (model.user_bias, model.item_bias, model.user_factors, model.item_factors)
            objective = _objective(matrix, float(resid @ resid), *args, reg, weighted)
            monitor.record(
                model, objective=objective, train_true=stars, train_pred=model.clip(stars - resid)
            )
    return model


def fit_als_zeros(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 10,
    reg: float = 0.1,
    iterations: int = 10,
    seed: int = 0,
) -> MFModel:
    """The classic pitfall, for small data only: ALS on the dense matrix with every missing cell
    read as a rating of 0 (no mean, no biases). Factors are fitted to ``R ≈ P Qᵀ`` over all
    n × m cells, so predictions of unseen cells are pulled towards 0 stars. Dense: O(n·m) memory.
    ``history`` has ``iteration`` and ``objective`` (squared error over all cells + penalty)."""
    k = check_int("k", k, minimum=1)
    iterations = check_int("iterations", iterations, minimum=1)
    reg = _check_reg(reg)
    seed = check_seed("seed", seed)
    monitor = Monitor(objective=True, train_rmse=False)
    matrix = as_matrix(train)
    dense = matrix.to_dense(fill=0.0)
    rng = np.random.default_rng(seed)
    q = rng.normal(0.0, 0.1, size=(matrix.n_items, k))
    p = np.zeros((matrix.n_users, k))
    eye = reg * np.eye(k)
    total = float(np.sum(dense**2))
    for _ in range(iterations):
        p = np.linalg.solve(q.T @ q + eye, (dense @ q).T).T
        rtp = dense.T @ p  # (m, k)
        q = np.linalg.solve(p.T @ p + eye, rtp.T).T
        # ||R - P Qᵀ||² without forming P Qᵀ: ||R||² - 2 tr(Qᵀ Rᵀ P) + tr(PᵀP QᵀQ)
        loss = total - 2 * np.sum(q * rtp) + np.sum((p.T @ p) * (q.T @ q))
        monitor.record(None, objective=float(loss + reg * (np.sum(p**2) + np.sum(q**2))))
    return MFModel.from_matrix(
        matrix,
        global_mean=0.0,
        user_factors=p,
        item_factors=q,
        name="ALS, missing as 0",
        params={"k": k, "reg": reg, "iterations": iterations, "seed": seed},
        history=monitor.history,
        fold_in=None,  # its "user problem" spans every cell of the dense matrix: no fold-in
    )
