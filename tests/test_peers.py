"""Peer libraries in the benchmark: scorers equal the libraries' own predictions, failures get rows.

The tests that fit Surprise or implicit skip where the optional ``bench`` extra is not installed
(``make test`` does not install it); the scorers' rules and the failure rows are tested without.
"""

from __future__ import annotations

import builtins
import inspect

import numpy as np
import pandas as pd
import pytest

from benchmarks import cli, inputs, measure, peers, run
from conftest import random_ratings
from helpers.model import Scorer


@pytest.fixture
def split():
    ratings = random_ratings(4, n_users=20, n_items=15, density=0.5, raw_ids=True, low_rank=True)
    test = ratings.sample(frac=0.2, random_state=1)
    return ratings.drop(test.index).reset_index(drop=True), test.reset_index(drop=True)


@pytest.fixture
def no_gc(monkeypatch):
    monkeypatch.setattr(measure.gc, "collect", lambda: 0)


def tiny_scorer(biased=True):
    return peers.SurpriseScorer(
        name="tiny",
        user_ids=np.array([10, 20]),
        item_ids=np.array([1, 5, 7]),
        global_mean=3.0,
        user_bias=np.array([0.5, -0.5]),
        item_bias=np.array([0.1, 0.2, -0.3]),
        user_factors=np.array([[1.0, 0.0], [0.0, 2.0]]),
        item_factors=np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 1.0]]),
        biased=biased,
    )


def test_surprise_scorer_follows_surprises_rules_for_seen_and_unseen_ids():
    scorer = tiny_scorer()
    assert isinstance(scorer, Scorer)
    scores = scorer.score([10, 99], [5, 8])
    # seen pair: 3 + 0.5 + 0.2 + [1, 0]·[2, 0]; unseen movie drops b_i and the product;
    # unseen user drops b_u and the product; both unseen: the mean
    np.testing.assert_allclose(scores, [[3 + 0.5 + 0.2 + 2.0, 3.5], [3.2, 3.0]])
    # predict: the same pairs, clipped to the scale (3 + 0.5 + 0.1 + 1 = 4.6; 3 - 0.5 - 0.3 + 2)
    np.testing.assert_allclose(scorer.predict([10, 20, 20], [1, 7, 99]), [4.6, 4.2, 2.5])
    plain = tiny_scorer(biased=False)  # NMF: p·q for seen pairs, the mean otherwise
    np.testing.assert_allclose(plain.score([20, 99], [1, 7]), [[2.0, 2.0], [3.0, 3.0]])
    np.testing.assert_allclose(plain.predict([20, 20], [5, 8]), [0.5, 3.0])  # 0 clipped to 0.5
    assert "0x" not in repr(scorer)


def test_factor_scorer_scores_dot_products_and_zero_for_unseen():
    scorer = peers.FactorScorer(
        name="f",
        user_ids=np.array([3, 4]),
        item_ids=np.array([1, 2]),
        user_factors=np.array([[1.0, 2.0], [0.0, 1.0]]),
        item_factors=np.array([[1.0, 1.0], [3.0, 0.0]]),
    )
    assert isinstance(scorer, Scorer) and not scorer.predicts_stars
    np.testing.assert_allclose(
        scorer.score([4, 3, 9], [2, 1, 6]), [[0, 1, 0], [3, 3, 0], [0, 0, 0]]
    )


def test_interleaved_times_alternate_peer_and_yardsticks():
    calls = []
    firsts, rest, result = peers.interleaved_times(
        lambda: calls.append("peer") or "fitted",
        [lambda: calls.append("a"), lambda: calls.append("b")],
        repeats=2,
    )
    assert calls == ["peer", "a", "b", "peer", "a", "b"]
    assert len(firsts) == 2 and [len(t) for t in rest] == [2, 2] and result == "fitted"


def test_peer_names_are_checked():
    assert peers.parse_peer_names(None) == list(peers.PEERS)
    assert peers.parse_peer_names(["implicit_bpr,surprise_svd"]) == ["implicit_bpr", "surprise_svd"]
    with pytest.raises(ValueError, match=r"unknown peer\(s\) \['lightfm'\]"):
        peers.parse_peer_names(["lightfm"])


def test_cli_peers_option(capsys):
    assert cli.parse_args(["--peers"]).peers == list(peers.PEERS)
    assert cli.parse_args(["--peers", "surprise_svd"]).peers == ["surprise_svd"]
    assert cli.parse_args([]).peers is None
    for argv, message in (
        (["--peers", "nope"], "--peers: unknown peer(s) ['nope']"),
        (["--scale", "--peers"], "cannot be combined with --scale"),
    ):
        with pytest.raises(SystemExit):
            cli.parse_args(argv)
        assert message in capsys.readouterr().err


def hide(monkeypatch, *modules):
    """Make ``import`` of ``modules`` fail, as if the bench extra were not installed."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in modules:
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(
        peers.importlib,
        "import_module",
        lambda name: fake_import(name, fromlist=["_"]),
    )


def test_a_missing_peer_gets_a_row_saying_so(monkeypatch, split, tmp_path, no_gc):
    train, test = split
    hide(monkeypatch, "surprise", "implicit")
    rows = peers.run_peers(["surprise_svd", "implicit_bpr"], train, test, repeats=1, log=str)
    assert [row["label"] for row in rows] == ["Surprise SVD (defaults)", "implicit BPR"]
    assert "scikit-surprise is not installed" in rows[0]["error"]
    assert "implicit is not installed" in rows[1]["error"]
    assert all('pip install -e ".[bench]"' in row["error"] for row in rows)
    data = {"source": "tiny", "default": False, **inputs.describe(train, test)}
    markdown, _ = run.run_benchmark(
        ["global_mean"],
        train,
        test,
        data,
        repeats=1,
        out_dir=tmp_path,
        log=str,
        peers=["surprise_svd"],
    )
    assert "| global mean | - |" in markdown  # the series' rows still run
    assert "| Surprise SVD (defaults) | n_factors=100, n_epochs=20, random_state=0 | failed |" in (
        markdown
    )
    assert "- Surprise SVD (defaults) failed: not available: scikit-surprise" in markdown
    assert "## Peers: fit time against the series' model, same run" in markdown
    assert "| Surprise SVD (defaults) |  |  |  | failed |" in markdown


def test_a_peer_that_raises_gets_a_row_and_the_next_still_runs(monkeypatch, split):
    train, test = split
    broken = peers.Peer("broken", lambda train: 1 / 0, {}, ())
    fine = peers.Peer("fine", lambda train: peers.SurpriseScorer(**_flat(train)), {}, ())
    monkeypatch.setitem(peers.PEERS, "broken", broken)
    monkeypatch.setitem(peers.PEERS, "fine", fine)
    rows = peers.run_peers(["broken", "fine"], train, test, repeats=1, log=str)
    assert rows[0]["error"] == "ZeroDivisionError: division by zero"
    assert "error" not in rows[1] and rows[1]["rmse"] > 0 and rows[1]["ratios"] == []


def _flat(train: pd.DataFrame) -> dict:
    """A SurpriseScorer predicting the training mean everywhere (k = 0, zero biases)."""
    users, items = np.unique(train["userId"]), np.unique(train["movieId"])
    return {
        "name": "flat",
        "user_ids": users,
        "item_ids": items,
        "global_mean": float(train["rating"].mean()),
        "user_bias": np.zeros(len(users)),
        "item_bias": np.zeros(len(items)),
        "user_factors": np.zeros((len(users), 0)),
        "item_factors": np.zeros((len(items), 0)),
    }


# ----------------------------------------------------------------------------- with the extra


def all_pairs(train: pd.DataFrame):
    users = np.append(np.unique(train["userId"]), 999_999)
    items = np.append(np.unique(train["movieId"]), 999_999)
    return users, items


@pytest.mark.parametrize(
    ("algorithm", "params"),
    [
        ("SVD", {"n_factors": 5, "n_epochs": 3, "random_state": 0}),
        ("NMF", {"n_factors": 3, "n_epochs": 5, "random_state": 0}),
        ("BaselineOnly", {"verbose": False}),
    ],
)
def test_surprise_scorer_equals_surprises_own_predictions(split, algorithm, params):
    surprise = pytest.importorskip("surprise")
    train, _ = split
    trainset = peers.surprise_trainset(train)
    algo = getattr(surprise, algorithm)(**params)
    algo.fit(trainset)
    scorer = peers.surprise_scorer(algo, trainset, algorithm)
    np.testing.assert_array_equal(scorer.item_ids, np.unique(train["movieId"]))
    users, items = all_pairs(train)  # every pair, unseen user and movie included
    uu, ii = np.repeat(users, len(items)), np.tile(items, len(users))
    theirs = np.array([algo.predict(u, i).est for u, i in zip(uu, ii, strict=True)])
    np.testing.assert_allclose(scorer.predict(uu, ii), theirs, atol=1e-12)
    # score: the same numbers, unclipped, as a (users, items) block
    low, high = peers.RATING_SCALE
    block = scorer.score(users, items)
    np.testing.assert_allclose(np.clip(block, low, high).ravel(), theirs, atol=1e-12)


@pytest.mark.parametrize("algorithm", ["als", "bpr"])
def test_implicit_scorer_equals_implicits_own_scores(split, algorithm):
    pytest.importorskip("implicit")
    from helpers.threads import single_threaded_blas

    if algorithm == "als":
        from implicit.cpu.als import AlternatingLeastSquares as Model
    else:
        from implicit.cpu.bpr import BayesianPersonalizedRanking as Model
    train, _ = split
    csr, users, items = peers.user_items(train)
    with single_threaded_blas():
        model = Model(factors=4, iterations=3, random_state=0, num_threads=1)
        model.fit(csr, show_progress=False)
    scorer = peers.implicit_scorer(model, users, items, algorithm)
    np.testing.assert_array_equal(scorer.item_ids, np.unique(train["movieId"]))
    for row in (0, 2, len(users) - 1):
        ids, theirs = model.recommend(row, csr[row], N=6, filter_already_liked_items=False)
        ours = scorer.score(users[[row]], items[ids])[0]
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        # the scorer ranks every movie as implicit does: its top 6 are implicit's
        top = np.argsort(-scorer.score(users[[row]], items)[0], kind="stable")[:6]
        np.testing.assert_array_equal(np.sort(top), np.sort(ids))
    assert scorer.score([999_999], items[:3]).tolist() == [[0.0, 0.0, 0.0]]


def test_implicit_confidence_mirrors_the_series_implicit_als(split):
    pytest.importorskip("scipy")
    train, _ = split
    csr, users, items = peers.user_items(train, {"alpha": 0.5, "confidence": "rating"})
    first = train.iloc[0]
    u, i = np.searchsorted(users, first["userId"]), np.searchsorted(items, first["movieId"])
    assert csr[u, i] == pytest.approx(1 + 0.5 * first["rating"])
    assert csr.nnz == len(train)


def test_benchmark_peer_rows_with_the_extra(split, no_gc):
    pytest.importorskip("surprise")
    train, test = split
    sticks = {"sgd": peers.Yardstick("SGD", "helpers.sgd:fit_sgd", {"k": 2, "epochs": 2})}
    row = peers.benchmark_peer("surprise_svd", train, test, repeats=2, yardsticks=sticks)
    assert row["predicts_stars"] and 0 < row["rmse"] < 2 and len(row["fit_times"]) == 2
    assert [r["yardstick"] for r in row["ratios"]] == ["SGD"]
    ratio = row["ratios"][0]
    assert ratio["ratio"] > 0 and ratio["peer_fit_s"] == row["fit_s"]
    assert "| Surprise SVD (defaults) |" in peers.ratio_table([row])


def test_surprise_svd_is_timed_against_als_with_as_many_passes():
    sticks = peers._yardsticks()
    assert (
        sticks["als_20"].params["iterations"]
        == 20
        == peers.PEERS["surprise_svd"].params["n_epochs"]
    )
    assert sticks["als_20_f32"].params == sticks["als_20"].params | {"dtype": "float32"}
    assert {"als_20", "als_20_f32"} <= set(peers.PEERS["surprise_svd"].yardsticks)
    assert sticks["implicit_als_f32"].params == sticks["implicit_als"].params | {"dtype": "float32"}
    assert "implicit_als_f32" in peers.PEERS["implicit_als"].yardsticks
    # the yardstick really fits: dtype is a parameter of fit_als
    assert "dtype" in inspect.signature(sticks["als_20_f32"].function()).parameters
