"""The contract every fit function of the series keeps, checked on every one of them.

A new model joins with one line in :data:`FITS`: a label, ``"module:function"`` and small, fast
keyword arguments. The checks (after implicit's shared test mixin): the result is a scorer with
ascending ids; a seed makes it deterministic; the input frame is left as it was; unseen users and
movies get defined, finite scores (for rating models: the series' unseen policy); a bad ``valid``
is refused at the boundary with an error naming it; BLAS thread limits are the same after a fit
that raised half-way; ``plot_history`` draws its history; NumPy integers work as
hyper-parameters; and ``workers`` does not change the result.
"""

from __future__ import annotations

import importlib
import inspect

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

from conftest import random_ratings
from helpers.history import Monitor
from helpers.model import MFModel, Scorer
from helpers.plots import plot_history
from helpers.splits import random_split

#: Movie metadata for the hybrid net (genres and year; the contract frame's ids are not in it).
MOVIES = pd.DataFrame(
    {"movieId": [1, 2], "title": ["A (1990)", "B"], "genres": ["Drama", "Comedy|Drama"]}
)

#: (label, "module:function", small keyword arguments) — one line per fit function.
# fmt: off
FITS = [
    ("global mean", "helpers.baselines:fit_global_mean", {}),
    ("damped biases", "helpers.baselines:fit_biases", {"damping": 2.0, "iterations": 3}),
    ("most popular", "helpers.baselines:most_popular", {}),
    ("biased SGD", "helpers.sgd:fit_sgd", {"k": 3, "epochs": 3, "batch_size": 16, "seed": 1}),
    ("SGD", "helpers.sgd:fit_sgd", {"k": 3, "epochs": 2, "biased": False, "seed": 1}),
    ("SVD-impute", "helpers.svd:fit_svd_impute", {"k": 3}),
    ("soft-impute", "helpers.svd:fit_soft_impute", {"k": 3, "iterations": 3, "shrink": 1.0}),
    ("ALS", "helpers.als:fit_als", {"k": 3, "iterations": 3, "reg": 1.0, "seed": 1}),
    ("ALS-WR", "helpers.als:fit_als", {"k": 3, "iterations": 3, "weighted": True, "seed": 1}),
    ("ALS, λ·√n", "helpers.als:fit_als", {"k": 3, "iterations": 3, "reg_exponent": 0.5, "seed": 1}),
    ("ALS-WR, float32", "helpers.als:fit_als", {"k": 3, "iterations": 3, "weighted": True, "seed": 1, "dtype": "float32"}),
    ("ALS, missing as 0", "helpers.als:fit_als_zeros", {"k": 3, "iterations": 3, "seed": 1}),
    ("implicit ALS", "helpers.implicit_als:fit_implicit_als", {"k": 3, "iterations": 3, "seed": 1}),
    ("implicit ALS, float32", "helpers.implicit_als:fit_implicit_als", {"k": 3, "iterations": 3, "seed": 1, "dtype": "float32"}),
    ("BPR", "helpers.bpr:fit_bpr", {"k": 3, "epochs": 3, "batch_size": 16, "seed": 1}),
    ("EASE", "helpers.ease:fit_ease", {"reg": 10.0, "min_ratings": 1}),
    ("NMF", "helpers.nmf:fit_nmf", {"k": 3, "iterations": 3, "seed": 1}),
    ("NMF-MU", "helpers.nmf:fit_nmf", {"k": 3, "iterations": 3, "solver": "mu", "seed": 1}),
    ("NMF, no biases", "helpers.nmf:fit_nmf", {"k": 3, "iterations": 3, "biases": "none", "seed": 1}),
    ("biased MF (JAX)", "helpers.neural:fit_jax_mf", {"k": 3, "epochs": 3, "batch_size": 16, "seed": 1}),
    ("GMF", "helpers.neural_ranking:fit_gmf", {"k": 3, "epochs": 2, "batch_size": 32, "seed": 1}),
    ("NCF MLP", "helpers.neural_ranking:fit_mlp", {"k": 3, "hidden": (8, 4), "epochs": 2, "batch_size": 32, "seed": 1}),
    ("NeuMF", "helpers.neural_ranking:fit_neumf", {"k_gmf": 2, "k_mlp": 3, "hidden": (8, 4), "epochs": 2, "batch_size": 32, "seed": 1}),
    ("embedding net", "helpers.neural_rating:fit_embedding_nn", {"k": 3, "hidden": (8,), "epochs": 2, "batch_size": 32, "seed": 1}),
    ("hybrid net", "helpers.neural_rating:fit_hybrid", {"movies": MOVIES, "k": 3, "hidden": (8,), "epochs": 2, "batch_size": 32, "seed": 1}),
    ("Spark ALS", "helpers.spark:fit_spark_als", {"k": 2, "iterations": 2, "seed": 1, "trace": True}),
    ("Spark implicit ALS", "helpers.spark:fit_spark_implicit_als", {"k": 2, "iterations": 2, "seed": 1, "trace": True}),
]
# fmt: on

UNSEEN_USER, UNSEEN_ITEM = 999_999, 999_999


def fit_function(target: str):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def takes(fit, argument: str) -> bool:
    return argument in inspect.signature(fit).parameters


@pytest.fixture(scope="module")
def spark_for_contract():
    """One local Spark session for the Spark fits of this module (they use the running one)."""
    from helpers.spark import QUICK_JVM, JavaNotFoundError, require_java, spark_session

    try:
        require_java()
    except JavaNotFoundError as exc:
        pytest.skip(f"needs Java: {exc}")
    with spark_session("local[2]", app_name="contract", java_options=QUICK_JVM) as session:
        yield session


@pytest.fixture(autouse=True)
def _spark_when_needed(request):
    callspec = getattr(request.node, "callspec", None)
    if callspec and str(callspec.params.get("target", "")).startswith("helpers.spark:"):
        request.getfixturevalue("spark_for_contract")


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return random_ratings(3, n_users=24, n_items=18, density=0.4, raw_ids=True, low_rank=True)


def all_scores(model, train: pd.DataFrame) -> np.ndarray:
    users = np.append(np.unique(train["userId"]), UNSEEN_USER)
    items = np.append(np.unique(train["movieId"]), UNSEEN_ITEM)
    return model.score(users, items)


cases = pytest.mark.parametrize(
    ("target", "kwargs"), [pytest.param(t, kw, id=label) for label, t, kw in FITS]
)


@cases
def test_returns_a_scorer_with_ascending_ids(train, target, kwargs):
    model = fit_function(target)(train, **kwargs)
    assert isinstance(model, Scorer)
    assert isinstance(model.name, str) and model.name
    np.testing.assert_array_equal(model.item_ids, np.unique(train["movieId"]))
    if hasattr(model, "user_ids"):
        np.testing.assert_array_equal(model.user_ids, np.unique(train["userId"]))
    assert "0x" not in repr(model)  # no memory addresses in notebook output


@cases
def test_deterministic_and_leaves_the_input_alone(train, target, kwargs):
    before = train.copy(deep=True)
    first = all_scores(fit_function(target)(train, **kwargs), train)
    second = all_scores(fit_function(target)(train, **kwargs), train)
    pd.testing.assert_frame_equal(train, before)
    np.testing.assert_array_equal(first, second)


@cases
def test_unseen_users_and_movies_get_the_fallback(train, target, kwargs):
    model = fit_function(target)(train, **kwargs)
    scores = all_scores(model, train)
    assert np.all(np.isfinite(scores))
    if isinstance(model, MFModel) and model.predicts_stars:
        known_user, known_item = model.user_ids[0], model.item_ids[0]
        got = model.predict([UNSEEN_USER, known_user, UNSEEN_USER], [known_item, UNSEEN_ITEM, 0])
        want = [
            model.global_mean + model.item_bias[0],
            model.global_mean + model.user_bias[0],
            model.global_mean,
        ]
        np.testing.assert_allclose(got, model.clip(np.array(want)))


@cases
def test_a_bad_valid_is_refused_by_name(train, target, kwargs):
    fit = fit_function(target)
    if not takes(fit, "valid"):
        pytest.skip("this fit takes no valid=")
    with pytest.raises(ValueError, match=r"valid lacks column\(s\) \['rating'\]"):
        fit(train, valid=train.drop(columns="rating"), **kwargs)
    with pytest.raises(TypeError, match="valid must be a DataFrame"):
        fit(train, valid=train.to_numpy(), **kwargs)
    with pytest.raises(ValueError, match="valid is empty"):
        fit(train, valid=train.iloc[:0], **kwargs)


def blas_limits() -> list[tuple[str, int]]:
    return sorted((pool["internal_api"], pool["num_threads"]) for pool in threadpool_info())


@cases
def test_thread_limits_survive_a_fit_that_raises(train, target, kwargs, monkeypatch):
    fit = fit_function(target)
    before = blas_limits()

    def interrupted(self, *args, **kw):
        raise KeyboardInterrupt("stopped half-way")  # what Ctrl-C in Jupyter raises

    monkeypatch.setattr(Monitor, "record", interrupted)
    try:
        fit(train, **kwargs)
    except KeyboardInterrupt:
        pass
    assert blas_limits() == before


@cases
def test_plot_history_draws_its_history(train, target, kwargs):
    fit = fit_function(target)
    # valid disjoint from what is fitted: a ranking monitor needs relevant unrated movies
    inner, held_out, _ = random_split(train, 0.3, seed=0)
    extra = {"valid": held_out} if takes(fit, "valid") else {}
    model = fit(inner if extra else train, **kwargs, **extra)
    history = getattr(model, "history", {})
    if not history:  # a closed-form fit makes no passes: nothing to draw
        assert not takes(fit, "valid")
        return
    lengths = {key: len(values) for key, values in history.items()}
    assert len(set(lengths.values())) == 1, lengths
    assert history["iteration"] == list(range(1, len(history["iteration"]) + 1))
    ax = plot_history(history)
    assert ax.get_xlabel() == "iteration" and ax.get_ylabel()
    assert len(ax.get_lines()) >= 1
    plt.close(ax.figure)


@cases
def test_numpy_integers_are_accepted_as_hyper_parameters(train, target, kwargs):
    ints = {key: np.int64(value) for key, value in kwargs.items() if type(value) is int}
    if not ints:
        pytest.skip("no integer hyper-parameters")
    fit = fit_function(target)
    np.testing.assert_array_equal(
        all_scores(fit(train, **{**kwargs, **ints}), train),
        all_scores(fit(train, **kwargs), train),
    )


@cases
def test_workers_do_not_change_the_result(train, target, kwargs):
    fit = fit_function(target)
    if not takes(fit, "workers"):
        pytest.skip("this fit takes no workers=")
    one = all_scores(fit(train, **kwargs, workers=1), train)
    two = all_scores(fit(train, **kwargs, workers=2), train)
    np.testing.assert_array_equal(one, two)
