"""Cross-validation and honest hyper-parameter search for any fit function of the series.

A *fit function* takes a training table (userId, movieId, rating) and returns an
:class:`~helpers.model.MFModel` — or, for ranking-only baselines such as
:func:`helpers.baselines.most_popular`, a scorer. Hyper-parameters are bound with keyword
arguments (``fit(train, **params)``) or ``functools.partial``.

* :func:`evaluate`: rating metrics (RMSE, MAE, global and per user) and, optionally, ranking
  metrics at k of one fitted model on one test table.
* :func:`cross_validate`: k-fold CV of several fit functions on the same folds, one tidy row per
  (model, fold); :func:`summarize_cv` turns it into a mean ± sd table.
* :func:`grid_search`: tries every combination of a grid on an inner validation split carved from
  the one table it is given. It never sees anything else.
* :func:`nested_cv`: the honest estimate. For each outer fold, the tuner receives **only the outer
  training table**; the chosen parameters are refitted on it and scored once on the outer test
  fold, which no tuning step ever touched.
* :func:`blend_models` and :func:`blend_weight`: an average of factorizations is a factorization;
  its weight is a hyper-parameter like any other, chosen on validation data.
* :func:`error_by_activity`: test error grouped by how many training ratings the user has (cold
  start).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers.checks import check_choice, check_ratings
from helpers.metrics import RANKING_METRICS, predicts_stars, ranking_report, rating_report, rmse
from helpers.model import MFModel
from helpers.schema import ITEM, RATING, USER
from helpers.splits import kfold_split, random_split

FitFn = Callable[..., Any]
RATING_METRICS = ("rmse", "mae", "user_rmse", "user_mae")


def evaluate(
    model,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    k: int | None = 10,
    threshold: float = 4.0,
) -> dict[str, float]:
    """Rating metrics of ``model`` on ``test`` (NaN for a scorer that cannot predict stars) and,
    unless ``k`` is None, ranking metrics at ``k`` (``train`` defines catalogue and candidates;
    rules in :mod:`helpers.metrics`). One flat dict: a table row."""
    if predicts_stars(model):
        row: dict[str, float] = rating_report(model, test)
    else:
        row = {name: float("nan") for name in RATING_METRICS}
        row["n_ratings"] = len(test)
    if k is not None:
        rank = ranking_report(model, train, test, k, threshold=threshold)
        row.update({name: rank[name] for name in (*RANKING_METRICS, "coverage", "novelty")})
        row["mean_popularity"] = rank["mean_popularity"]
        row["n_users_evaluated"] = rank["n_users_evaluated"]
        row["n_users_no_relevant"] = rank["n_users_no_relevant"]
    return row


def _check_fits(fits: Mapping[str, FitFn]) -> None:
    if not isinstance(fits, Mapping) or not fits:
        raise TypeError("fits must be a non-empty dict of name -> fit function")
    for name, fit in fits.items():
        if not callable(fit):
            raise TypeError(f"fits[{name!r}] must be callable, got {type(fit).__name__}")


def cross_validate(
    fits: Mapping[str, FitFn],
    ratings: pd.DataFrame,
    *,
    n_folds: int = 5,
    seed: int = 0,
    k: int | None = None,
    threshold: float = 4.0,
) -> pd.DataFrame:
    """k-fold cross-validation of every fit function on the same folds.

    The folds come from :func:`helpers.splits.kfold_split` (every rating in exactly one test
    fold). Each fit function is called as ``fit(train_fold)`` and its model scored by
    :func:`evaluate` on the test fold (with ranking metrics at ``k`` unless ``k`` is None).
    Returns a tidy DataFrame: one row per (model, fold) with columns ``model``, ``fold`` (1-based)
    and the metrics.
    """
    _check_fits(fits)
    rows = []
    for f, (train, test, _) in enumerate(kfold_split(ratings, n_folds, seed=seed), start=1):
        for name, fit in fits.items():
            model = fit(train)
            row = evaluate(model, train, test, k=k, threshold=threshold)
            rows.append({"model": name, "fold": f, **row})
    return pd.DataFrame(rows)


def summarize_cv(
    results: pd.DataFrame, metrics: Sequence[str] | None = None, *, decimals: int = 4
) -> pd.DataFrame:
    """A "mean ± sd over folds" table, one row per model (in order of appearance), one column per
    metric (default: every numeric metric column). sd is the sample standard deviation."""
    if "model" not in results.columns:
        raise ValueError(f"results need a 'model' column; they have {list(results.columns)}")
    if metrics is None:
        skip = {"fold", "n_ratings", "n_users_evaluated", "n_users_no_relevant"}
        metrics = [
            c
            for c in results.columns
            if c not in skip and c != "model" and pd.api.types.is_numeric_dtype(results[c])
        ]
    missing = [m for m in metrics if m not in results.columns]
    if missing:
        raise ValueError(f"unknown metric column(s) {missing}")
    order = list(dict.fromkeys(results["model"]))
    grouped = results.groupby("model", sort=False)[list(metrics)]
    mean, sd = grouped.mean().loc[order], grouped.std(ddof=1).loc[order]
    table = pd.DataFrame(index=pd.Index(order, name="model"))
    for m in metrics:
        table[m] = [
            "n/a" if np.isnan(a) else f"{a:.{decimals}f} ± {s:.{decimals}f}"
            for a, s in zip(mean[m], sd[m], strict=True)
        ]
    return table


# ----------------------------------------------------------------------------- honest tuning


@dataclass(frozen=True, eq=False)
class GridSearch:
    """What :func:`grid_search` found: ``results`` (one row per combination: the parameters and
    ``valid_rmse`` or ``valid_ndcg``, in grid order), ``best_params``, ``best_score`` (RMSE in
    stars, or NDCG@10) under ``metric``, and ``best_model`` (fitted on the inner training split,
    not on the whole table)."""

    results: pd.DataFrame
    best_params: dict[str, Any]
    best_score: float
    best_model: Any = None
    metric: str = "rmse"

    @property
    def best_rmse(self) -> float:
        """The best validation RMSE (stars) of a search by RMSE."""
        if self.metric != "rmse":
            raise AttributeError(f"this search chose by {self.metric}; see best_score")
        return self.best_score


def _grid(grid: Mapping[str, Sequence]) -> list[dict[str, Any]]:
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty dict of parameter name -> list of values")
    for name, values in grid.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of values, got {values!r}")
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def grid_search(
    fit: FitFn,
    train: pd.DataFrame,
    grid: Mapping[str, Sequence],
    *,
    valid_fraction: float = 0.2,
    seed: int = 0,
    metric: str = "rmse",
) -> GridSearch:
    """Choose hyper-parameters using ``train`` alone.

    A random ``valid_fraction`` of ``train`` becomes an inner validation set; every combination of
    ``grid`` (a dict of name -> values, all combinations tried) is fitted as
    ``fit(inner_train, **params)`` and scored on the inner validation set by ``metric``:
    ``"rmse"`` (lower is better) or ``"ndcg"`` (NDCG@10 under the rules of
    :mod:`helpers.metrics`, with the inner training split as catalogue; higher is better). Ties go
    to the earlier combination. Nothing outside ``train`` is used, so a test set held apart from
    ``train`` stays untouched.
    """
    if not callable(fit):
        raise TypeError(f"fit must be callable, got {type(fit).__name__}")
    check_ratings("train", train)
    metric = check_choice("metric", metric, ("rmse", "ndcg"))
    combos = _grid(grid)
    inner_train, inner_valid, _ = random_split(train, valid_fraction, seed=seed)
    users = inner_valid[USER].to_numpy()
    items = inner_valid[ITEM].to_numpy()
    truth = inner_valid[RATING].to_numpy()
    sign = 1.0 if metric == "rmse" else -1.0  # minimise sign * score
    rows, best = [], (np.inf, {}, None)
    for params in combos:
        model = fit(inner_train, **params)
        if metric == "rmse":
            score = rmse(truth, model.predict(users, items))
        else:
            score = ranking_report(model, inner_train, inner_valid, 10)["ndcg"]
        rows.append({**params, f"valid_{metric}": score})
        if sign * score < best[0]:  # strict: a tie keeps the earlier combination
            best = (sign * score, params, model)
    return GridSearch(pd.DataFrame(rows), best[1], sign * float(best[0]), best[2], metric)


def blend_models(
    models: Sequence[MFModel], weights: Sequence[float], name: str = "blend"
) -> MFModel:
    """The weighted average ``sum_j w_j r_hat_j`` of models fitted on the same training data, as
    one :class:`MFModel`.

    An average of factorizations is a factorization: the mean and biases are averaged, and the
    factor matrices are concatenated side by side after scaling by ``sqrt(w_j)``, so that
    ``p_u . q_i = sum_j w_j p_uj . q_ij``. ``weights`` must be >= 0 and sum to 1. Predictions are
    clipped after averaging.
    """
    models = list(models)
    w = np.asarray(weights, dtype=np.float64)
    if not models or w.shape != (len(models),):
        raise ValueError(f"need one weight per model: {len(models)} model(s), weights {w.shape}")
    if np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise ValueError(f"weights must be >= 0 and sum to 1, got {w.tolist()}")
    first = models[0]
    for m in models[1:]:
        if not (
            np.array_equal(m.user_ids, first.user_ids)
            and np.array_equal(m.item_ids, first.item_ids)
        ):
            raise ValueError("models to blend must be fitted on the same users and movies")
    root = np.sqrt(w)
    return MFModel.from_matrix(
        first,
        global_mean=float(sum(wj * m.global_mean for wj, m in zip(w, models, strict=True))),
        user_bias=sum(wj * m.user_bias for wj, m in zip(w, models, strict=True)),
        item_bias=sum(wj * m.item_bias for wj, m in zip(w, models, strict=True)),
        user_factors=np.hstack([r * m.user_factors for r, m in zip(root, models, strict=True)]),
        item_factors=np.hstack([r * m.item_factors for r, m in zip(root, models, strict=True)]),
        name=name,
        params={"weights": w.tolist(), "models": [m.name for m in models]},
    )


def blend_weight(
    model: MFModel,
    partner: MFModel,
    valid: pd.DataFrame,
    weights: Sequence[float] = tuple(np.round(np.linspace(0, 1, 11), 2)),
) -> pd.DataFrame:
    """Validation RMSE of ``w * model + (1 - w) * partner`` (clipped) for every ``w`` in
    ``weights``: a DataFrame with columns ``weight`` and ``valid_rmse`` (stars)."""
    users, items = valid["userId"].to_numpy(), valid["movieId"].to_numpy()
    a = model.predict(users, items, clip=False)
    b = partner.predict(users, items, clip=False)
    truth = valid["rating"].to_numpy()
    lo, hi = model.rating_scale
    rows = [
        {"weight": float(w), "valid_rmse": rmse(truth, np.clip(w * a + (1 - w) * b, lo, hi))}
        for w in weights
    ]
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class NestedCV:
    """What :func:`nested_cv` found. ``outer``: one row per (model, outer fold) with the chosen
    parameters, their inner ``valid_rmse`` and the test metrics. ``inner``: every grid
    combination tried, with its ``fold``. ``weights``: the blend weights tried (if any)."""

    outer: pd.DataFrame
    inner: pd.DataFrame
    weights: pd.DataFrame | None = None


def nested_cv(
    fit: FitFn,
    ratings: pd.DataFrame,
    grid: Mapping[str, Sequence],
    *,
    name: str = "tuned",
    blend_with: tuple[str, FitFn] | None = None,
    n_folds: int = 5,
    seed: int = 0,
    valid_fraction: float = 0.2,
    k: int | None = None,
    threshold: float = 4.0,
) -> NestedCV:
    """Nested cross-validation: tune inside each outer training fold, test once on its test fold.

    For each of the ``n_folds`` outer splits (:func:`helpers.splits.kfold_split`), ``tune(train)``
    receives the outer training table and nothing else: :func:`grid_search` picks ``fit``'s
    parameters on an inner validation split of it. ``fit(train, **best)`` is refitted on the whole
    outer training table and scored once by :func:`evaluate` on the outer test fold. The mean of
    the outer test metrics is an honest estimate of the whole tuned procedure.

    ``blend_with=(partner_name, partner_fit)`` also fits the partner (fixed parameters) on the
    inner split, chooses the blend weight ``w`` of ``w * tuned + (1 - w) * partner`` on the same
    inner validation set (:func:`blend_weight`), and reports three models per fold: ``name``, the
    partner and their blend (:func:`blend_models`).
    """
    if blend_with is not None and (len(blend_with) != 2 or not callable(blend_with[1])):
        raise TypeError("blend_with must be a (name, fit function) pair")

    def tune(train: pd.DataFrame) -> tuple[GridSearch, pd.DataFrame | None]:
        """Everything that chooses a hyper-parameter. It receives the training table only."""
        search = grid_search(fit, train, grid, valid_fraction=valid_fraction, seed=seed)
        if blend_with is None:
            return search, None
        inner_train, inner_valid, _ = random_split(train, valid_fraction, seed=seed)
        partner = blend_with[1](inner_train)
        return search, blend_weight(search.best_model, partner, inner_valid)

    outer_rows, inner_frames, weight_frames = [], [], []
    for f, (train, test, _) in enumerate(kfold_split(ratings, n_folds, seed=seed), start=1):
        search, weights = tune(train)
        model = fit(train, **search.best_params)
        scored = [(name, model, {**search.best_params, "valid_rmse": search.best_score})]
        if blend_with is not None:
            partner = blend_with[1](train)
            best_w = weights.loc[weights["valid_rmse"].idxmin()]
            w = float(best_w["weight"])
            both = blend_models([model, partner], [w, 1 - w], name=f"{name} + {blend_with[0]}")
            scored.append((blend_with[0], partner, {}))
            extra = {**search.best_params, "weight": w, "valid_rmse": float(best_w["valid_rmse"])}
            scored.append((both.name, both, extra))
            weight_frames.append(weights.assign(fold=f))
        for label, m, params in scored:
            metrics = evaluate(m, train, test, k=k, threshold=threshold)
            outer_rows.append({"model": label, "fold": f, **params, **metrics})
        inner_frames.append(search.results.assign(fold=f))
    return NestedCV(
        pd.DataFrame(outer_rows),
        pd.concat(inner_frames, ignore_index=True),
        pd.concat(weight_frames, ignore_index=True) if weight_frames else None,
    )


# ----------------------------------------------------------------------------- cold start


def error_by_activity(
    model,
    train: pd.DataFrame,
    test: pd.DataFrame,
    bins: Sequence[float] = (0, 10, 20, 50, 100, 200, 500, np.inf),
) -> pd.DataFrame:
    """Test RMSE and MAE grouped by the number of training ratings of the test rating's user.

    ``bins`` are edges of half-open intervals ``[lo, hi)`` of training-rating counts (a user
    absent from ``train`` has 0). Returns one row per bin, in order: ``bin`` (label),
    ``n_ratings``, ``n_users``, ``rmse``, ``mae`` (stars; NaN for a bin without test ratings).
    """
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must be at least two strictly increasing edges, got {bins!r}")
    if len(test) == 0:
        raise ValueError("test is empty: there is nothing to evaluate")
    counts = train["userId"].value_counts()
    activity = test["userId"].map(counts).fillna(0).to_numpy(dtype=np.float64)
    if np.any(activity < edges[0]) or np.any(activity >= edges[-1]):
        raise ValueError(
            f"bins {bins!r} do not cover every user's training count "
            f"({int(activity.min())} to {int(activity.max())})"
        )
    which = np.searchsorted(edges, activity, side="right") - 1
    err = model.predict(test["userId"].to_numpy(), test["movieId"].to_numpy()) - test[
        "rating"
    ].to_numpy(dtype=np.float64)
    users = test["userId"].to_numpy()
    rows = []
    for b in range(len(edges) - 1):  # one pass per bin (a handful), vectorized within
        sel = which == b
        lo, hi = edges[b], edges[b + 1]
        if np.isinf(hi):
            label = f"{int(lo)}+"
        else:
            label = f"{int(lo)}" if hi - lo == 1 else f"{int(lo)}-{int(hi) - 1}"
        n = int(sel.sum())
        rows.append(
            {
                "bin": label,
                "n_ratings": n,
                "n_users": len(np.unique(users[sel])),
                "rmse": float(np.sqrt(np.mean(err[sel] ** 2))) if n else float("nan"),
                "mae": float(np.mean(np.abs(err[sel]))) if n else float("nan"),
            }
        )
    return pd.DataFrame(rows)
