"""Cross-validation and tuning: folds never share ratings, and tuning never sees a test fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import helpers.evaluation as evaluation
from helpers.baselines import fit_biases, fit_global_mean, most_popular
from helpers.evaluation import (
    blend_models,
    blend_weight,
    cross_validate,
    error_by_activity,
    evaluate,
    grid_search,
    nested_cv,
    summarize_cv,
)
from helpers.model import MFModel
from helpers.splits import kfold_split


def ratings(seed: int = 0, n_users: int = 30, n_items: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cells = rng.permutation(n_users * n_items)[: n_users * n_items // 2]
    u, i = cells // n_items, cells % n_items
    stars = np.clip(np.round(2 * (3 + 0.8 * rng.normal(size=n_users)[u] + 0.5 * (i % 3))) / 2, 1, 5)
    return pd.DataFrame({"userId": u, "movieId": i, "rating": stars})


class SpyFit:
    """A fit function that records the row labels of every training table it receives."""

    def __init__(self):
        self.seen: list[set] = []

    def __call__(self, train: pd.DataFrame, **params):
        self.seen.append(set(train.index))
        return fit_biases(train, **params)


def test_cross_validate_folds_partition_the_ratings():
    data = ratings()
    spy = SpyFit()
    results = cross_validate({"spy": spy}, data, n_folds=4, seed=3)
    everything = set(data.index)
    tests = [everything - seen for seen in spy.seen]
    assert len(tests) == 4
    for a in range(4):
        for b in range(a + 1, 4):
            assert not tests[a] & tests[b], "two test folds share a rating"
    assert set().union(*tests) == everything
    assert list(results["fold"]) == [1, 2, 3, 4]
    assert results["n_ratings"].sum() == len(data)


def test_cross_validate_same_folds_for_every_model_and_ranking_columns():
    data = ratings()
    fits = {"mean": fit_global_mean, "biases": fit_biases, "popular": most_popular}
    results = cross_validate(fits, data, n_folds=3, seed=0, k=5)
    assert list(results["model"]) == ["mean", "biases", "popular"] * 3
    assert results.loc[results["model"] == "popular", "rmse"].isna().all()
    assert results.loc[results["model"] == "popular", "precision"].notna().all()
    means = results.groupby("model")["rmse"].mean()
    assert means["biases"] < means["mean"]


def test_summarize_cv_mean_and_sample_sd():
    results = pd.DataFrame(
        {"model": ["a", "a", "b", "b"], "fold": [1, 2, 1, 2], "rmse": [0.4, 0.6, 1.0, 1.0]}
    )
    table = summarize_cv(results, decimals=3)
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "rmse"] == "0.500 ± 0.141"
    assert table.loc["b", "rmse"] == "1.000 ± 0.000"
    with pytest.raises(ValueError, match=r"unknown metric column\(s\) \['mae'\]"):
        summarize_cv(results, ["mae"])


def test_grid_search_uses_only_its_training_table_and_picks_the_best():
    data = ratings()
    spy = SpyFit()
    search = grid_search(spy, data, {"damping": [0.0, 5.0, 1e9]}, valid_fraction=0.25, seed=1)
    assert len(spy.seen) == 3
    assert all(seen < set(data.index) for seen in spy.seen)  # proper subsets: inner train only
    assert list(search.results["damping"]) == [0.0, 5.0, 1e9]
    best = search.results["valid_rmse"].idxmin()
    assert search.best_params == {"damping": search.results["damping"][best]}
    assert search.best_rmse == pytest.approx(search.results["valid_rmse"].min())
    assert search.best_params["damping"] != 1e9  # a flat model loses to real biases


def test_grid_search_errors():
    with pytest.raises(ValueError, match=r"grid\['damping'\] must be a non-empty list"):
        grid_search(fit_biases, ratings(), {"damping": []})
    with pytest.raises(ValueError, match="grid must be a non-empty dict"):
        grid_search(fit_biases, ratings(), {})
    with pytest.raises(TypeError, match="fit must be callable"):
        grid_search("fit_biases", ratings(), {"damping": [1.0]})


def test_nested_cv_never_fits_on_the_outer_test_fold():
    data = ratings(1)
    spy = SpyFit()
    grid = {"damping": [0.0, 3.0], "iterations": [1, 2]}
    result = nested_cv(spy, data, grid, n_folds=3, seed=5)
    per_fold = 4 + 1  # every combination on the inner split, then one refit
    assert len(spy.seen) == 3 * per_fold
    folds = kfold_split(data, 3, seed=5)
    for f, (train, test, _) in enumerate(folds):
        calls = spy.seen[f * per_fold : (f + 1) * per_fold]
        for seen in calls:
            assert not seen & set(test.index), "a fit saw the outer test fold"
        assert calls[-1] == set(train.index)  # the refit uses the whole outer training fold
    assert list(result.outer["fold"]) == [1, 2, 3]
    assert len(result.inner) == 3 * 4
    assert {"damping", "iterations", "valid_rmse", "rmse"} <= set(result.outer.columns)


def test_the_tuner_receives_only_the_outer_training_table(monkeypatch):
    data = ratings(2)
    received = []
    real = evaluation.grid_search

    def spy_grid_search(fit, train, grid, **kwargs):
        received.append(train)
        return real(fit, train, grid, **kwargs)

    monkeypatch.setattr(evaluation, "grid_search", spy_grid_search)
    nested_cv(fit_biases, data, {"damping": [1.0, 4.0]}, n_folds=3, seed=0)
    folds = kfold_split(data, 3, seed=0)
    assert len(received) == 3
    for got, (train, test, _) in zip(received, folds, strict=True):
        pd.testing.assert_frame_equal(got, train)
        assert not set(got.index) & set(test.index)


def test_evaluate_scorer_without_predict_has_nan_rating_metrics():
    train, test, _ = kfold_split(ratings(), 3, seed=0)[0]
    row = evaluate(most_popular(train), train, test, k=3)
    assert np.isnan(row["rmse"]) and np.isnan(row["user_mae"])
    assert 0 <= row["precision"] <= 1
    assert "precision" not in evaluate(fit_biases(train), train, test, k=None)


def test_error_by_activity_by_hand():
    train = pd.DataFrame(
        {"userId": [1, 1, 1, 2], "movieId": [10, 20, 30, 10], "rating": [4.0, 4.0, 4.0, 2.0]}
    )
    test = pd.DataFrame({"userId": [1, 2, 3], "movieId": [40, 20, 10], "rating": [5.0, 3.0, 4.0]})
    model = fit_global_mean(train)  # predicts 3.5 everywhere
    table = error_by_activity(model, train, test, bins=(0, 1, 3, 10, np.inf))
    assert list(table["bin"]) == ["0", "1-2", "3-9", "10+"]
    np.testing.assert_allclose(table["rmse"], [0.5, 0.5, 1.5, np.nan])
    assert list(table["n_users"]) == [1, 1, 1, 0]
    assert list(table["n_ratings"]) == [1, 1, 1, 0]
    with pytest.raises(ValueError, match="do not cover"):
        error_by_activity(model, train, test, bins=(1, 10))
    with pytest.raises(ValueError, match="strictly increasing"):
        error_by_activity(model, train, test, bins=(3, 1))


def random_model(seed: int, users, items, k: int, mu: float) -> MFModel:
    rng = np.random.default_rng(seed)
    return MFModel(
        global_mean=mu,
        user_bias=rng.normal(size=len(users)),
        item_bias=rng.normal(size=len(items)),
        user_factors=rng.normal(size=(len(users), k)),
        item_factors=rng.normal(size=(len(items), k)),
        user_ids=np.asarray(users),
        item_ids=np.asarray(items),
    )


def test_blend_of_factorizations_is_the_weighted_average():
    users, items = [1, 2, 3], [10, 20]
    a = random_model(0, users, items, k=2, mu=3.0)
    b = random_model(1, users, items, k=3, mu=3.5)
    both = blend_models([a, b], [0.3, 0.7])
    assert both.k == 5
    uu, ii = np.meshgrid([1, 2, 3, 99], [10, 20, 77], indexing="ij")  # incl. unseen ids
    uu, ii = uu.ravel(), ii.ravel()
    expected = 0.3 * a.predict(uu, ii, clip=False) + 0.7 * b.predict(uu, ii, clip=False)
    np.testing.assert_allclose(both.predict(uu, ii, clip=False), expected)
    np.testing.assert_allclose(both.predict(uu, ii), np.clip(expected, 0.5, 5.0))


def test_blend_errors():
    a = random_model(0, [1, 2], [10], k=1, mu=3.0)
    with pytest.raises(ValueError, match="sum to 1"):
        blend_models([a, a], [0.5, 0.6])
    with pytest.raises(ValueError, match="one weight per model"):
        blend_models([a, a], [1.0])
    other = random_model(0, [1, 3], [10], k=1, mu=3.0)
    with pytest.raises(ValueError, match="same users and movies"):
        blend_models([a, other], [0.5, 0.5])


def test_blend_weight_endpoints_are_the_models_themselves():
    train, test, _ = kfold_split(ratings(), 3, seed=0)[0]
    a, b = fit_biases(train), fit_global_mean(train)
    table = blend_weight(a, b, test, weights=[0.0, 0.5, 1.0])
    truth = test["rating"].to_numpy()
    pred_a = a.predict(test["userId"], test["movieId"])
    pred_b = b.predict(test["userId"], test["movieId"])
    assert table["valid_rmse"].iloc[0] == pytest.approx(np.sqrt(np.mean((truth - pred_b) ** 2)))
    assert table["valid_rmse"].iloc[2] == pytest.approx(np.sqrt(np.mean((truth - pred_a) ** 2)))


def test_nested_cv_with_a_blend_partner_never_sees_the_test_fold():
    data = ratings(3)
    spy, partner = SpyFit(), SpyFit()
    result = nested_cv(
        spy, data, {"damping": [0.0, 5.0]}, name="b", blend_with=("p", partner), n_folds=3
    )
    assert list(result.outer["model"]) == ["b", "p", "b + p"] * 3
    assert len(partner.seen) == 3 * 2  # inner fit for the weight, then the refit
    folds = kfold_split(data, 3, seed=0)
    for f, (_, test, _) in enumerate(folds):
        for seen in spy.seen[f * 3 : (f + 1) * 3] + partner.seen[f * 2 : (f + 1) * 2]:
            assert not seen & set(test.index), "a fit saw the outer test fold"
    weights = result.outer.loc[result.outer["model"] == "b + p", "weight"]
    assert weights.between(0, 1).all()
    assert len(result.weights) == 3 * 11
