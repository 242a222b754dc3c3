"""Non-negative matrix factorization (NMF) of the observed ratings only.

NMF approximates a non-negative target :math:`t_{ui}` by :math:`p_u^\\top q_i` with
**non-negative** factors :math:`P \\ge 0` (n, k) and :math:`Q \\ge 0` (m, k), over the observed
cells :math:`\\Omega` only (the mask :math:`W`, :math:`w_{ui} = 1` on :math:`\\Omega`):

.. math::

    L(P, Q) = \\sum_{(u,i) \\in \\Omega} (t_{ui} - p_u^\\top q_i)^2
              + \\sum_u \\lambda_u \\lVert p_u \\rVert^2 + \\sum_i \\lambda_i \\lVert q_i \\rVert^2

with :math:`\\lambda_u = \\lambda n_u` (``weighted=True``, the per-rating penalty of ALS-WR) or
:math:`\\lambda`; likewise for items. Because nothing can be subtracted, every factor is a *part*
that adds to some predictions and to none it does not touch.

**Multiplicative updates** (``solver="mu"``; Lee & Seung 2001 with the mask of the weighted NMF
of Zhang, Wang, Ford & Makedon 2006):

.. math::

    P \\leftarrow P \\circ \\frac{(W \\circ T)\\,Q + \\varepsilon}
                              {(W \\circ (P Q^\\top))\\,Q + \\Lambda_u P + \\varepsilon}

and the same for :math:`Q` with the roles swapped. *Why L never increases*: with Q fixed the user
problem is a quadratic :math:`L_u(p) = L_u(p^t) + \\nabla^\\top d + d^\\top H d` in
:math:`d = p - p^t`, :math:`H = \\sum_{i \\in I_u} q_i q_i^\\top + \\lambda_u I` (entries >= 0).
The diagonal matrix :math:`K_{aa} = ((H p^t)_a + \\varepsilon) / p^t_a` makes :math:`K - H`
positive semi-definite (Lee & Seung's lemma, plus a non-negative diagonal), so
:math:`G(p) = L_u(p^t) + \\nabla^\\top d + d^\\top K d \\ge L_u(p)` with equality at
:math:`p^t`: an *auxiliary function*. Its minimiser :math:`p^t - \\tfrac12 K^{-1} \\nabla` is the
update above, hence :math:`L_u(p^{t+1}) \\le G(p^{t+1}) \\le G(p^t) = L_u(p^t)`. *Why the factors
stay non-negative*: the update multiplies by a ratio of non-negative numbers (the target is
>= 0). The same ``ε`` is added above and below: the textbook form with ``ε`` only below is not
the minimiser of any such bound and may rise by O(ε²) near a fixed point; both forms have the same
fixed points (numerator = denominator, a zero gradient). A factor that reaches 0 stays 0.

**HALS** (``solver="hals"``; Cichocki & Phan 2009, masked): one column of P at a time, each entry
the exact minimiser of L over :math:`p_{ua} \\ge 0` with everything else fixed,

.. math::

    p_{ua} \\leftarrow \\max\\Big(0,\\ \\frac{\\sum_{i \\in I_u} (e_{ui} + p_{ua} q_{ia})\\, q_{ia}}
                                     {\\sum_{i \\in I_u} q_{ia}^2 + \\lambda_u}\\Big),
    \\qquad e_{ui} = t_{ui} - p_u^\\top q_i ,

keeping the residuals :math:`e` of the observed ratings up to date after every column. Exact
coordinate minimisation cannot increase L, and ``max(0, ·)`` keeps the factors non-negative.

**Sparse kernels.** :func:`mu_half_step` and :func:`hals_half_step` never form a users × items
array: the products are evaluated at the observed pairs only, by gathering factor rows and summing
over each CSR row's contiguous segment (``np.add.reduceat``). Factors are passed *transposed*,
shape (k, n), so that a component's values, the gathered rows and the segment sums are contiguous
(about eight times faster than (n, k) at k = 50). Memory is O(nnz · k + (users + items) · k).
:func:`nmf_dense_reference` is the readable dense version, for toy matrices and the tests.

**Biases** (:func:`fit_nmf`, ``biases=``): a rating is signed around its baseline but NMF parts
only add. ``"fixed"`` (default) first fits the damped biases of
:func:`helpers.baselines.fit_biases` and factorizes the shifted residual

.. math::  t_{ui} = \\max(r_{ui} - \\mu - b_u - b_i + s,\\ 0),
    \\qquad \\hat r_{ui} = \\mu + b_u + (b_i - s) + p_u^\\top q_i ,

so the parts can lower a prediction by at most ``shift`` s stars below the baseline (residuals
below ``-s`` are clipped to that floor). The shift is stored in the movie biases
(``item_bias = b_i - s``): an unseen movie falls back to :math:`\\mu + b_u` as everywhere in the
series, an unseen user to :math:`\\mu + b_i - s` (movie rankings are unchanged by the constant;
fold the user in for star predictions). ``"none"`` factorizes the raw stars,
:math:`\\hat r_{ui} = p_u^\\top q_i`, with no mean and no biases: anything unseen predicts 0
(clipped to half a star).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.baselines import fit_biases
from helpers.checks import (
    check_bool,
    check_choice,
    check_int,
    check_positive,
    check_ratings,
    check_real,
    check_seed,
)
from helpers.history import Monitor
from helpers.matrix import CSR, RatingMatrix, as_matrix
from helpers.model import MFModel, predict_triples
from helpers.threads import single_threaded_blas

#: Added to numerator and denominator of the multiplicative update (guards 0 / 0).
EPS = 1e-12
#: Observed ratings per block of :func:`mu_half_step`: bounds its (k, block) temporaries.
CHUNK_ENTRIES = 2**16
SOLVERS = ("mu", "hals")
BIASES = ("fixed", "none")
#: Alternating passes of the damped biases fitted first with ``biases="fixed"``.
BIAS_ITERATIONS = 5


# --------------------------------------------------------------------------------------------
# Shared pieces: penalty weights, initialisation, the objective
# --------------------------------------------------------------------------------------------


def penalty_weights(counts: np.ndarray, reg: float, weighted: bool) -> np.ndarray:
    """:math:`\\lambda_u` of every row (n,): ``reg * counts`` if ``weighted`` else ``reg``."""
    counts = np.asarray(counts, dtype=np.float64)
    return reg * counts if weighted else np.full(len(counts), float(reg))


def init_factors(
    n_users: int, n_items: int, k: int, target_mean: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded starting factors P (n_users, k) and Q (n_items, k), uniform on [0, 2c] with
    :math:`c = \\sqrt{\\bar t / k}`, so that the mean of :math:`p_u^\\top q_i` is the mean target
    :math:`\\bar t` (stars). Strictly positive almost surely: a multiplicative update cannot
    revive an entry that starts at 0."""
    rng = np.random.default_rng(seed)
    c = np.sqrt(max(float(target_mean), 0.0) / k)
    return rng.uniform(0.0, 2.0 * c, (n_users, k)), rng.uniform(0.0, 2.0 * c, (n_items, k))


def nmf_objective_dense(
    R: np.ndarray,
    mask: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    lam_u: np.ndarray,
    lam_i: np.ndarray,
) -> float:
    """``L`` (module docstring) of dense factors on the observed cells of a dense target R (n, m):
    the masked squared error plus the penalties (squared stars, a sum)."""
    W = np.asarray(mask, dtype=np.float64)
    fit = np.sum(W * (np.where(W > 0, R, 0.0) - P @ Q.T) ** 2)
    return float(fit + lam_u @ np.sum(P**2, axis=1) + lam_i @ np.sum(Q**2, axis=1))


# --------------------------------------------------------------------------------------------
# The readable dense version (toy matrices only: it builds n × m arrays)
# --------------------------------------------------------------------------------------------


def nmf_dense_reference(
    R: np.ndarray,
    mask: np.ndarray,
    k: int,
    *,
    iterations: int = 100,
    reg: float = 0.0,
    weighted: bool = False,
    solver: str = "mu",
    seed: int = 0,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    eps: float = EPS,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Masked NMF of a dense target ``R`` (n, m) on the cells where ``mask`` (n, m, bool) is
    True; the other cells of R are never read. Dense n × m arithmetic: toy data only.

    Starts from ``init`` = (P0, Q0) or :func:`init_factors` (mean observed target, ``seed``);
    runs ``iterations`` of users-then-items updates (``solver`` "mu" or "hals", module
    docstring). Rows or columns without observed cells get zero factors. Returns
    P (n, k), Q (m, k) and the objective ``L`` after every iteration.
    """
    R = np.asarray(R, dtype=np.float64)
    W = np.asarray(mask, dtype=bool)
    if R.ndim != 2 or W.shape != R.shape:
        raise ValueError(f"R and mask must be 2-D arrays of one shape, got {R.shape}, {W.shape}")
    k = check_int("k", k, minimum=1)
    iterations = check_int("iterations", iterations, minimum=1)
    reg = check_real("reg", reg, minimum=0.0)
    solver = check_choice("solver", solver, SOLVERS)
    T = np.where(W, R, 0.0)  # unobserved cells are never read: they are zeroed, and W kills them
    if np.any(T < 0):
        raise ValueError("R must be >= 0 on the observed cells: NMF factorizes non-negative data")
    W = W.astype(np.float64)
    lam_u = penalty_weights(W.sum(axis=1), reg, weighted)
    lam_i = penalty_weights(W.sum(axis=0), reg, weighted)
    if init is None:
        mean = T.sum() / max(W.sum(), 1.0)
        P, Q = init_factors(R.shape[0], R.shape[1], k, mean, seed)
    else:
        P, Q = (np.array(a, dtype=np.float64) for a in init)
    empty_rows, empty_cols = W.sum(axis=1) == 0, W.sum(axis=0) == 0
    objectives = []
    for _ in range(iterations):
        if solver == "mu":
            P = P * (T @ Q + eps) / ((W * (P @ Q.T)) @ Q + lam_u[:, None] * P + eps)
            P[empty_rows] = 0.0
            Q = Q * (T.T @ P + eps) / ((W * (P @ Q.T)).T @ P + lam_i[:, None] * Q + eps)
            Q[empty_cols] = 0.0
        else:
            for a in range(k):  # users: column a of P, all users at once
                E = W * (T - P @ Q.T)  # residuals of the observed cells
                q = Q[:, a]
                num = E @ q + P[:, a] * (W @ q**2)
                den = W @ q**2 + lam_u
                P[:, a] = np.maximum(
                    0.0, np.divide(num, den, out=np.zeros_like(num), where=den > 0)
                )
            for a in range(k):  # items: column a of Q
                E = W * (T - P @ Q.T)
                p = P[:, a]
                num = E.T @ p + Q[:, a] * (W.T @ p**2)
                den = W.T @ p**2 + lam_i
                Q[:, a] = np.maximum(
                    0.0, np.divide(num, den, out=np.zeros_like(num), where=den > 0)
                )
        objectives.append(nmf_objective_dense(T, W, P, Q, lam_u, lam_i))
    return P, Q, objectives


# --------------------------------------------------------------------------------------------
# Sparse kernels: observed pairs only, factors transposed (k, n)
# --------------------------------------------------------------------------------------------


def _row_blocks(indptr: np.ndarray, chunk_entries: int) -> Iterator[tuple[int, int]]:
    """Consecutive row ranges [r0, r1) holding at most ``chunk_entries`` entries each (a single
    longer row is a block of its own)."""
    n = len(indptr) - 1
    r0 = 0
    while r0 < n:
        r1 = int(np.searchsorted(indptr, indptr[r0] + chunk_entries, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n)
        yield r0, r1
        r0 = r1


def mu_half_step(
    csr: CSR,
    own_t: np.ndarray,
    other_t: np.ndarray,
    targets: np.ndarray,
    lam: np.ndarray,
    *,
    eps: float = EPS,
    chunk_entries: int = CHUNK_ENTRIES,
    fitted: np.ndarray | None = None,
) -> np.ndarray:
    """One multiplicative update of the side whose rows ``csr`` groups (``matrix.by_user`` to
    update users, ``matrix.by_item`` for items), the other side fixed.

    ``own_t`` (k, n) and ``other_t`` (k, m): the factors, transposed; ``targets`` (nnz,) the
    non-negative targets in the CSR's order; ``lam`` (n,) the penalties. Rows are processed in
    blocks of at most ``chunk_entries`` ratings; per block only the observed predictions
    :math:`p_u^\\top q_i` are computed. Returns the new (k, n) factors (rows without ratings: 0).
    If given, ``fitted`` (nnz,) receives the predictions after the update, in the CSR's order.
    """
    k, n = own_t.shape
    new = np.zeros((k, n))
    counts = csr.counts()
    for r0, r1 in _row_blocks(csr.indptr, chunk_entries):
        e0, e1 = int(csr.indptr[r0]), int(csr.indptr[r1])
        if e1 == e0:
            continue
        cnt = counts[r0:r1]
        rated = cnt > 0
        starts = (csr.indptr[r0:r1] - e0)[rated]
        other = np.take(other_t, csr.indices[e0:e1], axis=1)  # (k, c): q_i of every rating
        own = own_t[:, r0:r1]
        pred = np.einsum("kc,kc->c", np.repeat(own, cnt, axis=1), other)  # p_u . q_i observed
        num = np.add.reduceat(other * targets[e0:e1], starts, axis=1)  # ((W∘T) Q) rows
        den = np.add.reduceat(other * pred, starts, axis=1)  # ((W∘PQᵀ) Q) rows
        den += lam[r0:r1][rated] * own[:, rated]
        block = np.zeros_like(own)
        block[:, rated] = own[:, rated] * (num + eps) / (den + eps)
        new[:, r0:r1] = block
        if fitted is not None:
            fitted[e0:e1] = np.einsum("kc,kc->c", np.repeat(block, cnt, axis=1), other)
    return new


def hals_half_step(
    csr: CSR,
    own_t: np.ndarray,
    other_t: np.ndarray,
    residuals: np.ndarray,
    lam: np.ndarray,
) -> np.ndarray:
    """One HALS sweep over the k columns of the side whose rows ``csr`` groups, the other side
    fixed. Shapes as in :func:`mu_half_step`; ``residuals`` (nnz,) must hold
    :math:`t_{ui} - p_u^\\top q_i` in the CSR's order and is updated in place. Returns the new
    (k, n) factors; rows without ratings get 0. Memory: the (k, nnz) gathered other side."""
    k, n = own_t.shape
    new = np.zeros((k, n))
    counts = csr.counts()
    rated = counts > 0
    if csr.nnz == 0:
        return new
    starts = csr.indptr[:-1][rated]
    cnt = counts[rated]
    other = np.take(other_t, csr.indices, axis=1)  # (k, nnz)
    sq = np.add.reduceat(other * other, starts, axis=1)  # sum_i q_ia^2 per row, (k, rows rated)
    den = sq + lam[rated]
    for a in range(k):
        q = other[a]
        p_old = own_t[a, rated]
        num = np.add.reduceat(residuals * q, starts) + p_old * sq[a]
        p = np.divide(num, den[a], out=np.zeros_like(num), where=den[a] > 0)
        np.maximum(p, 0.0, out=p)
        residuals -= np.repeat(p - p_old, cnt) * q  # e = t - p.q with the new column
        new[a, rated] = p
    return new


def nmf_objective(
    residuals: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    lam_u: np.ndarray,
    lam_i: np.ndarray,
) -> float:
    """``L`` from the residuals of the observed targets (nnz,) and factors (n, k), (m, k)."""
    penalty = lam_u @ np.sum(user_factors**2, axis=1) + lam_i @ np.sum(item_factors**2, axis=1)
    return float(residuals @ residuals + penalty)


# --------------------------------------------------------------------------------------------
# Fold-in: the non-negative user problem
# --------------------------------------------------------------------------------------------


def nnls_ridge(
    Q: np.ndarray,
    t: np.ndarray,
    lam: float,
    *,
    max_sweeps: int = 1000,
    tol: float = 1e-12,
) -> np.ndarray:
    """:math:`\\arg\\min_{p \\ge 0} \\lVert t - Q p \\rVert^2 + \\lambda \\lVert p \\rVert^2`
    for Q (c, k), t (c,) by projected coordinate descent on the k × k Gram matrix, from p = 0,
    until no coordinate moves by more than ``tol`` (relative). Convex: with λ > 0 the minimiser
    is unique and the sweeps converge to it."""
    k = Q.shape[1]
    H = Q.T @ Q + lam * np.eye(k)
    g = Q.T @ t
    p = np.zeros(k)
    diag = np.diag(H)
    for _ in range(max_sweeps):
        moved = 0.0
        for a in range(k):
            if diag[a] <= 0:
                continue
            value = max(0.0, p[a] + (g[a] - H[a] @ p) / diag[a])
            moved = max(moved, abs(value - p[a]))
            p[a] = value
        if moved <= tol * (1.0 + np.max(p)):
            break
    return p


@dataclass(frozen=True)
class NMFFoldIn:
    """The new-user rule of :func:`fit_nmf`: the user half of its objective, items fixed.

    With ``biases="fixed"`` the user bias is the damped bias of the fit's last pass,
    :math:`b_u = \\sum_i (r_{ui} - \\mu - b_i) / (\\text{damping} + n_u)`; then the
    non-negative factors solve :math:`\\min_{p \\ge 0} \\sum_i (t_{ui} - p^\\top q_i)^2 +
    \\lambda_u \\lVert p \\rVert^2` exactly (:func:`nnls_ridge`) on the user's targets
    :math:`t_{ui} = \\max(r_{ui} - \\mu - b_u - b_i + s, 0)`. With ``biases="none"`` there is no
    bias and the targets are the stars."""

    reg: float
    weighted: bool
    biases: str
    damping: float
    shift: float

    def solve(self, model, item_rows: np.ndarray, ratings: np.ndarray) -> tuple[float, np.ndarray]:
        """(bias, factors (k,)) of a user who gave ``ratings`` (stars) to ``item_rows``."""
        item_rows = np.asarray(item_rows, dtype=np.int64)
        ratings = np.asarray(ratings, dtype=np.float64)
        stored = model.item_bias[item_rows]  # b_i - s: the shift lives in the movie biases
        if self.biases == "fixed":
            resid = ratings - model.global_mean - (stored + self.shift)
            bias = float(resid.sum() / (self.damping + len(ratings)))
            targets = np.maximum(ratings - model.global_mean - bias - stored, 0.0)
        else:
            bias, targets = 0.0, ratings
        lam = self.reg * len(ratings) if self.weighted else self.reg
        return bias, nnls_ridge(model.item_factors[item_rows], targets, lam)

    def describe(self) -> str:
        """One line for notebooks: what the new user's problem is."""
        lam = f"{self.reg:g}·n_u" if self.weighted else f"{self.reg:g}"
        first = (
            f"damped user bias (damping {self.damping:g}), then " if self.biases == "fixed" else ""
        )
        return f"{first}non-negative least squares on the user's targets, penalty λ_u = {lam}"


# --------------------------------------------------------------------------------------------
# The fit
# --------------------------------------------------------------------------------------------


def _inverse(order: np.ndarray) -> np.ndarray:
    inv = np.empty(len(order), dtype=np.int64)
    inv[order] = np.arange(len(order))
    return inv


def fit_nmf(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 20,
    iterations: int = 30,
    reg: float = 0.1,
    weighted: bool = True,
    solver: str = "hals",
    biases: str = "fixed",
    shift: float = 0.5,
    damping: float = 2.0,
    seed: int = 0,
    valid: pd.DataFrame | None = None,
    eps: float = EPS,
) -> MFModel:
    """NMF of the observed ratings (module docstring) by HALS or multiplicative updates.

    ``biases="fixed"``: damped biases (``damping``, 5 passes) first, then the shifted, clipped
    residual is factorized (``shift`` in stars); ``"none"``: the raw stars. Factors start from
    :func:`init_factors` (``seed``); each iteration updates all users, then all movies.
    ``history``: ``objective`` (``L`` on the targets, squared stars), ``train_rmse`` and, with
    ``valid``, ``valid_rmse`` (clipped predictions, stars). Returns an :class:`MFModel` with
    factors >= 0 and :class:`NMFFoldIn` as its fold-in rule.
    """
    if isinstance(train, pd.DataFrame):
        check_ratings("train", train)
    elif not isinstance(train, RatingMatrix):
        raise TypeError(
            "train must be a DataFrame (userId, movieId, rating) or a RatingMatrix, "
            f"got {type(train).__name__}"
        )
    k = check_int("k", k, minimum=1)
    iterations = check_int("iterations", iterations, minimum=1)
    reg = check_real("reg", reg, minimum=0.0)
    weighted = check_bool("weighted", weighted)
    solver = check_choice("solver", solver, SOLVERS)
    biases = check_choice("biases", biases, BIASES)
    shift = check_real("shift", shift, minimum=0.0)
    damping = check_real("damping", damping, minimum=0.0)
    seed = check_seed("seed", seed)
    eps = check_positive("eps", eps)
    monitor = Monitor(valid, objective=True)
    matrix = as_matrix(train)
    by_user, by_item = matrix.by_user, matrix.by_item

    if biases == "fixed":
        base = fit_biases(matrix, damping=damping, iterations=BIAS_ITERATIONS)
        mu, user_bias, item_bias = base.global_mean, base.user_bias, base.item_bias - shift
    else:
        if np.any(matrix.values < 0):
            raise ValueError(
                "train has negative ratings: biases='none' factorizes the raw stars, which must "
                "be >= 0; use biases='fixed'"
            )
        mu, user_bias, item_bias = 0.0, np.zeros(matrix.n_users), np.zeros(matrix.n_items)
    # offset (stars) of every rating in by_item order: r_hat = offset + p.q
    offset = mu + user_bias[by_item.indices] + item_bias[by_item.row_of_entry()]
    targets_item = np.maximum(by_item.values - offset, 0.0)
    # the same ratings in the two CSR orders: x_item = x_user[user_to_item] and back
    user_to_item = _inverse(by_user.order)[by_item.order]
    item_to_user = _inverse(by_item.order)[by_user.order]
    targets_user = targets_item[item_to_user]

    lam_u = penalty_weights(by_user.counts(), reg, weighted)
    lam_i = penalty_weights(by_item.counts(), reg, weighted)
    P0, Q0 = init_factors(matrix.n_users, matrix.n_items, k, targets_item.mean(), seed)
    Pt, Qt = np.ascontiguousarray(P0.T), np.ascontiguousarray(Q0.T)
    params = {
        "k": k,
        "iterations": iterations,
        "reg": reg,
        "weighted": weighted,
        "solver": solver,
        "biases": biases,
        "shift": shift,
        "damping": damping,
        "seed": seed,
    }
    model = MFModel.from_matrix(
        matrix,
        global_mean=mu,
        user_bias=user_bias,
        item_bias=item_bias,
        user_factors=P0,
        item_factors=Q0,
        name=f"NMF ({solver.upper()})" + ("" if biases == "fixed" else ", no biases"),
        params=params,
        fold_in=NMFFoldIn(reg=reg, weighted=weighted, biases=biases, damping=damping, shift=shift),
    )
    if solver == "hals":  # HALS keeps the residuals t - p.q of the ratings up to date
        resid_user = targets_user - predict_triples(by_user.row_of_entry(), by_user.indices, P0, Q0)
    fitted_item = np.empty(matrix.nnz)
    # The kernels are element-wise NumPy; one BLAS thread keeps idle BLAS threads from spinning.
    with single_threaded_blas():
        for _ in range(iterations):
            if solver == "mu":
                Pt = mu_half_step(by_user, Pt, Qt, targets_user, lam_u, eps=eps)
                Qt = mu_half_step(by_item, Qt, Pt, targets_item, lam_i, eps=eps, fitted=fitted_item)
                resid_item = targets_item - fitted_item
            else:
                Pt = hals_half_step(by_user, Pt, Qt, resid_user, lam_u)
                resid_item = resid_user[user_to_item]
                Qt = hals_half_step(by_item, Qt, Pt, resid_item, lam_i)
                resid_user = resid_item[item_to_user]
            model.user_factors, model.item_factors = Pt.T, Qt.T
            stars = offset + targets_item - resid_item
            monitor.record(
                model,
                objective=nmf_objective(resid_item, Pt.T, Qt.T, lam_u, lam_i),
                train_true=by_item.values,
                train_pred=model.clip(stars),
            )
    model.user_factors = np.ascontiguousarray(Pt.T)
    model.item_factors = np.ascontiguousarray(Qt.T)
    model.history = monitor.history
    return model
