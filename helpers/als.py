"""Alternating least squares (ALS) for biased matrix factorization, over observed ratings only.

The model is :math:`\\hat r_{ui} = \\mu + b_u + b_i + p_u^\\top q_i` and ALS minimises

.. math::

    L = \\sum_{(u,i) \\in \\Omega} (r_{ui} - \\hat r_{ui})^2
        + \\lambda \\sum_u w_u (b_u^2 + \\lVert p_u \\rVert^2)
        + \\lambda \\sum_i w_i (b_i^2 + \\lVert q_i \\rVert^2)

with :math:`w = 1` (plain), :math:`w_u = n_u`, the row's number of ratings (ALS-WR, Zhou et al.
2008), or in general :math:`w_u = n_u^{e}` (``reg_exponent=e``; ``e = 1/2`` penalises a row by
the square root of its count, between the two). The global mean :math:`\\mu` is fixed to the
training mean. With the item side fixed, every user's unknown :math:`x_u = [b_u, p_u]` solves its
own ridge problem with design rows :math:`[1, q_i]` and targets :math:`r_{ui} - \\mu - b_i`:

.. math::  (X_u^\\top X_u + \\lambda_u I)\\, x_u = X_u^\\top y_u

and symmetrically for items. A half-step is the exact minimiser of ``L`` over one side, so ``L``
never increases.

**Making it fast.** :func:`als_half_step` solves the rows of one side in batches
(:func:`plan_batches`): a few NumPy calls per batch instead of one solve per row.

* *Short rows, dual form.* Rows with ``c <= k + 1`` ratings are batched by their exact count ``c``:
  one stacked ``(B, c, k + 1)`` array of design rows, no padding. By the push-through identity

  .. math::  (X^\\top X + \\lambda I)^{-1} X^\\top y = X^\\top (X X^\\top + \\lambda I)^{-1} y

  each row solves a ``c × c`` system instead of a ``(k+1) × (k+1)`` one (one rating: a
  division); most movies have only a few ratings. The residuals come free:
  :math:`y - X x = \\lambda \\alpha` with :math:`\\alpha = (X X^\\top + \\lambda I)^{-1} y`.
* *Long rows, primal form.* The other rows are batched as they come, up to ``chunk_entries``
  ratings a batch. Their design rows, with the targets as one more column, are gathered once into
  an ``(E, k + 2)`` array; each row's Gram matrix :math:`[X | y]^\\top [X | y]` (it holds
  :math:`X^\\top X` and :math:`X^\\top y`) is one symmetric product of its own contiguous slice,
  and the ``(B, k + 1, k + 1)`` systems are solved in one batched call.
* *Threads.* ``workers`` threads take batches from a shared queue, costliest first, so that they
  finish together (NumPy releases the GIL in products and solves; BLAS itself is kept to one
  thread, its threads only contend on systems this small). A row's arithmetic does not depend on
  the batch or thread that solves it, so neither ``workers`` nor ``chunk_entries`` changes the
  result.
* *Nothing twice.* :func:`fit_als` plans the batches once per fit, limits BLAS once, and takes the
  objective and training RMSE of every iteration from sums the item half-step accumulates batch by
  batch (no array of residuals).

Memory is O(nnz + (users + items)·k + workers · chunk_entries · k), never users × items.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
from helpers.foldin import RidgeFoldIn
from helpers.history import Monitor
from helpers.matrix import CSR, RatingMatrix, as_matrix
from helpers.model import MFModel, predict_triples
from helpers.threads import resolve_workers, run_all, single_threaded_blas, thread_pool

#: Ratings per batch: bounds each batch's stacked arrays to about 3.4 MB at k = 50.
CHUNK_ENTRIES = 2**13


def _check_reg(reg) -> float:
    return check_positive(
        "reg",
        reg,
        why="without regularisation the systems of rows with fewer than k + 1 ratings are singular",
    )


def _exponent(weighted: bool, reg_exponent: float | None) -> float:
    """The exponent e of the row penalty reg · n^e: ``reg_exponent``, else 1 (ALS-WR) or 0."""
    if reg_exponent is not None:
        return float(reg_exponent)
    return 1.0 if weighted else 0.0


def _check_exponent(weighted: bool, reg_exponent) -> float:
    """Validated :func:`_exponent` (``weighted=True`` is a shorthand for ``reg_exponent=1``)."""
    if reg_exponent is None:
        return _exponent(weighted, None)
    value = check_real("reg_exponent", reg_exponent, minimum=0.0, maximum=2.0)
    if weighted and value != 1.0:
        raise ValueError(
            f"weighted=True means reg_exponent=1, got reg_exponent={value:g}: give one of them"
        )
    return value


@dataclass(frozen=True)
class PowerRidgeFoldIn:
    """The user half-step of ALS with the row penalty ``reg · n^exponent``: solve
    :math:`\\min_{b_u, p_u} \\sum_{i \\in I_u} (r_{ui} - \\mu - b_i - b_u - p_u^\\top q_i)^2 +
    \\lambda n_u^{e} (b_u^2 + \\lVert p_u \\rVert^2)` for a user with ``n_u`` ratings (the
    fold-in rule of :func:`fit_als` with a ``reg_exponent`` other than 0 and 1)."""

    reg: float
    exponent: float

    def solve(self, model, item_rows: np.ndarray, ratings: np.ndarray) -> tuple[float, np.ndarray]:
        """(bias, factors (k,)) of a user who gave ``ratings`` (stars) to ``item_rows``."""
        q = model.item_factors[item_rows]
        design = np.hstack([np.ones((len(item_rows), 1)), q])
        targets = ratings - model.global_mean - model.item_bias[item_rows]
        lam = self.reg * float(len(item_rows)) ** self.exponent
        x = np.linalg.solve(design.T @ design + lam * np.eye(design.shape[1]), design.T @ targets)
        return float(x[0]), x[1:]

    def describe(self) -> str:
        """One line for notebooks: what the new user's problem is."""
        lam = f"{self.reg:g}·n_u^{self.exponent:g}"
        return f"ridge regression on the user's ratings, penalty λ_u = {lam}"


@dataclass(frozen=True, eq=False)
class Batch:
    """Rows of one side solved together: ``rows`` (B,) row numbers, ascending. ``count > 0``: every
    row has exactly ``count <= k + 1`` ratings (dual form); ``count == 0``: rows with more than
    ``k + 1`` ratings each (primal form). ``cost``: estimated multiply-adds, to start the costliest
    first."""

    rows: np.ndarray
    count: int
    cost: float


def plan_batches(counts: np.ndarray, k: int, chunk_entries: int = CHUNK_ENTRIES) -> list[Batch]:
    """How :func:`als_half_step` batches rows with ``counts`` ratings each (e.g.
    ``matrix.by_item.counts()``) at ``k`` factors, costliest batch first. Rows without ratings are
    in no batch (their solution is 0). Every batch holds at most ``chunk_entries`` ratings, or a
    single row."""
    counts = np.asarray(counts, dtype=np.int64)
    k1 = k + 1
    order = np.argsort(counts, kind="stable")  # rows of equal count stay ascending
    sorted_counts = counts[order]
    first, split = np.searchsorted(sorted_counts, [1, k1 + 1])
    batches = []
    for c in np.unique(sorted_counts[first:split]).tolist():
        lo, hi = np.searchsorted(sorted_counts, [c, c + 1])
        step = max(1, chunk_entries // c)
        for start in range(lo, hi, step):
            rows = order[start : min(start + step, hi)]
            cost = len(rows) * (c * c * k1 / 2 + c**3 + c * k1)
            batches.append(Batch(rows, c, cost))
    long_rows = np.sort(order[split:])
    ends = np.cumsum(counts[long_rows])
    start = 0
    while start < len(long_rows):
        done = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, done + chunk_entries, side="right")))
        rows = long_rows[start:stop]
        # a solve of this size costs LAPACK about as long as k1³ multiply-adds in a product
        cost = float(counts[rows].sum()) * (k1 + 1) ** 2 / 2 + len(rows) * k1**3
        batches.append(Batch(rows, 0, cost))
        start = stop
    return sorted(batches, key=lambda batch: -batch.cost)


def bucket_summary(counts: np.ndarray, k: int, chunk_entries: int = CHUNK_ENTRIES) -> pd.DataFrame:
    """How :func:`als_half_step` batches rows with ``counts`` ratings each at ``k`` factors, in
    lines of ratings-per-row ``(lo, hi]`` (powers of two for the dual rows, one line for all
    primal rows): rows, ratings, batches and the systems solved."""
    counts = np.asarray(counts, dtype=np.int64)
    k = check_int("k", k, minimum=1)
    k1 = k + 1
    powers = [2**j for j in range(k1.bit_length()) if 2**j < k1]
    edges = np.array([0, *powers, k1])  # dual lines (edges[b - 1], edges[b]]
    lines: dict[int, dict] = {}
    for batch in plan_batches(counts, k, chunk_entries):
        if batch.count:
            b = int(np.searchsorted(edges, batch.count))
            lo, hi = int(edges[b - 1]), int(edges[b])
            label, system = f"{lo + 1}–{hi}", f"dual ≤{hi}×{hi}"
        else:
            lo, label, system = k1, f"{k1 + 1}–{int(counts.max())}", f"primal {k1}×{k1}"
        line = lines.setdefault(
            lo,
            {"ratings per row": label, "rows": 0, "ratings": 0, "batches": 0, "system": system},
        )
        line["rows"] += len(batch.rows)
        line["ratings"] += int(counts[batch.rows].sum())
        line["batches"] += 1
    return pd.DataFrame([lines[lo] for lo in sorted(lines)])


def _design(
    other_factors: np.ndarray, other_bias: np.ndarray, global_mean: float, dtype=np.float64
) -> np.ndarray:
    """Design rows ``[1, q_j, -(mu + b_j)]`` of the fixed side, (m, k + 2) in ``dtype``: a
    rating's target is its stars plus the last column."""
    m, k = other_factors.shape
    design = np.empty((m, k + 2), dtype=dtype)
    design[:, 0] = 1.0
    design[:, 1 : k + 1] = other_factors
    np.subtract(-global_mean, other_bias, out=design[:, k + 1])
    return design


def _solve_dual(csr: CSR, design: np.ndarray, batch: Batch, reg: float, exponent: float):
    """One dual batch: ``(x (B, k+1), entries (B, c), stars (B, c), residuals (B, c))``."""
    c, k1 = batch.count, design.shape[1] - 1
    entries = csr.indptr[batch.rows][:, None] + np.arange(c)  # positions in the CSR
    stars = csr.values[entries].astype(design.dtype, copy=False)
    xy = design[csr.indices[entries]]  # (B, c, k1 + 1)
    x, y = xy[..., :k1], xy[..., k1] + stars  # design rows, targets r - mu - b_j
    lam = reg * c**exponent  # c**0 = 1: plain ALS; c**1 = c: ALS-WR
    if c == 1:  # a 1 × 1 system: alpha = y / (x·x + lam)
        alpha = y / (np.einsum("bck,bck->bc", x, x) + lam)
        solution = x[:, 0, :] * alpha
    else:
        gram = x @ x.transpose(0, 2, 1)  # (B, c, c)
        gram[:, np.arange(c), np.arange(c)] += lam
        alpha = np.linalg.solve(gram, y[..., None])
        solution = (x.transpose(0, 2, 1) @ alpha)[..., 0]
        alpha = alpha[..., 0]
    return solution, entries, stars, lam * alpha


def _solve_primal(
    csr: CSR, design: np.ndarray, batch: Batch, reg: float, exponent: float, residuals: bool
):
    """One primal batch: ``(x (B, k+1), entries (E,), stars (E,), residuals (E,) or None)``."""
    k1 = design.shape[1] - 1
    rows = batch.rows
    n = csr.indptr[rows + 1] - csr.indptr[rows]
    bounds = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(n, out=bounds[1:])
    entries = np.repeat(csr.indptr[rows] - bounds[:-1], n) + np.arange(bounds[-1])
    stars = csr.values[entries].astype(design.dtype, copy=False)
    xy = design[csr.indices[entries]]  # (E, k1 + 1): rows [1, q_j, target], row after row
    xy[:, k1] += stars
    spans = list(itertools.pairwise(bounds.tolist()))
    # [[XᵀX, Xᵀy], [yᵀX, yᵀy]] of every row
    full = np.empty((len(rows), k1 + 1, k1 + 1), dtype=design.dtype)
    for j, (lo, hi) in enumerate(spans):
        block = xy[lo:hi]
        np.matmul(block.T, block, out=full[j])
    gram = full[:, :k1, :k1]
    diag = np.arange(k1)
    gram[:, diag, diag] += (reg * n.astype(np.float64) ** exponent).astype(design.dtype)[:, None]
    solution = np.linalg.solve(gram, full[:, :k1, k1:])[..., 0]
    if not residuals:
        return solution, entries, stars, None
    fitted = np.empty(len(entries), dtype=design.dtype)
    x = xy[:, :k1]
    for j, (lo, hi) in enumerate(spans):
        np.matmul(x[lo:hi], solution[j], out=fitted[lo:hi])
    return solution, entries, stars, xy[:, k1] - fitted


def _solve_side(
    csr: CSR,
    batches: Sequence[Batch],
    other_factors: np.ndarray,
    other_bias: np.ndarray,
    global_mean: float,
    *,
    reg: float,
    exponent: float,
    pool: ThreadPoolExecutor | None,
    workers: int,
    residuals: np.ndarray | None = None,
    clip: tuple[float, float] | None = None,
    dtype=np.float64,
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The half-step over planned ``batches``: ``(bias, factors, sums)``, computed in ``dtype``
    (the results are float64). With ``clip = (lo, hi)``, ``sums`` = (sum of squared residuals,
    sum of squared errors of the predictions clipped to ``[lo, hi]``), else zeros;
    ``residuals`` (nnz,), if given, receives ``r - r_hat``."""
    k = other_factors.shape[1]
    design = _design(other_factors, other_bias, global_mean, dtype)
    bias, factors = np.zeros(csr.n_rows), np.zeros((csr.n_rows, k))
    sums = np.zeros((len(batches), 2))
    want_residuals = residuals is not None or clip is not None

    def solve(j: int) -> None:
        batch = batches[j]
        if batch.count:
            x, entries, stars, resid = _solve_dual(csr, design, batch, reg, exponent)
        else:
            x, entries, stars, resid = _solve_primal(
                csr, design, batch, reg, exponent, want_residuals
            )
        bias[batch.rows], factors[batch.rows] = x[:, 0], x[:, 1:]
        if residuals is not None:
            residuals[entries] = resid
        if clip is not None:
            err = (stars - np.clip(stars - resid, *clip)).astype(np.float64, copy=False)
            resid = resid.astype(np.float64, copy=False)  # sums in float64 whatever the dtype
            sums[j] = np.vdot(resid, resid), np.vdot(err, err)

    run_all(len(batches), solve, pool, workers)
    total = sums.sum(axis=0)  # in batch order: the same whatever thread solved what
    return bias, factors, (float(total[0]), float(total[1]))


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
    reg_exponent: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ridge update of one side given the other.

    ``csr`` groups the ratings by the rows being updated (``matrix.by_user`` to update users,
    ``matrix.by_item`` to update items); ``other_factors`` (m, k) and ``other_bias`` (m,) belong to
    the fixed side, whose rows are the CSR's column numbers. Returns ``(bias (n,), factors (n, k))``
    minimising ``L`` over this side; rows without ratings get zeros. If given, ``residuals``
    (nnz,) receives ``r - r_hat`` of every rating after the update, in the CSR's order (nearly
    free: the design rows are at hand). ``workers`` threads solve the batches (default: one per
    CPU core); the result does not depend on it. A row with n ratings is penalised by
    ``reg · n^reg_exponent`` (default: 1 with ``weighted``, else 0). A kernel: arguments are not
    validated beyond shapes (:func:`fit_als` checks them).
    """
    other_factors = np.asarray(other_factors, dtype=np.float64)
    other_bias = np.asarray(other_bias, dtype=np.float64)
    m, k = other_factors.shape
    if other_bias.shape != (m,) or csr.n_cols != m:
        raise ValueError(
            f"other side has {m} factor rows and bias shape {other_bias.shape}, but the ratings "
            f"have {csr.n_cols} columns"
        )
    batches = plan_batches(csr.counts(), k, chunk_entries)
    workers = resolve_workers(workers)
    with single_threaded_blas(), thread_pool(workers) as pool:
        bias, factors, _ = _solve_side(
            csr,
            batches,
            other_factors,
            other_bias,
            global_mean,
            reg=reg,
            exponent=_exponent(weighted, reg_exponent),
            pool=pool,
            workers=workers,
            residuals=residuals,
        )
    return bias, factors


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
    reg_exponent: float | None = None,
) -> float:
    """The regularised squared error ``L`` (module docstring) of the given parameters on the
    observed ratings, in squared stars (a sum, not a mean)."""
    matrix = as_matrix(train)
    reg = _check_reg(reg)
    exponent = _check_exponent(check_bool("weighted", weighted), reg_exponent)
    pred = predict_triples(
        matrix.users, matrix.items, user_factors, item_factors, user_bias, item_bias, global_mean
    )
    loss = float(np.sum((matrix.values - pred) ** 2))
    return _objective(matrix, loss, user_bias, item_bias, user_factors, item_factors, reg, exponent)


def _objective(
    matrix: RatingMatrix,
    loss: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    reg: float,
    exponent: float,
) -> float:
    wu = matrix.by_user.counts().astype(np.float64) ** exponent
    wi = matrix.by_item.counts().astype(np.float64) ** exponent
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
    reg_exponent: float | None = None,
    dtype: str = "float64",
) -> MFModel:
    """Biased MF by ALS over the observed ratings (plain ridge, or ALS-WR with ``weighted=True``).

    Item factors start as N(0, init_std²) draws from ``seed`` and biases at zero; each iteration
    updates all users, then all items. ``history`` has, per iteration, ``objective`` (``L``,
    squared stars), ``train_rmse`` and, with ``valid``, ``valid_rmse`` (clipped predictions, stars).
    ``workers`` threads solve each half-step (default: one per available core); the result does
    not depend on it. The model's ``fold_in`` is the user half-step of this objective.
    ``reg_exponent`` (0 to 2) penalises a row with n ratings by ``reg · n^reg_exponent``: 0 is
    plain ALS, 1 ALS-WR (``weighted=True``), 0.5 the square root of the count in between.
    ``dtype="float32"`` gathers, multiplies and solves in single precision (about a fifth less
    time at k = 50 in one thread, less with two, where the small solves dominate; the model's
    arrays stay float64); it changes the results in about the 8th significant digit
    (``benchmarks`` reports both).
    """
    k = check_int("k", k, minimum=1)
    iterations = check_int("iterations", iterations, minimum=1)
    reg = _check_reg(reg)
    weighted = check_bool("weighted", weighted)
    exponent = _check_exponent(weighted, reg_exponent)
    seed = check_seed("seed", seed)
    chunk_entries = check_int("chunk_entries", chunk_entries, minimum=1)
    init_std = check_positive("init_std", init_std)
    workers = resolve_workers(workers)
    dtype = check_choice("dtype", dtype, ("float64", "float32"))
    monitor = Monitor(valid, objective=True)
    matrix = as_matrix(train)
    mu = float(matrix.values.mean())
    rng = np.random.default_rng(seed)
    name = {0.0: "ALS", 1.0: "ALS-WR"}.get(exponent, f"ALS, λ·n^{exponent:g}")
    params = {"k": k, "reg": reg, "iterations": iterations, "weighted": weighted, "seed": seed}
    params["init_std"] = init_std
    if reg_exponent is not None:
        params["reg_exponent"] = exponent
    if dtype != "float64":
        params["dtype"] = dtype
    if exponent in (0.0, 1.0):
        fold_in = RidgeFoldIn(reg=reg, weighted=exponent == 1.0)
    else:
        fold_in = PowerRidgeFoldIn(reg=reg, exponent=exponent)
    model = MFModel.from_matrix(
        matrix,
        global_mean=mu,
        user_factors=np.zeros((matrix.n_users, k)),
        item_factors=rng.normal(0.0, init_std, size=(matrix.n_items, k)),
        name=name,
        params=params,
        history=monitor.history,
        fold_in=fold_in,
    )
    user_batches = plan_batches(matrix.by_user.counts(), k, chunk_entries)
    item_batches = plan_batches(matrix.by_item.counts(), k, chunk_entries)
    step = {"reg": reg, "exponent": exponent, "workers": workers, "dtype": np.dtype(dtype)}
    # One BLAS thread for the whole fit: the half-steps run their own threads over batches, and
    # idle BLAS threads spinning between calls would compete with them for the cores.
    with single_threaded_blas(), thread_pool(workers) as pool:
        for _ in tqdm(range(iterations), desc=name, disable=not progress):
            model.user_bias, model.user_factors, _ = _solve_side(
                matrix.by_user,
                user_batches,
                model.item_factors,
                model.item_bias,
                mu,
                pool=pool,
                **step,
            )
            model.item_bias, model.item_factors, (loss, clipped) = _solve_side(
                matrix.by_item,
                item_batches,
                model.user_factors,
                model.user_bias,
                mu,
                pool=pool,
                clip=model.rating_scale,
                **step,
            )
            args = (model.user_bias, model.item_bias, model.user_factors, model.item_factors)
            objective = _objective(matrix, loss, *args, reg, exponent)
            # the item half-step summed the squared errors of the clipped predictions
            train_rmse = float(np.sqrt(clipped / matrix.nnz))
            monitor.record(model, objective=objective, train_rmse=train_rmse)
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
