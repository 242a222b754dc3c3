"""The peer libraries a reader would otherwise use, on the benchmark's split, in the same run.

``python -m benchmarks --peers`` adds these rows to the benchmark (``--peers NAME ...`` for some):

* Surprise (``scikit-surprise``): ``SVD`` with its defaults (k = 100, 20 epochs), ``SVD`` tuned
  on a validation split carved from the training table only (:data:`SVD_GRID`,
  :func:`helpers.evaluation.grid_search`), ``NMF`` and ``BaselineOnly`` — RMSE, MAE and ranking;
* implicit (``implicit.cpu``): ``AlternatingLeastSquares`` and ``BayesianPersonalizedRanking``
  on who rated what, two threads — ranking only (their scores are not stars);
* Spark MLlib ALS through :func:`helpers.spark.fit_spark_als`, when it imports and Java is
  present (the session is started before the timed fits).

The first two come with the optional extra ``bench`` (``pip install -e .[bench]``). A peer that
is missing or fails gets a row saying so, never a silent gap.

Fitted peers are wrapped as :class:`~helpers.model.Scorer` objects that score whole
(users × movies) blocks from the library's own arrays (Surprise's ``pu``, ``qi``, ``bu``,
``bi``; implicit's factor matrices), vectorized, with the library's own rule for users and
movies it never saw; the series' metrics then treat them exactly like its own models.

**Times as ratios.** The machine is shared, so absolute seconds mean little: every peer is
timed interleaved with the series' comparable model(s) (:data:`PEERS`' yardsticks), peer then
yardstick, ``repeats`` times, and the report gives the median of the per-repeat ratios
``peer fit s / yardstick fit s`` next to the median times. Fits start from the ratings table
(building the library's own data structure is part of its fit, as building the sparse matrix is
part of the series' fits).
"""

from __future__ import annotations

import importlib
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import models
from benchmarks.report import fmt_seconds, markdown_table
from helpers.matrix import index_of
from helpers.metrics import mae, rmse
from helpers.schema import ITEM, RATING, RATING_SCALE, USER
from helpers.threads import single_threaded_blas

#: Installed by the optional extra ``bench`` (pyproject.toml).
EXTRA = 'pip install -e ".[bench]"'

#: Grid of the tuned Surprise SVD, searched on a validation split of the training table.
SVD_GRID = {"n_factors": [50, 100], "lr_all": [0.005, 0.01], "reg_all": [0.02, 0.05, 0.1]}

#: Threads for implicit (the machine's two cores).
THREADS = 2


class PeerUnavailable(RuntimeError):
    """A peer library (or Java, for Spark) is not installed here."""


def require(module: str, package: str) -> Any:
    """``import module``, or :class:`PeerUnavailable` naming the package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PeerUnavailable(
            f"not available: {package} is not installed ({exc}); install the extra with {EXTRA}"
        ) from exc


# ----------------------------------------------------------------------------- scorers


@dataclass(frozen=True, eq=False, repr=False)
class SurpriseScorer:
    """A fitted Surprise ``SVD``, ``NMF`` or ``BaselineOnly`` as a Scorer, rows in ascending raw id
    order. Scores follow Surprise's ``estimate``: with ``biased``, ``mu + b_u + b_i + p_u·q_i``
    where a user (movie) it never saw drops ``b_u`` (``b_i``) and the product; without,
    ``p_u·q_i`` for seen pairs and Surprise's default prediction, the training mean, otherwise.
    :meth:`predict` clips to the rating scale, as Surprise's ``predict`` does."""

    name: str
    user_ids: np.ndarray  # (n,) ascending raw userIds
    item_ids: np.ndarray  # (m,) ascending raw movieIds
    global_mean: float
    user_bias: np.ndarray  # (n,)
    item_bias: np.ndarray  # (m,)
    user_factors: np.ndarray  # (n, k), k may be 0
    item_factors: np.ndarray  # (m, k)
    biased: bool = True
    rating_scale: tuple[float, float] = RATING_SCALE
    predicts_stars: bool = True

    def _parts(self, user_ids, item_ids):
        u = index_of(self.user_ids, np.atleast_1d(np.asarray(user_ids)))
        i = index_of(self.item_ids, np.atleast_1d(np.asarray(item_ids)))
        return u, i, u >= 0, i >= 0

    def score(self, user_ids, item_ids) -> np.ndarray:
        """(b, m) unclipped scores of users ``user_ids`` for movies ``item_ids`` (raw ids)."""
        u, i, seen_u, seen_i = self._parts(user_ids, item_ids)
        p = self.user_factors[np.maximum(u, 0)] * seen_u[:, None]
        q = self.item_factors[np.maximum(i, 0)] * seen_i[:, None]
        both = seen_u[:, None] & seen_i[None, :]
        product = p @ q.T
        if not self.biased:
            return np.where(both, product, self.global_mean)
        bu = np.where(seen_u, self.user_bias[np.maximum(u, 0)], 0.0)
        bi = np.where(seen_i, self.item_bias[np.maximum(i, 0)], 0.0)
        return self.global_mean + bu[:, None] + bi[None, :] + product

    def predict(self, users, items) -> np.ndarray:
        """Clipped predictions for pairs ``(users[j], items[j])`` of raw ids, shape (n,)."""
        u, i, seen_u, seen_i = self._parts(users, items)
        uu, ii = np.maximum(u, 0), np.maximum(i, 0)
        product = np.einsum("nk,nk->n", self.user_factors[uu], self.item_factors[ii])
        both = seen_u & seen_i
        if self.biased:
            pred = self.global_mean + np.where(seen_u, self.user_bias[uu], 0.0)
            pred = pred + np.where(seen_i, self.item_bias[ii], 0.0) + np.where(both, product, 0.0)
        else:
            pred = np.where(both, product, self.global_mean)
        return np.clip(pred, *self.rating_scale)

    def __repr__(self) -> str:
        return f"SurpriseScorer(name={self.name!r}, users={len(self.user_ids)}, k={self.k})"

    @property
    def k(self) -> int:
        return self.user_factors.shape[1]


@dataclass(frozen=True, eq=False, repr=False)
class FactorScorer:
    """A ranking model given by factor matrices (implicit's ALS and BPR): ``score = U[u] · V[i]``
    (BPR's item bias is a column of ``V`` against a column of ones in ``U``); users or movies it
    never saw score 0. Its scores rank; they are not stars."""

    name: str
    user_ids: np.ndarray  # (n,) ascending raw userIds
    item_ids: np.ndarray  # (m,) ascending raw movieIds
    user_factors: np.ndarray  # (n, f)
    item_factors: np.ndarray  # (m, f)
    predicts_stars: bool = False

    def score(self, user_ids, item_ids) -> np.ndarray:
        u = index_of(self.user_ids, np.atleast_1d(np.asarray(user_ids)))
        i = index_of(self.item_ids, np.atleast_1d(np.asarray(item_ids)))
        p = self.user_factors[np.maximum(u, 0)] * (u >= 0)[:, None]
        q = self.item_factors[np.maximum(i, 0)] * (i >= 0)[:, None]
        return (p @ q.T).astype(np.float64)

    def __repr__(self) -> str:
        return f"FactorScorer(name={self.name!r}, users={len(self.user_ids)})"


# ----------------------------------------------------------------------------- Surprise


def surprise_trainset(train: pd.DataFrame):
    """Surprise's ``Trainset`` of a ratings table (its own inner ids)."""
    surprise = require("surprise", "scikit-surprise")
    reader = surprise.Reader(rating_scale=RATING_SCALE)
    data = surprise.Dataset.load_from_df(train[[USER, ITEM, RATING]], reader)
    return data.build_full_trainset()


def surprise_scorer(algo, trainset, name: str) -> SurpriseScorer:
    """A fitted Surprise algorithm as a :class:`SurpriseScorer` (arrays reordered from Surprise's
    inner ids to ascending raw ids)."""
    n, m = trainset.n_users, trainset.n_items
    raw_users = np.array([trainset.to_raw_uid(inner) for inner in range(n)])
    raw_items = np.array([trainset.to_raw_iid(inner) for inner in range(m)])
    ou, oi = np.argsort(raw_users, kind="stable"), np.argsort(raw_items, kind="stable")
    bu = np.asarray(getattr(algo, "bu", np.zeros(n)), dtype=np.float64)
    bi = np.asarray(getattr(algo, "bi", np.zeros(m)), dtype=np.float64)
    pu = np.asarray(getattr(algo, "pu", np.zeros((n, 0))), dtype=np.float64)
    qi = np.asarray(getattr(algo, "qi", np.zeros((m, 0))), dtype=np.float64)
    biased = bool(getattr(algo, "biased", True))
    return SurpriseScorer(
        name=name,
        user_ids=raw_users[ou],
        item_ids=raw_items[oi],
        global_mean=float(trainset.global_mean),
        user_bias=bu[ou],
        item_bias=bi[oi],
        user_factors=pu[ou],
        item_factors=qi[oi],
        biased=biased,
    )


def fit_surprise(train: pd.DataFrame, algorithm: str, name: str, **params) -> SurpriseScorer:
    """Fit Surprise's ``algorithm`` (``"SVD"``, ``"NMF"``, ``"BaselineOnly"``) on ``train``."""
    surprise = require("surprise", "scikit-surprise")
    trainset = surprise_trainset(train)
    algo = getattr(surprise, algorithm)(**params)
    algo.fit(trainset)
    return surprise_scorer(algo, trainset, name)


def tune_surprise_svd(train: pd.DataFrame, grid: dict | None = None, seed: int = 0) -> dict:
    """The grid point of Surprise SVD with the lowest RMSE on a validation split (20 %) of
    ``train`` alone: ``{"params": ..., "valid_rmse": ..., "results": table, "search_s": s}``."""
    from helpers.evaluation import grid_search

    start = time.perf_counter()
    search = grid_search(
        lambda inner, **p: fit_surprise(inner, "SVD", "SVD", random_state=seed, **p),
        train,
        SVD_GRID if grid is None else grid,
        valid_fraction=0.2,
        seed=seed,
    )
    return {
        "params": dict(search.best_params),
        "valid_rmse": float(search.best_score),
        "results": search.results.to_dict("records"),
        "search_s": time.perf_counter() - start,
    }


# ----------------------------------------------------------------------------- implicit


def user_items(train: pd.DataFrame, confidence: dict | None = None):
    """``(csr users × movies, ascending userIds, ascending movieIds)`` for implicit: ones, or
    with ``confidence`` (``{"alpha": ..., "confidence": ...}``) the confidence ``c = 1 + alpha ·
    f(stars)`` of the series' implicit ALS (implicit reads a stored value as the whole c)."""
    sparse = require("scipy.sparse", "scipy")
    users, u = np.unique(train[USER].to_numpy(), return_inverse=True)
    items, i = np.unique(train[ITEM].to_numpy(), return_inverse=True)
    values = np.ones(len(u))
    if confidence is not None:
        from helpers.implicit_als import confidence_weights

        values = 1.0 + confidence_weights(train[RATING].to_numpy(dtype=np.float64), **confidence)
    csr = sparse.csr_matrix((values.astype(np.float32), (u, i)), shape=(len(users), len(items)))
    return csr, users, items


def fit_implicit(
    train: pd.DataFrame,
    algorithm: str,
    name: str,
    confidence: dict | None = None,
    **params,
) -> FactorScorer:
    """Fit ``implicit.cpu``'s ``"als"`` or ``"bpr"`` model on who rated what, with
    :data:`THREADS` threads (BLAS at one thread, as implicit asks)."""
    require("implicit", "implicit")
    csr, users, items = user_items(train, confidence)
    if algorithm == "als":
        from implicit.cpu.als import AlternatingLeastSquares as Model
    else:
        from implicit.cpu.bpr import BayesianPersonalizedRanking as Model
    with single_threaded_blas():  # implicit checks the BLAS threads when built, too
        model = Model(num_threads=THREADS, **params)
        model.fit(csr, show_progress=False)
    return implicit_scorer(model, users, items, name)


def implicit_scorer(model, user_ids: np.ndarray, item_ids: np.ndarray, name: str) -> FactorScorer:
    """A fitted implicit model as a :class:`FactorScorer`; ``user_ids`` / ``item_ids``: the raw
    ids of its user_items rows and columns (ascending, from :func:`user_items`)."""
    return FactorScorer(
        name=name,
        user_ids=user_ids,
        item_ids=item_ids,
        user_factors=np.asarray(model.user_factors, dtype=np.float64),
        item_factors=np.asarray(model.item_factors, dtype=np.float64),
    )


# ----------------------------------------------------------------------------- Spark


def fit_spark(train: pd.DataFrame, name: str, session=None, **params):
    """:func:`helpers.spark.fit_spark_als` in ``session`` (not available without Java)."""
    spark = require("helpers.spark", "helpers.spark (with pyspark and Java)")
    if spark.find_java() is None:
        raise PeerUnavailable("not available: no Java found (Spark needs a JDK 17 or newer)")
    model = spark.fit_spark_als(train, spark=session, **params)
    model.name = name
    return model


# ----------------------------------------------------------------------------- the peers


@dataclass(frozen=True)
class Yardstick:
    """A series model that a peer's fit time is divided by: label, fit function, parameters."""

    label: str
    target: str  # "module:function"
    params: dict[str, Any]

    def function(self) -> Callable[..., Any]:
        """The fit function, or :class:`PeerUnavailable` if it does not import."""
        module, function = self.target.split(":")
        try:
            return getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError) as exc:
            raise PeerUnavailable(f"{self.target} is not available: {exc}") from exc

    def fit(self, train: pd.DataFrame) -> Any:
        return self.function()(train, **self.params)


def _series(name: str) -> Yardstick:
    spec = models.MODELS[name]
    return Yardstick(spec.label, spec.target, dict(models.PARAMS[name]))


@dataclass(frozen=True)
class Peer:
    """A peer model: label, how to fit it (``fit(train, **params) -> Scorer``), parameters,
    the names of its yardsticks and, for a tuned peer, how its parameters are chosen."""

    label: str
    fit: Callable[..., Any]
    params: dict[str, Any]
    yardsticks: tuple[str, ...]
    tune: Callable[[pd.DataFrame], dict] | None = None
    session: bool = False  # needs a Spark session


def _yardsticks() -> dict[str, Yardstick]:
    """The series' benchmark rows (:mod:`benchmarks.models`) that peers are compared with, plus
    the speed target's model: ALS-WR with 20 iterations (as Surprise SVD's 20 epochs), in
    float64 and with ``dtype="float32"``, and implicit ALS with ``dtype="float32"`` too."""
    names = ("sgd", "als", "biases", "nmf", "implicit_als", "bpr")
    sticks = {name: _series(name) for name in names if name in models.MODELS}
    als = sticks.get("als")
    if als is not None:
        twenty = als.params | {"iterations": 20}
        sticks["als_20"] = Yardstick(als.label, als.target, twenty)
        sticks["als_20_f32"] = Yardstick(als.label, als.target, twenty | {"dtype": "float32"})
    ials = sticks.get("implicit_als")
    if ials is not None:
        single = ials.params | {"dtype": "float32"}
        sticks["implicit_als_f32"] = Yardstick(ials.label, ials.target, single)
    return sticks


_IALS, _BPR = models.PARAMS.get("implicit_als", {}), models.PARAMS.get("bpr", {})

#: Every peer, by name. implicit ALS mirrors the series' implicit ALS row (its k, λ, iterations
#: and confidence 1 + alpha · stars); implicit BPR the series' BPR row (k, learning rate, λ,
#: epochs). Spark ALS takes the k, λ (scaled by each
#: row's ratings, as ALS-WR), iterations and seed of the series' ALS-WR row.
PEERS: dict[str, Peer] = {
    "surprise_svd": Peer(
        "Surprise SVD (defaults)",
        lambda train, **p: fit_surprise(train, "SVD", "Surprise SVD", **p),
        {"n_factors": 100, "n_epochs": 20, "random_state": 0},
        ("sgd", "als", "als_20", "als_20_f32"),
    ),
    "surprise_svd_tuned": Peer(
        "Surprise SVD (tuned)",
        lambda train, **p: fit_surprise(train, "SVD", "Surprise SVD tuned", **p),
        {"n_epochs": 20, "random_state": 0},
        ("sgd", "als"),
        tune=tune_surprise_svd,
    ),
    "surprise_nmf": Peer(
        "Surprise NMF",
        lambda train, **p: fit_surprise(train, "NMF", "Surprise NMF", **p),
        {"random_state": 0},
        ("nmf", "als"),
    ),
    "surprise_baseline": Peer(
        "Surprise BaselineOnly",
        lambda train, **p: fit_surprise(train, "BaselineOnly", "Surprise BaselineOnly", **p),
        {"verbose": False},
        ("biases",),
    ),
    "implicit_als": Peer(
        "implicit ALS",
        lambda train, **p: fit_implicit(train, "als", "implicit ALS", **p),
        {
            "factors": _IALS.get("k", 64),
            "regularization": _IALS.get("reg", 30.0),
            "confidence": {
                "alpha": _IALS.get("alpha", 0.5),
                "confidence": _IALS.get("confidence", "rating"),
            },
            "iterations": _IALS.get("iterations", 15),
            "random_state": 0,
        },
        ("implicit_als", "implicit_als_f32"),
    ),
    "implicit_bpr": Peer(
        "implicit BPR",
        lambda train, **p: fit_implicit(train, "bpr", "implicit BPR", **p),
        {
            "factors": _BPR.get("k", 64),
            "learning_rate": _BPR.get("lr", 0.05),
            "regularization": _BPR.get("reg", 0.02),
            "iterations": _BPR.get("epochs", 20),
            "random_state": 0,
        },
        ("bpr",),
    ),
    "spark_als": Peer(
        "Spark MLlib ALS",
        lambda train, session=None, **p: fit_spark(train, "Spark ALS", session, **p),
        {key: models.PARAMS["als"][key] for key in ("k", "reg", "iterations", "seed")},
        ("als",),
        session=True,
    ),
}


def parse_peer_names(names: Sequence[str] | None) -> list[str]:
    """Validate peer names (comma-separated lists too); empty or ``None`` means every peer."""
    flat = [part.strip() for name in names or () for part in str(name).split(",") if part.strip()]
    unknown = [name for name in flat if name not in PEERS]
    if unknown:
        raise ValueError(f"unknown peer(s) {unknown}; choose from {', '.join(PEERS)}")
    return list(dict.fromkeys(flat)) or list(PEERS)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved_times(
    first: Callable[[], Any], others: Sequence[Callable[[], Any]], repeats: int
) -> tuple[list[float], list[list[float]], Any]:
    """Time ``first`` and then every one of ``others``, ``repeats`` times in turn: ``(times of
    first, times of each other, last result of first)``."""
    firsts, rest, result = [], [[] for _ in others], None
    for _ in range(repeats):
        seconds, result = _timed(first)
        firsts.append(seconds)
        for times, other in zip(rest, others, strict=True):
            times.append(_timed(other)[0])
    return firsts, rest, result


def failed_peer(name: str, exc: BaseException) -> dict[str, Any]:
    """A table row for a peer that is not installed or failed."""
    peer = PEERS[name]
    text = str(exc) if isinstance(exc, PeerUnavailable) else f"{type(exc).__name__}: {exc}"
    return {
        "name": name,
        "label": peer.label,
        "params": peer.params,
        "params_text": models.format_params(peer.params),
        "peer": True,
        "error": text,
    }


def benchmark_peer(
    name: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    repeats: int = 3,
    session=None,
    yardsticks: dict[str, Yardstick] | None = None,
) -> dict[str, Any]:
    """Fit peer ``name`` ``repeats`` times interleaved with its yardsticks; score it like the
    series' models (RMSE/MAE for rating peers, the ranking metrics for all). Returns a result
    row for :mod:`benchmarks.run` plus ``ratios`` (per yardstick: median times and the median
    of the per-repeat ratios)."""
    from benchmarks.run import ranking_row  # the ranking protocol of the series' rows

    peer = PEERS[name]
    params = dict(peer.params)
    tuned = None
    if peer.tune is not None:
        tuned = peer.tune(train)
        params |= tuned["params"]
    kwargs = {"session": session} if peer.session else {}
    sticks = _yardsticks() if yardsticks is None else yardsticks
    chosen = [sticks[key] for key in peer.yardsticks if key in sticks]
    # a yardstick that does not import is reported, the peer still runs
    runnable, missing = [], []
    for stick in chosen:
        try:
            stick.function()
            runnable.append(stick)
        except PeerUnavailable as exc:
            missing.append(f"{stick.label}: {exc}")
    peer_times, stick_times, scorer = interleaved_times(
        lambda: peer.fit(train, **kwargs, **params),
        [lambda stick=stick: stick.fit(train) for stick in runnable],
        repeats,
    )
    stars = bool(getattr(scorer, "predicts_stars", True))
    result: dict[str, Any] = {
        "name": name,
        "label": peer.label,
        "params": params,
        "params_text": models.format_params(params),
        "peer": True,
        "fit_s": statistics.median(peer_times),
        "fit_times": peer_times,
        "repeats": repeats,
        "predicts_stars": stars,
        "peak_mb": math.nan,  # tracemalloc does not see the libraries' native memory
        "ratios": [
            {
                "yardstick": stick.label,
                "yardstick_params": models.format_params(stick.params),
                "yardstick_fit_s": statistics.median(times),
                "peer_fit_s": statistics.median(peer_times),
                "ratio": statistics.median(
                    p / s for p, s in zip(peer_times, times, strict=True) if s > 0
                ),
            }
            for stick, times in zip(runnable, stick_times, strict=True)
        ],
        "yardsticks_missing": missing,
    }
    if tuned is not None:
        result["tuning"] = tuned
    if stars:
        users, items = test[USER].to_numpy(), test[ITEM].to_numpy()
        truth = test[RATING].to_numpy(dtype=np.float64)
        predict_s, pred = _timed(lambda: scorer.predict(users, items))
        result |= {"rmse": rmse(truth, pred), "mae": mae(truth, pred), "predict_s": predict_s}
    result |= ranking_row(scorer, train, test)
    return result


def run_peers(
    names: Sequence[str],
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    repeats: int,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """:func:`benchmark_peer` for every name; a peer that is missing or raises gets a failure row.
    A Spark session, if a Spark peer is asked for and can start, lives for the whole loop."""
    results = []
    session_cm, session = None, None
    if any(PEERS[name].session for name in names):
        try:
            spark = require("helpers.spark", "helpers.spark (with pyspark and Java)")
            session_cm = spark.spark_session()
            session = session_cm.__enter__()
        except Exception as exc:  # Spark peers then report why
            session_cm, session = None, exc
    try:
        for name in names:
            log(f"benchmarking peer {name} ...")
            try:
                if PEERS[name].session and isinstance(session, BaseException):
                    raise PeerUnavailable(f"not available: {session}")
                results.append(benchmark_peer(name, train, test, repeats=repeats, session=session))
            except Exception as exc:  # every failure becomes a row
                log(f"  failed: {type(exc).__name__}: {exc}")
                results.append(failed_peer(name, exc))
    finally:
        if session_cm is not None:
            session_cm.__exit__(None, None, None)
    return results


RATIO_COLUMNS = ("peer", "fit s", "series model", "its fit s", "ratio")


def ratio_table(results: Sequence[dict[str, Any]]) -> str:
    """Peer fit time against each yardstick measured in the same run (median of per-repeat
    ratios; > 1 means the peer is slower)."""
    rows = []
    for r in results:
        if "error" in r:
            rows.append(dict.fromkeys(RATIO_COLUMNS, "") | {"peer": r["label"], "ratio": "failed"})
            continue
        for ratio in r["ratios"]:
            rows.append(
                {
                    "peer": r["label"],
                    "fit s": fmt_seconds(ratio["peer_fit_s"]),
                    "series model": f"{ratio['yardstick']} ({ratio['yardstick_params']})",
                    "its fit s": fmt_seconds(ratio["yardstick_fit_s"]),
                    "ratio": f"{ratio['ratio']:.2f}",
                }
            )
        for text in r.get("yardsticks_missing", []):
            rows.append(
                dict.fromkeys(RATIO_COLUMNS, "") | {"peer": r["label"], "series model": text}
            )
    return markdown_table(rows, RATIO_COLUMNS, {"fit s", "its fit s", "ratio"})


def peer_lines(results: Sequence[dict[str, Any]], repeats: int) -> list[str]:
    """The report's peer section: the ratio table, the tuned parameters and the failures."""
    lines = [
        "## Peers: fit time against the series' model, same run",
        "",
        ratio_table(results),
        "",
        f"Each peer and its series model(s) were fitted in turn, {repeats} time(s) each; *ratio* "
        "is "
        "the median of the per-repeat ratios peer fit s / series fit s (the machine may be "
        "shared: ratios measured side by side hold better than seconds). Peers appear in the "
        "tables above too; their *peak MB* is n/a (tracemalloc does not see native memory).",
    ]
    for r in results:
        if "tuning" in r:
            t = r["tuning"]
            lines += [
                "",
                f"{r['label']}: {models.format_params(t['params'])} chosen by a grid search on a "
                f"validation split (20 %) of the training table only (validation RMSE "
                f"{t['valid_rmse']:.4f}; search {fmt_seconds(t['search_s'])} s, not in *fit s*).",
            ]
    return lines
