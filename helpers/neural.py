"""Biased matrix factorization written as a JAX loss: automatic differentiation re-derives the
hand-made gradients of :mod:`helpers.sgd`.

The model and the loss are those of :mod:`helpers.sgd` (sum over the observed ratings)::

    r_hat = mu + b_u + b_i + p_u . q_i
    L = sum 1/2 [ (r - r_hat)^2 + reg * (b_u^2 + b_i^2 + |p_u|^2 + |q_i|^2) ]

* :func:`mf_loss` is ``L`` in ``jax.numpy``; ``jax.grad(mf_loss)`` is the gradient that notebook 03
  derived by hand (:func:`helpers.sgd.sgd_gradients` returns minus its per-rating terms).
* :func:`mf_sgd_epoch` is one jitted epoch of plain mini-batch SGD whose steps come from
  ``jax.grad``: for the same order, batch size and starting point it makes the updates of
  :func:`helpers.sgd.sgd_epoch`.
* :func:`fit_jax_mf` trains it with explicit PRNG keys and returns an :class:`MFModel`.

Importing this module (or any ``helpers.neural_*`` module, which import it) pins JAX to the CPU,
which also keeps it from printing a warning about missing accelerators, and, unless
``XLA_FLAGS`` already says otherwise, skips XLA's most expensive LLVM passes: compiling is then
about a fifth faster and these small kernels run as fast.
"""

from __future__ import annotations

import os
from functools import partial

if "xla_llvm_disable_expensive_passes" not in os.environ.get("XLA_FLAGS", ""):  # before JAX starts
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_llvm_disable_expensive_passes=true".strip()

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from helpers.checks import check_int, check_positive, check_ratings, check_real, check_seed
from helpers.foldin import RidgeFoldIn
from helpers.history import Monitor
from helpers.matrix import RatingMatrix, as_matrix
from helpers.model import MFModel

jax.config.update("jax_platforms", "cpu")

#: Names of the parameter arrays of the MF loss (same names as :func:`helpers.sgd.sgd_gradients`).
MF_PARAMS = ("P", "Q", "user_bias", "item_bias")


def mf_loss(params: dict, users, items, ratings, *, mu: float, reg: float, weights=None):
    """The regularised loss ``L`` of biased MF (module docstring), a JAX scalar.

    ``params``: ``{"P": (n, k), "Q": (m, k), "user_bias": (n,), "item_bias": (m,)}``;
    ``users``, ``items`` (nnz,) row numbers, ``ratings`` (nnz,) stars; ``weights`` (nnz,)
    multiplies each rating's term (``None``: all 1; a padded rating gets 0). Equal to
    :func:`helpers.sgd.regularized_loss` for the same arrays.
    """
    pu, qi = params["P"][users], params["Q"][items]
    bu, bi = params["user_bias"][users], params["item_bias"][items]
    error = ratings - (mu + bu + bi + jnp.sum(pu * qi, axis=-1))
    penalty = bu**2 + bi**2 + jnp.sum(pu**2, axis=-1) + jnp.sum(qi**2, axis=-1)
    terms = 0.5 * (error**2 + reg * penalty)
    return jnp.sum(terms if weights is None else weights * terms)


def _batch_loss(rows: tuple, ratings, weights, mu, reg):
    """``mf_loss`` of one batch as a function of the batch's own rows ``(p_u, q_i, b_u, b_i)``
    (each (B, k) or (B,)): its gradient is the batch's per-rating terms of ``grad L``."""
    pu, qi, bu, bi = rows
    error = ratings - (mu + bu + bi + jnp.sum(pu * qi, axis=-1))
    penalty = bu**2 + bi**2 + jnp.sum(pu**2, axis=-1) + jnp.sum(qi**2, axis=-1)
    return jnp.sum(weights * 0.5 * (error**2 + reg * penalty))


@partial(jax.jit, static_argnames=("batch_size",))
def mf_sgd_epoch(params: dict, users, items, ratings, order, mu, lr, reg, *, batch_size: int):
    """One epoch of plain mini-batch SGD on :func:`mf_loss`, steps from ``jax.grad``; returns the
    new ``params`` (JAX arrays are immutable: nothing is updated in place).

    The ratings are visited in ``order`` (nnz,), ``batch_size`` at a time. Within a batch every
    rating's gradient is taken at the same parameters, and a row that occurs ``c`` times gets
    the sum of its ``c`` steps — the update of :func:`helpers.sgd.sgd_epoch`. The gradient is
    taken with respect to the gathered rows ``P[u], Q[i], b_u, b_i`` of the batch (the gradient
    with respect to the whole table is zero elsewhere) and scattered back with ``.at[].add``.
    The last, shorter batch is padded with zero-weight ratings. ``lr``, ``reg`` and ``mu`` are
    traced: changing them does not recompile.
    """
    n = order.shape[0]
    n_batches = -(-n // batch_size)
    pad = n_batches * batch_size - n
    order = jnp.concatenate([order, jnp.zeros(pad, order.dtype)])
    weights = jnp.concatenate([jnp.ones(n, ratings.dtype), jnp.zeros(pad, ratings.dtype)])
    batches = tuple(
        a.reshape(n_batches, batch_size)
        for a in (users[order], items[order], ratings[order], weights)
    )
    grad = jax.grad(_batch_loss)

    def step(p, batch):
        u, i, r, w = batch
        rows = (p["P"][u], p["Q"][i], p["user_bias"][u], p["item_bias"][i])
        g_pu, g_qi, g_bu, g_bi = grad(rows, r, w, mu, reg)
        new = {
            "P": p["P"].at[u].add(-lr * g_pu),
            "Q": p["Q"].at[i].add(-lr * g_qi),
            "user_bias": p["user_bias"].at[u].add(-lr * g_bu),
            "item_bias": p["item_bias"].at[i].add(-lr * g_bi),
        }
        return new, None

    params, _ = jax.lax.scan(step, params, batches)
    return params


#: ``mf_loss`` compiled once per data shape (``mu`` and ``reg`` are traced).
_mf_objective = jax.jit(mf_loss)


def numpy_rng(key) -> np.random.Generator:
    """A NumPy generator seeded by the bits of a JAX PRNG key: starting weights are drawn with
    it (instant, where a ``jax.random`` draw of every new shape would first be compiled), so
    the key still decides everything."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())


def _mf_init(key, init_std: float, n_users: int, n_items: int, k: int) -> dict:
    rng = numpy_rng(key)
    return {
        "P": jnp.asarray(rng.normal(0.0, init_std, (n_users, k)), jnp.float32),
        "Q": jnp.asarray(rng.normal(0.0, init_std, (n_items, k)), jnp.float32),
        "user_bias": jnp.zeros(n_users, jnp.float32),
        "item_bias": jnp.zeros(n_items, jnp.float32),
    }


def mf_model(matrix: RatingMatrix, weights: dict, mu: float, **fields) -> MFModel:
    """An :class:`MFModel` (float64 NumPy arrays) from the JAX ``weights`` of :func:`mf_loss`;
    ``fields`` (name, params, history, …) pass on to the model."""
    arrays = {name: np.asarray(weights[name], dtype=np.float64) for name in MF_PARAMS}
    return MFModel.from_matrix(
        matrix,
        global_mean=mu,
        user_bias=arrays["user_bias"],
        item_bias=arrays["item_bias"],
        user_factors=arrays["P"],
        item_factors=arrays["Q"],
        **fields,
    )


def check_train(train) -> RatingMatrix:
    """The training data of a fit as a matrix: from a non-empty ratings DataFrame (see
    :func:`helpers.checks.check_ratings`) or a RatingMatrix with at least one rating."""
    if isinstance(train, RatingMatrix):
        if train.nnz == 0:
            raise ValueError("train is empty: it needs at least one rating")
        return train
    check_ratings("train", train)
    return as_matrix(train)


def fit_jax_mf(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 50,
    lr: float = 0.01,
    reg: float = 0.05,
    epochs: int = 20,
    batch_size: int = 256,
    init_std: float = 0.1,
    seed: int = 0,
    valid: pd.DataFrame | None = None,
) -> MFModel:
    """Biased MF trained by :func:`mf_sgd_epoch` — the settings of :func:`helpers.sgd.fit_sgd`,
    the gradients of ``jax.grad``, float32 arithmetic.

    ``mu`` is the training mean (fixed), factors start as N(0, ``init_std``²) and biases at 0.
    Randomness comes from ``jax.random.key(seed)``: one key for the start (:func:`numpy_rng`),
    one per epoch for the visiting order, so the same seed gives the same model. ``history``
    (per epoch): iteration, objective (``L`` in squared stars), train_rmse and, with ``valid``,
    valid_rmse (clipped stars). The model's ``fold_in`` is the ridge problem of this loss
    (penalty ``reg`` per rating).
    """
    k = check_int("k", k, minimum=1)
    lr = check_positive("lr", lr)
    reg = check_real("reg", reg, minimum=0.0)
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    init_std = check_positive("init_std", init_std)
    seed = check_seed("seed", seed)
    matrix = check_train(train)
    monitor = Monitor(valid, objective=True)
    users = jnp.asarray(matrix.users, dtype=jnp.int32)
    items = jnp.asarray(matrix.items, dtype=jnp.int32)
    ratings = jnp.asarray(matrix.values, dtype=jnp.float32)
    mu = float(matrix.values.mean())
    key_init, key_epochs = jax.random.split(jax.random.key(seed))
    params = _mf_init(key_init, init_std, matrix.n_users, matrix.n_items, k)
    hyper = dict(k=k, lr=lr, reg=reg, epochs=epochs, batch_size=batch_size)
    hyper.update(init_std=init_std, seed=seed)
    fields = dict(name="biased MF (JAX)", params=hyper, fold_in=RidgeFoldIn(reg, weighted=True))
    for key in jax.random.split(key_epochs, epochs):
        order = jax.random.permutation(key, matrix.nnz)
        params = mf_sgd_epoch(
            params, users, items, ratings, order, mu, lr, reg, batch_size=batch_size
        )
        objective = float(_mf_objective(params, users, items, ratings, mu=mu, reg=reg))
        if not np.isfinite(objective):
            raise FloatingPointError(f"SGD diverged (loss {objective}) with lr={lr}: lower lr")
        model = mf_model(matrix, params, mu, **fields)
        train_pred = model.predict_index(matrix.users, matrix.items)
        monitor.record(model, objective=objective, train_true=matrix.values, train_pred=train_pred)
    model.history = monitor.history
    return model
