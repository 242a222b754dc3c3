"""Neural collaborative filtering for ranking (He et al. 2017): GMF, MLP and NeuMF in JAX.

Implicit feedback: every training rating is a *positive* (the user chose to watch and rate the
movie, whatever the stars); every other movie of the catalogue is unlabelled. Each epoch pairs
every positive with ``n_negatives`` movies the user has not rated, drawn uniformly (exactly:
no rejection loop, see :func:`helpers.neural_nets._unrated_items`) with the epoch's PRNG key, and
fits the logistic loss ``-log sigmoid(s_ui)`` on positives and ``-log sigmoid(-s_uj)`` on
negatives with Adam. Three score functions ``s_ui``:

* **GMF** :func:`fit_gmf`: ``h . (p_u * q_i) + b_i + b`` — a dot product of ``p_u * h`` with
  ``q_i``, so it is returned as an :class:`~helpers.model.MFModel` (``predicts_stars=False``):
  the series' dot-product model trained for ranking.
* **MLP** :func:`fit_mlp`: a tower of ReLU layers on the concatenated embeddings ``[p_u; q_i]``.
* **NeuMF** :func:`fit_neumf`: both, with separate embeddings, summed in the output layer.

The nets are :class:`~helpers.neural_nets.NeuralScorer` objects. Every fit takes ``valid`` (a
ratings table) to record NDCG@10 per epoch under the series' ranking rules.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from helpers.checks import check_int, check_positive, check_real, check_seed
from helpers.history import Monitor
from helpers.matrix import RatingMatrix
from helpers.model import MFModel
from helpers.neural import check_train
from helpers.neural_nets import (
    NeuralScorer,
    check_hidden,
    init_net,
    positives_index,
    train_net,
)


def _fit_ranking(
    train,
    valid,
    *,
    name: str,
    gmf_dim: int,
    mlp_dim: int,
    hidden: tuple[int, ...],
    epochs,
    lr,
    weight_decay,
    batch_size,
    n_negatives,
    seed,
):
    """The shared body of the three fits: checks, data, monitor, training, the returned model."""
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_positive("lr", lr)
    weight_decay = check_real("weight_decay", weight_decay, minimum=0.0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n_negatives = check_int("n_negatives", n_negatives, minimum=1)
    seed = check_seed("seed", seed)
    matrix = check_train(train)
    monitor = Monitor(valid, objective=True, ranking=True, train=train)
    params = dict(gmf_dim=gmf_dim, mlp_dim=mlp_dim, hidden=hidden, epochs=epochs, lr=lr)
    params.update(
        weight_decay=weight_decay, batch_size=batch_size, n_negatives=n_negatives, seed=seed
    )
    users, items = matrix.users.astype(np.int32), matrix.items.astype(np.int32)
    data = {
        "users": jnp.asarray(users),
        "items": jnp.asarray(items),
        "targets": jnp.ones(matrix.nnz, jnp.float32),
        "n_items": jnp.asarray(matrix.n_items, jnp.int32),
        **positives_index(users, items, matrix.n_users),
    }
    key_init, key_train = jax.random.split(jax.random.key(seed))
    weights = init_net(
        key_init,
        n_users=matrix.n_users,
        n_items=matrix.n_items,
        gmf_dim=gmf_dim,
        mlp_dim=mlp_dim,
        hidden=hidden,
    )

    def build(w):
        arrays = jax.tree.map(np.asarray, w)
        if mlp_dim == 0:  # GMF: a dot product of (p_u * h) and q_i
            return MFModel.from_matrix(
                matrix,
                global_mean=float(arrays["out_bias"]),
                item_bias=arrays["item_bias"].astype(np.float64),
                user_factors=(arrays["gmf_user"] * arrays["gmf_out"]).astype(np.float64),
                item_factors=arrays["gmf_item"].astype(np.float64),
                name=name,
                params=params,
                predicts_stars=False,
            )
        return NeuralScorer(name, matrix.user_ids, matrix.item_ids, arrays, params=params)

    def after_epoch(w, mean_loss):
        monitor.record(build(w), objective=mean_loss)

    weights = train_net(
        weights,
        data,
        key=key_train,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        loss="logistic",
        n_negatives=n_negatives,
        after_epoch=after_epoch,
    )
    model = build(weights)
    model.history = monitor.history
    return model


def fit_gmf(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 32,
    epochs: int = 10,
    lr: float = 0.002,
    weight_decay: float = 0.0,
    batch_size: int = 1024,
    n_negatives: int = 4,
    seed: int = 0,
    valid: pd.DataFrame | None = None,
) -> MFModel:
    """Generalized matrix factorization ``s_ui = h . (p_u * q_i) + b_i + b`` trained for ranking
    (module docstring), returned as a ranking :class:`MFModel` with factors ``p_u * h`` and
    ``q_i``, movie biases ``b_i`` and global offset ``b``.

    ``k`` factors; Adam with learning rate ``lr`` and decoupled ``weight_decay``; ``batch_size``
    positives per step, each with ``n_negatives`` unrated movies drawn afresh every epoch (a
    step sees ``batch_size * (1 + n_negatives)`` examples); everything random
    comes from ``jax.random.key(seed)``. ``history``: iteration, objective (mean logistic loss of
    the epoch) and, with ``valid``, valid_ndcg (NDCG@10).
    """
    k = check_int("k", k, minimum=1)
    return _fit_ranking(
        train,
        valid,
        name="GMF",
        gmf_dim=k,
        mlp_dim=0,
        hidden=(),
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        n_negatives=n_negatives,
        seed=seed,
    )


def fit_mlp(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 32,
    hidden: tuple[int, ...] = (32, 16, 8),
    epochs: int = 10,
    lr: float = 0.002,
    weight_decay: float = 0.0,
    batch_size: int = 1024,
    n_negatives: int = 4,
    seed: int = 0,
    valid: pd.DataFrame | None = None,
) -> NeuralScorer:
    """NCF's MLP: ``s_ui = w . relu(… relu(W_1 [p_u; q_i] + b_1))`` with ``k``-dimensional user
    and movie embeddings and ReLU layers of widths ``hidden`` (He et al.'s 3-layer tower for 8
    predictive factors is the default). Training and ``history`` as in :func:`fit_gmf`."""
    k = check_int("k", k, minimum=1)
    return _fit_ranking(
        train,
        valid,
        name="MLP",
        gmf_dim=0,
        mlp_dim=k,
        hidden=check_hidden(hidden),
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        n_negatives=n_negatives,
        seed=seed,
    )


def fit_neumf(
    train: pd.DataFrame | RatingMatrix,
    *,
    k_gmf: int = 8,
    k_mlp: int = 32,
    hidden: tuple[int, ...] = (32, 16, 8),
    epochs: int = 10,
    lr: float = 0.002,
    weight_decay: float = 0.0,
    batch_size: int = 1024,
    n_negatives: int = 4,
    seed: int = 0,
    valid: pd.DataFrame | None = None,
) -> NeuralScorer:
    """NeuMF: a GMF part with ``k_gmf`` factors and an MLP part with ``k_mlp``-dimensional
    embeddings and layers ``hidden``, each with its own embeddings, added in the output layer
    (trained jointly from scratch; He et al. also pre-train the parts). As :func:`fit_gmf`."""
    k_gmf = check_int("k_gmf", k_gmf, minimum=1)
    k_mlp = check_int("k_mlp", k_mlp, minimum=1)
    return _fit_ranking(
        train,
        valid,
        name="NeuMF",
        gmf_dim=k_gmf,
        mlp_dim=k_mlp,
        hidden=check_hidden(hidden),
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        n_negatives=n_negatives,
        seed=seed,
    )
