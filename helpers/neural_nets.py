"""What the series' neural models share: the network, its training loop and the scorer object.

**One network, several models.** Every net of :mod:`helpers.neural_ranking` and
:mod:`helpers.neural_rating` is a sum of up to two parts, on embeddings (rows of a table, i.e.
one-hot vectors times a matrix) looked up for user row ``u`` and movie row ``i``:

* the *GMF part* (``gmf_*`` weights): ``h . (p_u * q_i) + b_i`` — a dot product with learned
  weights per factor, plus a movie bias;
* the *MLP part* (``user_emb``, ``item_emb``, …): ``w . relu(... relu(W_1 [p_u; q_i; x_i] + b_1))``
  where ``x_i`` are optional movie features (the hybrid's genres and year). The first layer is
  stored as two blocks, ``W_1 [p; q] = W_user p + W_item q``, which is the same product and lets
  a whole (users × movies) grid be scored from one projection per user and one per movie.

plus an output bias. A rating model squashes the output into ``y_range`` with a sigmoid
(fastai's ``sigmoid_range``); a ranking model uses it as a logit. Users or movies the net never
saw get zero embeddings (their content features, if any, still count): a finite score, never an
error.

**Training** (:func:`train_net`): one jitted epoch per call — shuffle the ratings with the
epoch's PRNG key, cut them into mini-batches (for ranking, each rating comes with freshly drawn
negatives), and ``lax.scan`` the Adam(W) steps of ``optax`` over them. It compiles once per
data shape and network shape; learning rate and weight decay are traced.

:class:`NeuralScorer` holds a trained net as NumPy arrays and implements the series' Scorer
protocol (``score``) and, for rating models, ``predict``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from helpers.checks import check_int
from helpers.matrix import index_of
from helpers.neural import numpy_rng  # importing helpers.neural pins JAX to the CPU
from helpers.schema import RATING_SCALE

#: Users scored at once by :meth:`NeuralScorer.score`, and pairs by :meth:`NeuralScorer.predict`
#: (fixed sizes, padded: the scoring functions compile once per model).
SCORE_CHUNK = 8
PREDICT_CHUNK = 16_384

#: Adam with decoupled weight decay; the values given here are replaced by each fit's own
#: (``inject_hyperparams`` keeps them in the optimizer state, so they are traced, not compiled).
OPTIMIZER = optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3, weight_decay=0.0)


# ----------------------------------------------------------------------------- the network


def _lookup(table, rows):
    """Rows of an embedding table; row -1 (unseen) gives zeros. ``rows`` any shape S -> S+(d,)."""
    seen = (rows >= 0)[..., None]
    return jnp.where(seen, table[jnp.maximum(rows, 0)], 0.0)


def net_output(weights: dict, users, items, features=None, y_range=None):
    """The network's output for user rows ``users`` and movie rows ``items`` (broadcastable
    shapes, -1 = unseen); ``features`` (shape of ``items`` + (f,)) for a net with content inputs.
    Returns stars in ``y_range`` (a rating net) or the raw output (a logit) when it is None."""
    out = weights["out_bias"]
    if "gmf_user" in weights:  # h . (p_u * q_i) + b_i
        pq = _lookup(weights["gmf_user"], users) * _lookup(weights["gmf_item"], items)
        out = out + pq @ weights["gmf_out"] + _lookup(weights["item_bias"][:, None], items)[..., 0]
    if "user_emb" in weights:  # w . relu(... relu(W_user p_u + W_item [q_i; x_i] + b_1))
        item_input = _lookup(weights["item_emb"], items)
        if features is not None:
            item_input = jnp.concatenate([item_input, features], axis=-1)
        hidden = _lookup(weights["user_emb"], users) @ weights["first_user"]
        hidden = jax.nn.relu(hidden + item_input @ weights["first_item"] + weights["first_bias"])
        for layer in weights["hidden"]:
            hidden = jax.nn.relu(hidden @ layer["w"] + layer["b"])
        out = out + hidden @ weights["mlp_out"]
    if y_range is not None:
        low, high = y_range
        out = low + (high - low) * jax.nn.sigmoid(out)
    return out


def init_net(
    key,
    *,
    n_users: int,
    n_items: int,
    gmf_dim: int = 0,
    mlp_dim: int = 0,
    hidden: tuple[int, ...] = (),
    n_features: int = 0,
) -> dict:
    """Starting weights: embeddings N(0, 0.01²) (He et al. 2017), dense layers Glorot-normal
    (standard deviation sqrt(2 / (fan_in + fan_out))), biases 0, GMF output weights 1 (the GMF
    part starts as a plain dot product). A part with dimension 0 is left out; the MLP part needs
    ``hidden`` (layer widths, first one first). Drawn by :func:`helpers.neural.numpy_rng` from
    ``key``; float32 JAX arrays."""
    shapes: dict[str, tuple[int, ...]] = {}
    if gmf_dim:
        shapes.update(gmf_user=(n_users, gmf_dim), gmf_item=(n_items, gmf_dim))
    if mlp_dim:
        shapes.update(user_emb=(n_users, mlp_dim), item_emb=(n_items, mlp_dim))
        shapes["first"] = (2 * mlp_dim + n_features, hidden[0])
        shapes.update({f"hidden{j}": pair for j, pair in enumerate(itertools.pairwise(hidden))})
        shapes["mlp_out"] = (hidden[-1], 1)
    rng = numpy_rng(key)
    drawn = {}
    for name, shape in shapes.items():
        embedding = name.endswith("_emb") or name.startswith("gmf_")
        scale = 0.01 if embedding else np.sqrt(2 / sum(shape))
        drawn[name] = jnp.asarray(rng.normal(0.0, scale, shape), jnp.float32)
    weights: dict[str, Any] = {"out_bias": jnp.zeros((), jnp.float32)}
    if gmf_dim:
        weights.update(gmf_user=drawn["gmf_user"], gmf_item=drawn["gmf_item"])
        weights["gmf_out"] = jnp.ones(gmf_dim, jnp.float32)
        weights["item_bias"] = jnp.zeros(n_items, jnp.float32)
    if mlp_dim:
        weights.update(user_emb=drawn["user_emb"], item_emb=drawn["item_emb"])
        weights["first_user"] = drawn["first"][:mlp_dim]
        weights["first_item"] = drawn["first"][mlp_dim:]
        weights["first_bias"] = jnp.zeros(hidden[0], jnp.float32)
        weights["hidden"] = [
            {"w": drawn[f"hidden{j}"], "b": jnp.zeros(b, jnp.float32)}
            for j, (_, b) in enumerate(itertools.pairwise(hidden))
        ]
        weights["mlp_out"] = drawn["mlp_out"][:, 0]
    return weights


def check_hidden(hidden) -> tuple[int, ...]:
    """``hidden`` as a non-empty tuple of layer widths >= 1."""
    if not isinstance(hidden, tuple | list) or len(hidden) == 0:
        raise TypeError(f"hidden must be a non-empty tuple of layer widths, got {hidden!r}")
    return tuple(check_int("each width in hidden", h, minimum=1) for h in hidden)


def count_weights(weights: dict) -> int:
    """Number of trainable numbers in a net."""
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(weights)))


# ----------------------------------------------------------------------------- training


def _unrated_items(key, users, indptr, shifted, n_items):
    """One movie per entry of ``users``, uniform over the movies that user has *not* rated.

    Draw ``r`` uniform in ``0 .. m - n_u - 1``: the r-th unrated movie is ``r`` plus the number
    of rated movies before it, i.e. plus ``#{k : s_k - k <= r}`` for the user's sorted rated
    movies ``s_0 < s_1 < …`` (``shifted`` holds ``s_k - k``, non-decreasing within a user). That
    count is a binary search in the user's own segment of ``shifted``. Returns the movies and a
    0/1 weight (0 for a user who rated everything: nothing to draw)."""
    lo, hi = indptr[users], indptr[users + 1]
    n_free = n_items - (hi - lo)
    r = jnp.floor(jax.random.uniform(key, users.shape) * n_free).astype(lo.dtype)
    last = shifted.shape[0] - 1

    def halve(_, bounds):  # one step of binary search in every segment at once
        lo, hi = bounds
        mid = (lo + hi) // 2
        go_right = (lo < hi) & (shifted[jnp.minimum(mid, last)] <= r)
        return jnp.where(go_right, mid + 1, lo), jnp.where((lo < hi) & ~go_right, mid, hi)

    lo, _ = jax.lax.fori_loop(0, 32, halve, (lo, hi))  # 32 halvings: any segment below 2**32
    items = jnp.minimum(r + lo - indptr[users], n_items - 1)
    return items, (n_free > 0).astype(jnp.float32)


def _example_losses(weights, batch, data, loss: str, y_range):
    features = data["features"][batch["items"]] if "features" in data else None
    out = net_output(weights, batch["users"], batch["items"], features, y_range)
    if loss == "logistic":
        return optax.sigmoid_binary_cross_entropy(out, batch["targets"])
    return (out - batch["targets"]) ** 2


def _batch_loss(weights, batch, data, loss, y_range):
    losses = _example_losses(weights, batch, data, loss, y_range)
    return jnp.sum(batch["weights"] * losses) / jnp.maximum(jnp.sum(batch["weights"]), 1.0)


def _batches(data: dict, key, n_negatives: int, batch_size: int) -> dict:
    """The epoch's mini-batches, arrays of shape (n_batches, examples per batch).

    The ratings (positives) are shuffled and cut into batches of ``batch_size``; the last one is
    padded with weight-0 copies of rating 0. With ``n_negatives``, every positive brings that
    many unrated movies of the same user with target 0, drawn afresh (:func:`_unrated_items`),
    so a batch holds ``batch_size * (1 + n_negatives)`` examples. Only the positives need a
    permutation (fresh negatives are in random order already)."""
    key_order, key_negatives = jax.random.split(key)
    n = data["users"].shape[0]
    n_batches = -(-n // batch_size)
    pad = n_batches * batch_size - n
    order = jnp.concatenate([jax.random.permutation(key_order, n), jnp.zeros(pad, jnp.int32)])
    real = (jnp.arange(n + pad) < n).astype(jnp.float32)
    parts = {
        "users": data["users"][order],
        "items": data["items"][order],
        "targets": data["targets"][order],
        "weights": real,
    }
    batches = {name: a.reshape(n_batches, batch_size) for name, a in parts.items()}
    if n_negatives:
        users = jnp.repeat(parts["users"], n_negatives)
        items, free = _unrated_items(
            key_negatives, users, data["indptr"], data["shifted"], data["n_items"]
        )
        negatives = {
            "users": users,
            "items": items,
            "targets": jnp.zeros(users.shape[0]),
            "weights": free * jnp.repeat(real, n_negatives),
        }
        batches = {
            name: jnp.concatenate(
                [batches[name], a.reshape(n_batches, batch_size * n_negatives)], axis=1
            )
            for name, a in negatives.items()
        }
    return batches


@partial(jax.jit, static_argnames=("loss", "y_range", "n_negatives", "batch_size"))
def _epoch(weights, opt_state, data, key, *, loss, y_range, n_negatives, batch_size):
    batches = _batches(data, key, n_negatives, batch_size)
    value_and_grad = jax.value_and_grad(_batch_loss)

    def step(carry, batch):
        w, state = carry
        value, grads = value_and_grad(w, batch, data, loss, y_range)
        updates, state = OPTIMIZER.update(grads, state, w)
        return (optax.apply_updates(w, updates), state), value * jnp.sum(batch["weights"])

    (weights, opt_state), totals = jax.lax.scan(step, (weights, opt_state), batches)
    return weights, opt_state, jnp.sum(totals) / jnp.sum(batches["weights"])


def positives_index(users: np.ndarray, items: np.ndarray, n_users: int) -> dict:
    """What :func:`_unrated_items` needs: the rated movies of each user sorted (``indptr``
    (n+1,) into them) and ``shifted`` = movie row minus its position within the user."""
    order = np.lexsort((items, users))
    u, i = users[order], items[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(u, minlength=n_users))])
    shifted = i - (np.arange(len(u)) - indptr[u])
    return {"indptr": jnp.asarray(indptr, jnp.int32), "shifted": jnp.asarray(shifted, jnp.int32)}


def train_net(
    weights: dict,
    data: dict,
    *,
    key,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    loss: str,
    y_range: tuple[float, float] | None = None,
    n_negatives: int = 0,
    after_epoch: Callable[[dict, float], None] | None = None,
) -> dict:
    """Train ``weights`` for ``epochs`` passes with Adam(W); returns the trained weights.

    ``data``: ``users``, ``items`` (nnz,) int32 rows, ``targets`` (nnz,) (stars, or 1 for the
    positives of a ranking model); for ranking also ``n_items`` (the number of movie rows),
    ``indptr`` and ``shifted`` (:func:`positives_index`); for a hybrid ``features`` (m, f).
    ``loss``: "squared" (stars, mean squared error) or "logistic" (binary cross-entropy on
    logits, with ``n_negatives`` sampled per positive and epoch). ``batch_size`` ratings per
    step (with their negatives: :func:`_batches`). Each epoch gets its own key
    split from ``key``. ``after_epoch(weights, mean loss)`` is called after every epoch (the
    fit's monitor)."""
    opt_state = OPTIMIZER.init(weights)
    opt_state.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
    opt_state.hyperparams["weight_decay"] = jnp.asarray(weight_decay, jnp.float32)
    for epoch_key in jax.random.split(key, epochs):
        weights, opt_state, mean_loss = _epoch(
            weights,
            opt_state,
            data,
            epoch_key,
            loss=loss,
            y_range=y_range,
            n_negatives=n_negatives,
            batch_size=batch_size,
        )
        mean_loss = float(mean_loss)
        if not np.isfinite(mean_loss):
            raise FloatingPointError(f"training diverged (loss {mean_loss}) with lr={lr}")
        if after_epoch is not None:
            after_epoch(weights, mean_loss)
    return weights


# ----------------------------------------------------------------------------- the scorer


@dataclass(frozen=True, repr=False)
class ItemFeatures:
    """Content features of movies: ``values`` (n, f) float32 for the ascending raw ``item_ids``
    (n,), one name per column. A movie not in the table gets a row of zeros."""

    item_ids: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]

    def of(self, item_ids) -> np.ndarray:
        """Feature rows of raw movieIds (len, f)."""
        rows = index_of(self.item_ids, np.asarray(item_ids))
        out = self.values[np.maximum(rows, 0)]
        out[rows < 0] = 0.0
        return out

    def __repr__(self) -> str:
        return f"ItemFeatures(items={len(self.item_ids)}, features={len(self.names)})"


@partial(jax.jit, static_argnames=("y_range",))
def _score_grid(weights, users, items, features, y_range):
    grid_features = None if features is None else features[None, :, :]
    return net_output(weights, users[:, None], items[None, :], grid_features, y_range)


_score_pairs = jax.jit(net_output, static_argnames=("y_range",))


@dataclass(eq=False, repr=False)
class NeuralScorer:
    """A trained net of this module (a :class:`~helpers.model.Scorer`).

    ``weights``: the net's arrays (NumPy, float32; see :func:`net_output`); ``user_ids`` (n,) and
    ``item_ids`` (m,) ascending raw ids of the training rows; ``params`` the hyper-parameters;
    ``history`` per epoch; ``predicts_stars`` for rating nets (their output lies in ``y_range``,
    and :meth:`predict` clips it to ``rating_scale``, unless that is ``None``: an unbounded model
    of real-valued targets); ``item_features`` for a hybrid.
    """

    name: str
    user_ids: np.ndarray
    item_ids: np.ndarray
    weights: dict
    params: dict = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    predicts_stars: bool = False
    y_range: tuple[float, float] | None = None
    rating_scale: tuple[float, float] | None = RATING_SCALE
    item_features: ItemFeatures | None = None
    fold_in: Any = None
    _device: dict | None = field(default=None, init=False, repr=False)

    def _weights(self) -> dict:
        """The weights as JAX arrays, converted once."""
        if self._device is None:
            self._device = jax.tree.map(jnp.asarray, self.weights)
        return self._device

    def _features(self, item_ids):
        return None if self.item_features is None else self.item_features.of(item_ids)

    def score(self, user_ids, item_ids) -> np.ndarray:
        """Scores (b, m) float64 of raw ``user_ids`` (b,) for raw ``item_ids`` (m,): stars for a
        rating net (unclipped), logits for a ranking net; unseen ids get zero embeddings."""
        u = index_of(self.user_ids, np.asarray(user_ids)).astype(np.int32)
        i = index_of(self.item_ids, np.asarray(item_ids)).astype(np.int32)
        features = self._features(item_ids)
        out = np.empty((len(u), len(i)), dtype=np.float64)
        for start in range(0, len(u), SCORE_CHUNK):
            chunk = u[start : start + SCORE_CHUNK]
            padded = np.pad(chunk, (0, SCORE_CHUNK - len(chunk)), constant_values=-1)
            grid = _score_grid(self._weights(), padded, i, features, self.y_range)
            out[start : start + len(chunk)] = np.asarray(grid)[: len(chunk)]
        return out

    def predict(self, user_ids, item_ids, *, clip: bool = True) -> np.ndarray:
        """Predicted stars for pairs of raw ids (equal lengths), clipped to ``rating_scale``
        (when ``clip`` and the model has one)."""
        if not self.predicts_stars:
            raise TypeError(
                f"model {self.name!r} was fitted to rank movies, not to predict stars: its scores "
                "order a user's candidates but are not ratings. Use score() or ranking metrics"
            )
        user_ids, item_ids = np.asarray(user_ids), np.asarray(item_ids)
        if user_ids.shape != item_ids.shape:
            raise ValueError(
                f"users and items must have the same shape, got {user_ids.shape} and "
                f"{item_ids.shape}"
            )
        u = index_of(self.user_ids, user_ids.ravel()).astype(np.int32)
        i = index_of(self.item_ids, item_ids.ravel()).astype(np.int32)
        features = self._features(item_ids.ravel())
        out = np.empty(len(u), dtype=np.float64)
        for start in range(0, len(u), PREDICT_CHUNK):
            stop = min(start + PREDICT_CHUNK, len(u))
            pad = PREDICT_CHUNK - (stop - start)
            uu = np.pad(u[start:stop], (0, pad), constant_values=-1)
            ii = np.pad(i[start:stop], (0, pad), constant_values=-1)
            ff = None if features is None else np.pad(features[start:stop], ((0, pad), (0, 0)))
            scores = _score_pairs(self._weights(), uu, ii, ff, self.y_range)
            out[start:stop] = np.asarray(scores)[: stop - start]
        out = out.reshape(user_ids.shape)
        if clip and self.rating_scale is not None:
            return np.clip(out, *self.rating_scale)
        return out

    @property
    def n_weights(self) -> int:
        return count_weights(self.weights)

    def __repr__(self) -> str:  # short and free of memory addresses, for notebooks
        return (
            f"{type(self).__name__}(name={self.name!r}, users={len(self.user_ids)}, "
            f"items={len(self.item_ids)}, weights={self.n_weights:,})"
        )
