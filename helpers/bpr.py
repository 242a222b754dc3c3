"""Bayesian personalized ranking (BPR; Rendle, Freudenthaler, Gantner & Schmidt-Thieme 2009).

BPR learns from *pairs*: a movie ``i`` the user rated should score above a movie ``j`` the user
did not rate. With scores :math:`\\hat x_{ui} = b_i + p_u^\\top q_i` (a user bias would cancel in
every pair) and :math:`x_{uij} = \\hat x_{ui} - \\hat x_{uj}`, one triple costs

.. math::

    \\ell(u, i, j) = -\\log \\sigma(x_{uij})
        + \\tfrac{\\lambda}{2} \\big(\\lVert p_u \\rVert^2 + \\lVert q_i \\rVert^2
        + \\lVert q_j \\rVert^2 + b_i^2 + b_j^2\\big)

(:math:`\\sigma` the logistic function; the penalty is charged per triple, as in Rendle's SGD).
Its gradient, with :math:`g = \\sigma(-x_{uij})` (how wrong the pair still is):

.. math::

    \\partial_{p_u} \\ell = -g (q_i - q_j) + \\lambda p_u, \\quad
    \\partial_{q_i} \\ell = -g\\, p_u + \\lambda q_i, \\quad
    \\partial_{q_j} \\ell = g\\, p_u + \\lambda q_j, \\quad
    \\partial_{b_i} \\ell = -g + \\lambda b_i, \\quad
    \\partial_{b_j} \\ell = g + \\lambda b_j.

**Training.** Every epoch visits each training rating ``(u, i)`` once, in a random order, and
pairs it with a negative ``j`` drawn uniformly from all movies; a draw that ``u`` has rated is
drawn again until it is not (a user who rated every movie has no negative: such pairs are
skipped). A mini-batch of ``batch_size`` triples takes one step
:math:`\\theta \\leftarrow \\theta - \\eta \\sum_{\\text{batch}} \\nabla \\ell`: the gradients are
computed at the parameters before the batch and *summed* (``np.add.at``), so ``batch_size=1`` is
plain SGD and a larger batch is the same number of steps taken simultaneously. Memory is
O(nnz + (users + items)·k).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from helpers.checks import check_bool, check_int, check_positive, check_real, check_seed
from helpers.history import Monitor
from helpers.matrix import RatingMatrix, as_matrix
from helpers.model import MFModel


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log σ(x) without overflow for large |x|."""
    return -np.logaddexp(0.0, -x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(_log_sigmoid(x))


def _add_rows(target: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """``target[rows] += values`` in place with repeated rows adding up (``np.add.at`` on the
    flat view: the same sums in the same order, several times faster than on rows)."""
    k = target.shape[1]
    flat = (rows[:, None] * k + np.arange(k)).reshape(-1)
    np.add.at(target.reshape(-1), flat, values.reshape(-1))


def bpr_loss(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    u: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    *,
    reg: float,
) -> float:
    """``sum of l(u, i, j)`` (module docstring) over the triples of row numbers ``u, i, j``
    (each (b,)), at the given parameters (P (n, k), Q (m, k), b (m,))."""
    p, qi, qj = user_factors[u], item_factors[i], item_factors[j]
    x = item_bias[i] - item_bias[j] + np.einsum("bk,bk->b", p, qi - qj)
    penalty = (
        np.sum(p**2)
        + np.sum(qi**2)
        + np.sum(qj**2)
        + np.sum(item_bias[i] ** 2)
        + np.sum(item_bias[j] ** 2)
    )
    return float(-np.sum(_log_sigmoid(x)) + 0.5 * reg * penalty)


def _triple_gradients(
    p_all: np.ndarray,
    q_all: np.ndarray,
    b_all: np.ndarray,
    u: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    reg: float,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Per-triple gradient rows (module docstring) times ``scale``: for p_u, q_i, q_j (each
    (b, k)), b_i and b_j (each (b,)), and the summed (unscaled) loss."""
    p, qi, qj = p_all[u], q_all[i], q_all[j]
    bi, bj = b_all[i], b_all[j]
    diff = qi - qj
    x = bi - bj + np.einsum("bk,bk->b", p, diff)
    penalty = (
        np.einsum("bk,bk->", p, p)
        + np.einsum("bk,bk->", qi, qi)
        + np.einsum("bk,bk->", qj, qj)
        + bi @ bi
        + bj @ bj
    )
    loss = float(-np.sum(_log_sigmoid(x)) + 0.5 * reg * penalty)
    g = scale * _sigmoid(-x)  # (b,): σ(-x), the pair's remaining error
    gp = diff
    gp *= -g[:, None]
    gp += (scale * reg) * p
    gqi = p * -g[:, None]
    gqj = -gqi
    gqi += (scale * reg) * qi
    gqj += (scale * reg) * qj
    return gp, gqi, gqj, scale * reg * bi - g, scale * reg * bj + g, loss


def bpr_gradients(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    u: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    *,
    reg: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Gradient of :func:`bpr_loss` with respect to P, Q and b (arrays of their shapes; rows
    no triple touches are 0), and the loss itself. Triples sharing a row add up."""
    gp, gqi, gqj, gbi, gbj, loss = _triple_gradients(
        user_factors, item_factors, item_bias, u, i, j, reg
    )
    grad_p = np.zeros_like(user_factors)
    grad_q = np.zeros_like(item_factors)
    grad_b = np.zeros_like(item_bias)
    _add_rows(grad_p, u, gp)
    _add_rows(grad_q, i, gqi)
    _add_rows(grad_q, j, gqj)
    np.add.at(grad_b, i, gbi)
    np.add.at(grad_b, j, gbj)
    return grad_p, grad_q, grad_b, loss


def bpr_step(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    u: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    *,
    lr: float,
    reg: float,
) -> float:
    """One mini-batch step in place: ``theta -= lr * bpr_gradients(...)``, touching only the
    rows of the batch (O(b·k), not O((n + m)·k)). Returns the batch's loss before the step."""
    gp, gqi, gqj, gbi, gbj, loss = _triple_gradients(
        user_factors, item_factors, item_bias, u, i, j, reg, scale=-lr
    )
    _add_rows(user_factors, u, gp)
    _add_rows(item_factors, i, gqi)
    _add_rows(item_factors, j, gqj)
    np.add.at(item_bias, i, gbi)
    np.add.at(item_bias, j, gbj)
    return loss


def bpr_triples(
    rng: np.random.Generator, matrix: RatingMatrix
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One epoch of training triples (row numbers ``u, i, j``, each (nnz',)): every rating
    ``(u, i)`` once in a random order, ``j`` uniform over the movies ``u`` has not rated
    (redrawn until it is one). Users who rated every movie are skipped (nnz' <= nnz)."""
    m = matrix.n_items
    counts = matrix.by_user.counts()
    order = rng.permutation(matrix.nnz)
    u = matrix.users[order].astype(np.int64)
    i = matrix.items[order].astype(np.int64)
    keep = counts[u] < m
    u, i = u[keep], i[keep]
    rated = np.sort(matrix.users.astype(np.int64) * m + matrix.items)  # keys of rated cells
    j = rng.integers(0, m, size=len(u))
    todo = np.arange(len(u))
    while len(todo):
        keys = u[todo] * m + j[todo]
        pos = np.minimum(np.searchsorted(rated, keys), len(rated) - 1)
        todo = todo[rated[pos] == keys]  # the draws that hit a rated movie
        j[todo] = rng.integers(0, m, size=len(todo))
    return u, i, j


def fit_bpr(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 64,
    lr: float = 0.05,
    reg: float = 0.02,
    epochs: int = 20,
    batch_size: int = 1024,
    seed: int = 0,
    init_std: float = 0.1,
    valid: pd.DataFrame | None = None,
    progress: bool = False,
) -> MFModel:
    """BPR matrix factorization by mini-batch SGD over sampled triples (module docstring).

    ``k`` factors, learning rate ``lr``, penalty ``reg`` (λ), ``epochs`` passes over the
    ratings in batches of ``batch_size`` triples. P and Q start as N(0, init_std²) draws from
    ``seed`` (then every epoch's order and negatives come from the same generator), the item
    biases at 0. Every rating counts as a positive, whatever its stars.
    The defaults of ``lr`` and ``reg`` ranked best of a small grid on a validation split of an
    ml-latest-small training set (notebook 06).

    Returns an :class:`MFModel` with ``predicts_stars=False`` (scores rank, they are not stars),
    global mean and user biases 0, and no fold-in rule. ``history``: ``iteration`` (epoch),
    ``objective`` (the mean of ``l`` over the epoch's triples, each taken before its batch's
    step: a running estimate) and, with ``valid``, ``valid_ndcg`` (NDCG@10).
    """
    k = check_int("k", k, minimum=1)
    lr = check_positive("lr", lr)
    reg = check_real("reg", reg, minimum=0.0)
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_seed("seed", seed)
    init_std = check_positive("init_std", init_std)
    progress = check_bool("progress", progress)
    matrix = as_matrix(train)
    monitor = Monitor(valid, objective=True, ranking=True, train=train)
    rng = np.random.default_rng(seed)
    model = MFModel.from_matrix(
        matrix,
        global_mean=0.0,
        user_factors=rng.normal(0.0, init_std, size=(matrix.n_users, k)),
        item_factors=rng.normal(0.0, init_std, size=(matrix.n_items, k)),
        name="BPR",
        params={
            "k": k,
            "lr": lr,
            "reg": reg,
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "init_std": init_std,
        },
        history=monitor.history,
        predicts_stars=False,
    )
    p, q, b = model.user_factors, model.item_factors, model.item_bias
    for _ in tqdm(range(epochs), desc=model.name, disable=not progress):
        u, i, j = bpr_triples(rng, matrix)
        total = 0.0
        for start in range(0, len(u), batch_size):
            batch = slice(start, start + batch_size)
            total += bpr_step(p, q, b, u[batch], i[batch], j[batch], lr=lr, reg=reg)
        monitor.record(model, objective=total / max(len(u), 1))
    return model
