"""Matrix factorization by stochastic gradient descent (SGD), from the classic toy loop to a fast
kernel.

Three implementations of one idea, each for a different reader:

* :func:`quuxlabs_matrix_factorization` — the well-known 2010 tutorial loop ("Matrix Factorization:
  A Simple Tutorial and Implementation in Python"), kept exactly as it was written, quirks included,
  for small dense matrices with 0 meaning "unknown".
* :func:`sgd_epoch_reference` — one readable epoch of textbook SGD over observed
  (user, item, rating) triples, optionally with biases.
* :func:`sgd_epoch` — the same model trained with vectorized mini-batch SGD; with
  ``batch_size=1`` it performs exactly the updates of the reference loop. :func:`fit_sgd` wraps it
  and returns an :class:`~helpers.model.MFModel`.

The model and the loss (sum over the observed ratings ``(u, i, r)``)::

    r_hat = mu + b_u + b_i + p_u . q_i
    L = sum 1/2 [ (r - r_hat)^2 + reg * (b_u^2 + b_i^2 + |p_u|^2 + |q_i|^2) ]

``mu`` is the (fixed) training mean; without biases ``b_u = b_i = 0``. One SGD step on a rating
moves every parameter against the gradient of its own term, e.g.
``p_u += lr * (e * q_i - reg * p_u)`` with ``e = r - r_hat``, and all four parameters are updated
*simultaneously* (from the values before the step).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.checks import check_bool, check_int, check_positive, check_real, check_seed
from helpers.foldin import RidgeFoldIn
from helpers.history import Monitor
from helpers.matrix import RatingMatrix, as_matrix
from helpers.model import MFModel, predict_triples

#: Default number of ratings per mini-batch of :func:`fit_sgd` (see :func:`fit_sgd`).
DEFAULT_BATCH_SIZE = 256


# --------------------------------------------------------------------------------------------
# (a) The 2010 tutorial loop
# --------------------------------------------------------------------------------------------


def quuxlabs_matrix_factorization(
    R,
    P,
    Q,
    K: int,
    steps: int = 5000,
    alpha: float = 0.0002,
    beta: float = 0.02,
    *,
    return_errors: bool = False,
):
    """The 2010 tutorial's SGD loop, unchanged: factor the dense ``R`` (n, m), 0 = unknown.

    ``P`` (n, K) and ``Q`` (m, K) are the starting factors (copied, not modified). Each step visits
    every known cell in row-major order and, for each factor ``k``, updates ``P[i][k]`` and then
    ``Q[k][j]`` — the latter already with the *new* ``P[i][k]``. After each step the error
    ``e = sum (R_ij - p_i.q_j)^2 + beta/2 (|p_i|^2 + |q_j|^2)`` over the known cells (note: it
    includes the regularisation) is compared with 0.001 to stop early.

    Returns ``(P, Q)`` with shapes (n, K) and (m, K); with ``return_errors=True`` also the list of
    the error ``e`` after every step that ran.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2:
        raise ValueError(f"R must be a 2-D matrix, got shape {R.shape}")
    if K < 1:
        raise ValueError(f"K must be a positive number of factors, got {K}")
    if np.shape(P) != (R.shape[0], K) or np.shape(Q) != (R.shape[1], K):
        raise ValueError(
            f"P must have shape {(R.shape[0], K)} and Q {(R.shape[1], K)}, "
            f"got {np.shape(P)} and {np.shape(Q)}"
        )
    # Python lists of floats: the same IEEE arithmetic as NumPy scalars, about 20x faster here.
    R = R.tolist()
    P = np.array(P, dtype=np.float64).tolist()
    Q = np.array(Q, dtype=np.float64).T.tolist()  # Q is used transposed, (K, m), as in 2010
    errors = []
    for _step in range(steps):
        for i in range(len(R)):
            for j in range(len(R[i])):
                if R[i][j] > 0:
                    eij = R[i][j] - sum(P[i][k] * Q[k][j] for k in range(K))
                    for k in range(K):
                        P[i][k] = P[i][k] + alpha * (2 * eij * Q[k][j] - beta * P[i][k])
                        Q[k][j] = Q[k][j] + alpha * (2 * eij * P[i][k] - beta * Q[k][j])
        e = 0
        for i in range(len(R)):
            for j in range(len(R[i])):
                if R[i][j] > 0:
                    e = e + pow(R[i][j] - sum(P[i][k] * Q[k][j] for k in range(K)), 2)
                    for k in range(K):
                        e = e + (beta / 2) * (pow(P[i][k], 2) + pow(Q[k][j], 2))
        errors.append(e)
        if e < 0.001:
            break
    P_out, Q_out = np.array(P), np.array(Q).T
    return (P_out, Q_out, errors) if return_errors else (P_out, Q_out)


# --------------------------------------------------------------------------------------------
# The loss and its gradient (shared by the readable and the fast version)
# --------------------------------------------------------------------------------------------


def regularized_loss(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    user_bias: np.ndarray | None = None,
    item_bias: np.ndarray | None = None,
    *,
    mu: float = 0.0,
    reg: float,
) -> float:
    """The loss SGD minimises: sum over ratings of 1/2 [e^2 + reg (b_u^2 + b_i^2 + |p_u|^2 +
    |q_i|^2)], with e = r - r_hat. Every rating carries its own penalty on its user and item."""
    e = ratings - predict_triples(users, items, P, Q, user_bias, item_bias, mu)
    penalty = np.sum(P[users] ** 2) + np.sum(Q[items] ** 2)
    if user_bias is not None:
        penalty += np.sum(user_bias[users] ** 2) + np.sum(item_bias[items] ** 2)
    return float(0.5 * (np.sum(e**2) + reg * penalty))


def sgd_gradients(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    user_bias: np.ndarray | None = None,
    item_bias: np.ndarray | None = None,
    *,
    mu: float = 0.0,
    reg: float,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Per-rating *descent directions* (minus the gradient of each rating's loss term), all
    evaluated at the same parameters: ``dP = e q_i - reg p_u`` (nnz, k),
    ``dQ = e p_u - reg q_i`` (nnz, k), ``dbu = e - reg b_u`` and ``dbi = e - reg b_i`` (nnz,) or
    ``None`` without biases, each multiplied by ``scale`` (the kernel passes the learning
    rate). Summing row ``t`` into ``P[users[t]]`` etc. gives ``-scale * grad L``."""
    pu, qi = np.take(P, users, axis=0), np.take(Q, items, axis=0)  # take: faster than P[users]
    pred = np.einsum("nk,nk->n", pu, qi) + mu
    if user_bias is not None:
        bu, bi = np.take(user_bias, users), np.take(item_bias, items)
        pred += bu + bi
    e = ratings - pred
    scaled_e = (scale * e)[:, None]
    dQ = pu * scaled_e
    dP = qi * scaled_e
    pu *= scale * reg  # pu and qi are private copies (np.take): reuse them in place
    qi *= scale * reg
    dP -= pu
    dQ -= qi
    if user_bias is None:
        return dP, dQ, None, None
    return dP, dQ, scale * (e - reg * bu), scale * (e - reg * bi)


# --------------------------------------------------------------------------------------------
# (b) The readable reference epoch
# --------------------------------------------------------------------------------------------


def sgd_epoch_reference(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    user_bias: np.ndarray | None = None,
    item_bias: np.ndarray | None = None,
    *,
    mu: float = 0.0,
    lr: float,
    reg: float,
    order: np.ndarray | None = None,
) -> None:
    """One epoch of plain SGD, one rating at a time, in place. Slow on purpose: it is the loop
    to read.

    ``users``, ``items`` (nnz,) are row numbers into ``P`` (n, k) / ``Q`` (m, k) and the optional
    biases (n,) / (m,); ``ratings`` (nnz,) in stars. ``order`` is the visiting order (default:
    as given). Each rating moves its four parameters simultaneously, from their old values.
    """
    order = np.arange(len(ratings)) if order is None else order
    for t in order:
        u, i, r = users[t], items[t], ratings[t]
        prediction = mu + P[u] @ Q[i]
        if user_bias is not None:
            prediction += user_bias[u] + item_bias[i]
        e = r - prediction  # the error of this rating, in stars
        p_old = P[u].copy()  # keep p_u: q_i's step must use the value before this update
        P[u] += lr * (e * Q[i] - reg * P[u])
        Q[i] += lr * (e * p_old - reg * Q[i])
        if user_bias is not None:
            user_bias[u] += lr * (e - reg * user_bias[u])
            item_bias[i] += lr * (e - reg * item_bias[i])


# --------------------------------------------------------------------------------------------
# (c) The fast kernel
# --------------------------------------------------------------------------------------------


def sgd_epoch(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    user_bias: np.ndarray | None = None,
    item_bias: np.ndarray | None = None,
    *,
    mu: float = 0.0,
    lr: float,
    reg: float,
    order: np.ndarray | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> None:
    """One epoch of mini-batch SGD, in place; same model, arguments and order as
    :func:`sgd_epoch_reference`.

    The ratings are taken ``batch_size`` at a time in ``order``. Within a batch all descent
    directions are computed at the same parameters (:func:`sgd_gradients`) and each rating's step
    ``lr * d`` is added to its row with ``np.add.at`` — so a user who appears c times in a batch
    gets the sum of c steps, as in c sequential steps without the refresh in between. With
    ``batch_size=1`` this is exactly the reference update. Memory: O(batch_size * k) on top of the
    parameters.
    """
    for name, factors in (("P", P), ("Q", Q)):
        if factors.dtype != np.float64 or not factors.flags.c_contiguous:
            raise ValueError(
                f"{name} must be a C-contiguous float64 array (it is updated in place)"
            )
    order = np.arange(len(ratings)) if order is None else order
    users = np.asarray(users, dtype=np.int64)[order]  # in visiting order; O(nnz) copies
    items = np.asarray(items, dtype=np.int64)[order]
    ratings = np.asarray(ratings, dtype=np.float64)[order]
    k = P.shape[1]
    P_flat, Q_flat = P.reshape(-1), Q.reshape(-1)  # views: scatter into flat cells, faster
    columns = np.arange(k)
    for start in range(0, len(ratings), batch_size):
        stop = start + batch_size
        u, i = users[start:stop], items[start:stop]
        dP, dQ, dbu, dbi = sgd_gradients(
            u, i, ratings[start:stop], P, Q, user_bias, item_bias, mu=mu, reg=reg, scale=lr
        )
        # P[u] += dP, adding (not overwriting) when a user occurs more than once in the batch
        np.add.at(P_flat, ((u * k)[:, None] + columns).ravel(), dP.ravel())
        np.add.at(Q_flat, ((i * k)[:, None] + columns).ravel(), dQ.ravel())
        if user_bias is not None:
            np.add.at(user_bias, u, dbu)
            np.add.at(item_bias, i, dbi)


def _check_hyperparameters(
    k, lr, reg, epochs, batch_size, init_std, biased, seed
) -> tuple[int, float, float, int, int, float, bool, int]:
    biased = check_bool("biased", biased)
    k = check_int("k", k, minimum=0 if biased else 1)
    return (
        k,
        check_positive("lr", lr),
        check_real("reg", reg, minimum=0.0),
        check_int("epochs", epochs, minimum=1),
        check_int("batch_size", batch_size, minimum=1),
        check_real("init_std", init_std, minimum=0.0),
        biased,
        check_seed("seed", seed),
    )


def _check_batch_stability(matrix: RatingMatrix, batch_size: int, lr: float, reg: float) -> None:
    """Refuse batches in which the busiest user or movie would get an overshooting bias step.

    A row with ``c`` ratings in a batch gets ``c`` bias steps summed at the same point: one step
    on a parabola of curvature ``c (1 + reg)``, which overshoots once ``c * lr * (1 + reg) > 2``.
    ``c`` is the expected count of the busiest user or movie (at least 1). Without biases the
    factor steps have a limit of the same kind, so the check applies to both models."""
    busiest = max(matrix.by_user.counts().max(), matrix.by_item.counts().max())
    per_batch = max(1.0, busiest * min(batch_size, matrix.nnz) / matrix.nnz)
    if per_batch * lr * (1 + reg) > 2:
        safe = int(matrix.nnz / busiest / (lr * (1 + reg)))  # per_batch * lr * (1 + reg) ~ 1
        hint = f"use batch_size <= {safe:,} or a smaller lr" if safe >= 1 else "lower lr"
        raise ValueError(
            f"batch_size={batch_size} with lr={lr} is unstable: the busiest user or movie "
            f"({busiest:,} ratings) occurs about {per_batch:.0f} times per batch, and its summed "
            f"bias step overshoots when count * lr * (1 + reg) > 2 (here "
            f"{per_batch * lr * (1 + reg):.2f}); {hint}"
        )


def fit_sgd(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 50,
    lr: float = 0.01,
    reg: float = 0.05,
    epochs: int = 20,
    biased: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    init_std: float = 0.1,
    seed: int = 0,
    valid: pd.DataFrame | None = None,
    progress: bool = False,
) -> MFModel:
    """Fit ``r_hat = mu + b_u + b_i + p_u . q_i`` by shuffled mini-batch SGD (:func:`sgd_epoch`).

    ``train``: ratings table (userId, movieId, rating) or a RatingMatrix. ``mu`` is the training
    mean (fixed); with ``biased=False`` the biases stay 0 and the model is ``mu + p_u . q_i``.
    ``k`` factors (``k=0`` with ``biased=True`` fits the biases alone), learning rate ``lr``,
    regularisation ``reg`` (per rating, see the module docstring), ``epochs`` passes over the
    ratings in a fresh random order each, factors start as N(0, ``init_std``^2), biases at 0.

    ``batch_size`` ratings share one set of parameters per step, and a user (or movie) that
    occurs ``c`` times in a batch receives the sum of ``c`` steps computed at the same point. For
    its bias that is one gradient step on a parabola of curvature ``c (1 + reg)``, which
    overshoots once ``c * lr * (1 + reg) > 2``. The default of 256 keeps ``c`` small (the busiest
    user of ml-latest-small, 2.7% of the ratings, about 7 per batch) and follows sequential SGD
    closely at array speed; with ``lr=0.01`` batches of 4,096 still converge on ml-latest-small,
    16,384 diverge. Such settings are refused up front with a ``ValueError`` that suggests a
    batch size; divergence for other reasons (e.g. a huge ``lr``) raises ``FloatingPointError``.
    ``batch_size=1`` is textbook SGD (slow).

    ``valid`` (a ratings table) adds ``valid_rmse`` to the per-epoch ``history``
    (``iteration`` = epoch, ``train_rmse``, ``valid_rmse``; clipped predictions, unseen policy of
    :class:`MFModel`). ``progress=True`` shows a tqdm bar on stderr. Deterministic for a ``seed``.
    """
    k, lr, reg, epochs, batch_size, init_std, biased, seed = _check_hyperparameters(
        k, lr, reg, epochs, batch_size, init_std, biased, seed
    )
    monitor = Monitor(valid)
    if isinstance(train, pd.DataFrame) and len(train) == 0:
        raise ValueError("train is empty: SGD needs at least one rating")
    matrix = as_matrix(train)
    if matrix.nnz == 0:
        raise ValueError("train is empty: SGD needs at least one rating")
    _check_batch_stability(matrix, batch_size, lr, reg)
    users = matrix.users.astype(np.int64)
    items = matrix.items.astype(np.int64)
    ratings = matrix.values
    mu = float(ratings.mean())
    rng = np.random.default_rng(seed)
    P = rng.normal(0.0, init_std, size=(matrix.n_users, k))
    Q = rng.normal(0.0, init_std, size=(matrix.n_items, k))
    bu = np.zeros(matrix.n_users)
    bi = np.zeros(matrix.n_items)
    model = MFModel.from_matrix(
        matrix,
        global_mean=mu,
        user_bias=bu,
        item_bias=bi,
        user_factors=P,
        item_factors=Q,
        name="biased SGD" if biased else "SGD",
        params=dict(
            k=k,
            lr=lr,
            reg=reg,
            epochs=epochs,
            biased=biased,
            batch_size=batch_size,
            init_std=init_std,
            seed=seed,
        ),
        history=monitor.history,
        # per rating the penalty is reg (b_u² + |p_u|²): for one user, reg · n_u in total
        fold_in=RidgeFoldIn(reg=reg, weighted=True, bias=biased),
    )
    epoch_range = range(1, epochs + 1)
    if progress:
        from tqdm.auto import tqdm

        epoch_range = tqdm(epoch_range, desc=model.name, unit="epoch")
    biases = (bu, bi) if biased else (None, None)
    for epoch in epoch_range:
        order = rng.permutation(len(ratings))
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
            sgd_epoch(
                users,
                items,
                ratings,
                P,
                Q,
                *biases,
                mu=mu,
                lr=lr,
                reg=reg,
                order=order,
                batch_size=batch_size,
            )
        if not all(np.isfinite(a).all() for a in (P, Q, bu, bi)):
            raise FloatingPointError(
                f"SGD diverged in epoch {epoch} (parameters became inf/NaN) with lr={lr}, "
                f"batch_size={batch_size}: lower lr"
            )
        monitor.record(model, train_true=ratings, train_pred=model.predict_index(users, items))
    return model
