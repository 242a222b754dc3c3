"""Truncated SVD of the rating matrix, with the missing cells imputed, and iterative imputation.

A rating matrix is mostly *unknown*, not zero: ml-latest-small fills under 2% of its cells. An
SVD needs every cell, so the unknown ones must be imputed first, and the choice leaks into the
factors. We centre the matrix by a baseline :math:`\\mu + b_u + b_i` (damped means) and impute

- ``"baseline"``: an unknown cell is the baseline itself (residual 0): the mildest guess;
- ``"mean"``: an unknown cell is the global mean :math:`\\mu` (residual :math:`-b_u - b_i`);
- ``"zero"``: an unknown cell is a 0-star rating, the naive reading of a sparse matrix, which
  drags every prediction towards 0.

By Eckart–Young the rank-k truncation :math:`U_k S_k V_k^\\top` is the best rank-k approximation
of the *imputed* matrix in Frobenius norm — best at reproducing the guesses too. Iterative
(hard/soft) imputation refits only the unknown cells: fill, factorize, refill the unknown cells
with the low-rank reconstruction, repeat (Mazumder, Hastie & Tibshirani 2010).

Everything here is dense, O(users × items) memory, for data that fits in memory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from helpers.baselines import fit_biases
from helpers.checks import check_choice, check_int, check_real
from helpers.history import Monitor
from helpers.matrix import RatingMatrix, as_matrix
from helpers.model import MFModel
from helpers.threads import single_threaded_blas

IMPUTE = ("baseline", "mean", "zero")


# LAPACK's eigh/svd at these sizes gain little from a second thread and slow down several times
# when the cores are busy, so they run single-threaded (matrix products do not).
_one_thread = single_threaded_blas


def _check_matrix(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"expected a non-empty 2-D array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("the matrix has NaN or infinite cells: impute the missing cells first")
    return a


def _check_k(k, shape: tuple[int, int]) -> int:
    k = check_int("k", k, minimum=1)
    if k > min(shape):
        raise ValueError(
            f"k={k} is larger than the matrix allows: a {shape[0]} x {shape[1]} matrix has at "
            f"most min(shape) = {min(shape)} singular values"
        )
    return k


def truncated_svd(
    a: np.ndarray, k: int, *, method: str = "gram"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k largest singular triplets of ``a`` (n, m): ``U`` (n, k), ``s`` (k,) descending,
    ``Vt`` (k, m), so that ``U @ np.diag(s) @ Vt`` is the best rank-k approximation (Eckart–Young).

    ``method="lapack"`` is ``np.linalg.svd`` of the whole matrix. ``method="gram"`` (faster for
    a wide or tall matrix) takes the top eigenvectors of the small Gram matrix (``a aᵀ`` or
    ``aᵀ a``) with ``np.linalg.eigh`` and then an exact SVD of the k-row projection, which keeps
    ``U`` and ``Vt`` orthonormal; the two agree to rounding when the k-th and (k+1)-th singular
    values are apart.
    """
    a = _check_matrix(a)
    k = _check_k(k, a.shape)
    if method == "lapack":
        with _one_thread():
            u, s, vt = np.linalg.svd(a, full_matrices=False)
        return u[:, :k], s[:k], vt[:k]
    check_choice("method", method, ("gram", "lapack"))
    if a.shape[0] > a.shape[1]:
        u, s, vt = truncated_svd(a.T, k, method="gram")
        return vt.T, s, u.T
    gram = a @ a.T
    with _one_thread():
        _, vecs = np.linalg.eigh(gram)  # ascending eigenvalues
    basis = vecs[:, ::-1][:, :k]  # (n, k) orthonormal, top eigenvectors
    projected = basis.T @ a  # (k, m)
    with _one_thread():
        ub, s, vt = np.linalg.svd(projected, full_matrices=False)
    return basis @ ub, s, vt


def singular_values(a: np.ndarray) -> np.ndarray:
    """All min(n, m) singular values of ``a``, descending, from the eigenvalues of the smaller
    Gram matrix (values below about 1e-8 × the largest are not resolved)."""
    a = _check_matrix(a)
    gram = a @ a.T if a.shape[0] <= a.shape[1] else a.T @ a
    with _one_thread():
        values = np.linalg.eigvalsh(gram)[::-1]
    return np.sqrt(np.clip(values, 0.0, None))


def imputed_residuals(
    train: pd.DataFrame | RatingMatrix, *, impute: str = "baseline", damping: float = 5.0
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """The dense (n, m) matrix of residuals ``r - (mu + b_u + b_i)`` with unknown cells imputed
    (see the module docstring), and the baseline ``mu, user_bias, item_bias`` it is centred on:
    one pass of damped means, ``helpers.baselines.fit_biases(train, damping=damping,
    iterations=1)``."""
    check_choice("impute", impute, IMPUTE)
    matrix = as_matrix(train)
    biases = fit_biases(matrix, damping=damping, iterations=1)
    mu, user_bias, item_bias = biases.global_mean, biases.user_bias, biases.item_bias
    baseline = mu + user_bias[:, None] + item_bias[None, :]
    fill = {"baseline": np.nan, "mean": mu, "zero": 0.0}[impute]
    dense = matrix.to_dense(fill=fill)
    dense -= baseline
    if impute == "baseline":
        dense[np.isnan(dense)] = 0.0
    return dense, mu, user_bias, item_bias


def _model(matrix, mu, bu, bi, u, s, vt, name, params, history=None) -> MFModel:
    root = np.sqrt(s)
    return MFModel.from_matrix(
        matrix,
        global_mean=mu,
        user_bias=bu,
        item_bias=bi,
        user_factors=u * root,
        item_factors=vt.T * root,
        name=name,
        params=params,
        history={} if history is None else history,
        fold_in=None,  # factors of an imputed dense matrix: a new user has no objective here
    )


def fit_svd_impute(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 20,
    impute: str = "baseline",
    damping: float = 5.0,
    method: str = "gram",
) -> MFModel:
    """Rank-k truncated SVD of the centred, imputed rating matrix, as an :class:`MFModel` with
    ``P = U √S`` (n, k), ``Q = V √S`` (m, k) and the damped biases it was centred on."""
    matrix = as_matrix(train)
    k = _check_k(k, matrix.shape)
    check_choice("impute", impute, IMPUTE)
    check_choice("method", method, ("gram", "lapack"))
    damping = check_real("damping", damping, minimum=0.0)
    dense, mu, bu, bi = imputed_residuals(matrix, impute=impute, damping=damping)
    u, s, vt = truncated_svd(dense, k, method=method)
    params = {"k": k, "impute": impute, "damping": damping}
    return _model(matrix, mu, bu, bi, u, s, vt, "SVD-impute", params)


def fit_soft_impute(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 20,
    shrink: float = 0.0,
    iterations: int = 10,
    damping: float = 5.0,
    valid: pd.DataFrame | None = None,
    progress: bool = False,
) -> MFModel:
    """Iterative SVD imputation: start from the baseline-imputed residuals, then repeat
    "rank-k SVD, shrink the singular values by ``shrink`` (soft-impute; 0 gives hard-impute),
    put the reconstruction back into the unknown cells only".

    ``history`` has per iteration ``iteration``, ``train_rmse``, ``valid_rmse`` (with ``valid``)
    and ``change``: the root mean square change of the imputed cells, in stars."""
    iterations = check_int("iterations", iterations, minimum=1)
    shrink = check_real("shrink", shrink, minimum=0.0)
    damping = check_real("damping", damping, minimum=0.0)
    monitor = Monitor(valid, extra=("change",))
    matrix = as_matrix(train)
    k = _check_k(k, matrix.shape)
    filled, mu, bu, bi = imputed_residuals(matrix, impute="baseline", damping=damping)
    unknown = np.ones(matrix.shape, dtype=bool)
    unknown[matrix.users, matrix.items] = False
    name = "soft-impute" if shrink > 0 else "hard-impute"
    params = {"k": k, "shrink": shrink, "iterations": iterations, "damping": damping}
    previous = filled[unknown]
    for _ in tqdm(range(iterations), desc=name, disable=not progress):
        u, s, vt = truncated_svd(filled, k)
        s = np.maximum(s - shrink, 0.0)
        low_rank = (u * s) @ vt
        filled[unknown] = low_rank[unknown]
        current = filled[unknown]
        change = float(np.sqrt(np.mean((current - previous) ** 2)))
        previous = current
        model = _model(matrix, mu, bu, bi, u, s, vt, name, params, monitor.history)
        fit = model.predict_index(matrix.users, matrix.items)
        monitor.record(model, train_true=matrix.values, train_pred=fit, change=change)
    return model
