"""Tests of helpers.splits: partitions, per-user guarantees, time order, seeds, reports, errors."""

import re

import numpy as np
import pandas as pd
import pytest

from helpers.splits import (
    Split,
    SplitReport,
    fold_of,
    kfold_split,
    last_n_split,
    per_user_split,
    random_split,
    report_table,
    split_report,
    temporal_split,
    time_leakage,
)


def make_ratings(seed: int = 0, n_users: int = 30, n_items: int = 50) -> pd.DataFrame:
    """Unique random (user, movie) pairs, 3 to 25 ratings per user, timestamps with ties, and a
    shuffled, non-default index (so that keeping the original index is tested)."""
    rng = np.random.default_rng(seed)
    per_user = rng.integers(3, 26, size=n_users)
    users = np.repeat(np.arange(1, n_users + 1) * 7, per_user)
    items = np.concatenate([rng.choice(n_items, size=c, replace=False) for c in per_user]) + 100
    n = len(users)
    return pd.DataFrame(
        {
            "userId": users,
            "movieId": items,
            "rating": rng.integers(1, 11, size=n) / 2,
            "timestamp": 1_000_000_000 + 3600 * rng.integers(0, 400, size=n),  # many ties
        },
        index=pd.Index(rng.permutation(n) * 3 + 1000, name="rid"),
    )


@pytest.fixture
def ratings() -> pd.DataFrame:
    return make_ratings()


def assert_partition(ratings: pd.DataFrame, split: Split) -> None:
    """train and test are disjoint, together are the input, keep its columns, index and order."""
    train, test, report = split
    assert list(train.columns) == list(ratings.columns)
    assert list(test.columns) == list(ratings.columns)
    assert not set(train.index) & set(test.index)
    assert len(train) + len(test) == len(ratings)
    pos = ratings.index.get_indexer
    assert np.all(np.diff(pos(train.index)) > 0) and np.all(np.diff(pos(test.index)) > 0)
    pd.testing.assert_frame_equal(pd.concat([train, test]).loc[ratings.index], ratings)
    assert (report.n_train, report.n_test) == (len(train), len(test))


def per_user_counts(table: pd.DataFrame, users) -> np.ndarray:
    return table.groupby("userId").size().reindex(users, fill_value=0).to_numpy()


# ----------------------------------------------------------------------------- random


def test_random_split_partitions_with_the_asked_size(ratings):
    split = random_split(ratings, 0.25, seed=1)
    assert_partition(ratings, split)
    assert len(split.test) == round(0.25 * len(ratings))


def test_random_split_seeds(ratings):
    a, b, c = (random_split(ratings, 0.3, seed=s) for s in (5, 5, 6))
    pd.testing.assert_frame_equal(a.test, b.test)
    pd.testing.assert_frame_equal(a.train, b.train)
    assert not a.test.index.equals(c.test.index)


# ----------------------------------------------------------------------------- k-fold


@pytest.mark.parametrize("k", [2, 3, 7])
def test_kfold_test_sets_partition_the_ratings(ratings, k):
    splits = kfold_split(ratings, k, seed=2)
    assert len(splits) == k
    test_ids = np.concatenate([s.test.index.to_numpy() for s in splits])
    assert len(test_ids) == len(ratings)  # no rating twice...
    assert set(test_ids) == set(ratings.index)  # ...and none missing
    sizes = [len(s.test) for s in splits]
    assert max(sizes) - min(sizes) <= 1
    for s in splits:
        assert_partition(ratings, s)
    folds = fold_of(splits)
    assert folds.index.equals(ratings.index.sort_values())
    assert sorted(folds.unique().tolist()) == list(range(k))


def test_kfold_seeds(ratings):
    a, b, c = (kfold_split(ratings, 4, seed=s) for s in (1, 1, 2))
    for sa, sb in zip(a, b, strict=True):
        assert sa.test.index.equals(sb.test.index)
    assert not a[0].test.index.equals(c[0].test.index)
    assert [s.report.name for s in a] == ["fold 1/4", "fold 2/4", "fold 3/4", "fold 4/4"]


# ----------------------------------------------------------------------------- per user


@pytest.mark.parametrize("min_train", [1, 3])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_per_user_fraction_keeps_min_train_for_every_user(ratings, fraction, min_train):
    split = per_user_split(ratings, test_fraction=fraction, min_train=min_train, seed=3)
    assert_partition(ratings, split)
    users = np.unique(ratings.userId)
    n_u = per_user_counts(ratings, users)
    n_train = per_user_counts(split.train, users)
    n_test = per_user_counts(split.test, users)
    assert np.all(n_train >= min_train)
    expected = np.minimum(np.floor(fraction * n_u + 0.5), n_u - min_train)
    np.testing.assert_array_equal(n_test, expected)
    assert split.report.unseen_users == 0


def test_per_user_count(ratings):
    split = per_user_split(ratings, test_count=4, min_train=2, seed=0)
    assert_partition(ratings, split)
    users = np.unique(ratings.userId)
    n_u = per_user_counts(ratings, users)
    np.testing.assert_array_equal(per_user_counts(split.test, users), np.minimum(4, n_u - 2))
    assert np.all(per_user_counts(split.train, users) >= 2)


def test_per_user_by_hand():
    df = pd.DataFrame({"userId": [1] * 5 + [2] * 2, "movieId": range(7), "rating": [3.0] * 7})
    # user 1 sends round(0.5 * 5) = 3 to test, user 2 round(0.5 * 2) = 1
    split = per_user_split(df, test_fraction=0.5, min_train=1, seed=0)
    assert split.test.userId.value_counts().sort_index().to_dict() == {1: 3, 2: 1}
    # with min_train=2 user 2 (2 ratings) keeps both
    split = per_user_split(df, test_fraction=0.5, min_train=2, seed=0)
    assert split.test.userId.value_counts().to_dict() == {1: 3}
    # round(0.9 * 5) = 5, capped at 5 - 2 = 3 so that user 1 keeps two
    split = per_user_split(df, test_fraction=0.9, min_train=2, seed=0)
    assert split.test.userId.value_counts().to_dict() == {1: 3}
    assert split.train.userId.value_counts().sort_index().to_dict() == {1: 2, 2: 2}


def test_per_user_seeds(ratings):
    a, b, c = (per_user_split(ratings, test_fraction=0.3, seed=s) for s in (9, 9, 10))
    assert a.test.index.equals(b.test.index)
    assert not a.test.index.equals(c.test.index)


# ----------------------------------------------------------------------------- temporal


@pytest.mark.parametrize("quantile", [0.5, 0.8])
def test_temporal_quantile_cut(ratings, quantile):
    split = temporal_split(ratings, quantile=quantile)
    assert_partition(ratings, split)
    cut = split.test.timestamp.min()
    assert split.train.timestamp.max() < cut  # all train strictly before, all test at or after
    share = len(split.test) / len(ratings)
    assert 1 - quantile - 0.05 <= share <= 1 - quantile + 0.05
    assert time_leakage(split.train, split.test, per_user=False) == 0.0


def test_temporal_explicit_cut_in_every_form(ratings):
    cut = 1_000_000_000 + 3600 * 250
    split = temporal_split(ratings, cut=cut)
    assert split.test.timestamp.min() >= cut
    assert split.train.timestamp.max() < cut
    assert set(split.test.index) == set(ratings.index[ratings.timestamp >= cut])
    as_dates = ratings.assign(timestamp=pd.to_datetime(ratings.timestamp, unit="s"))
    stamp = pd.Timestamp(cut, unit="s")
    for table, given in (
        (ratings, stamp),
        (ratings, str(stamp)),
        (as_dates, cut),
        (as_dates, stamp),
        (as_dates.assign(timestamp=as_dates.timestamp.dt.tz_localize("UTC")), str(stamp)),
    ):
        assert temporal_split(table, cut=given).test.index.equals(split.test.index)


def test_temporal_datetimes_split_like_seconds(ratings):
    as_dates = ratings.assign(timestamp=pd.to_datetime(ratings.timestamp, unit="s"))
    a = temporal_split(ratings, quantile=0.7)
    b = temporal_split(as_dates, quantile=0.7)
    assert a.test.index.equals(b.test.index)


def test_last_n_tests_only_the_newest_ratings_of_each_user(ratings):
    split = last_n_split(ratings, 3, min_train=2, seed=4)
    assert_partition(ratings, split)
    newest_train = split.train.groupby("userId").timestamp.max()
    assert np.all(split.test.timestamp.to_numpy() >= split.test.userId.map(newest_train))
    users = np.unique(ratings.userId)
    n_u = per_user_counts(ratings, users)
    np.testing.assert_array_equal(per_user_counts(split.test, users), np.minimum(3, n_u - 2))
    assert time_leakage(split.train, split.test) == 0.0
    assert split.report.unseen_users == 0


def test_last_n_by_hand():
    df = pd.DataFrame(
        {
            "userId": [1, 1, 1, 2, 2, 2],
            "movieId": [10, 11, 12, 10, 11, 12],
            "rating": [1.0, 2.0, 3.0, 4.0, 5.0, 4.0],
            "timestamp": [30, 10, 20, 5, 50, 40],
        }
    )
    split = last_n_split(df, 2)
    assert split.test.index.tolist() == [0, 2, 4, 5]
    assert split.train.index.tolist() == [1, 3]


def test_last_n_breaks_ties_with_the_seed():
    # user 1 rated four movies in the same second: which one is "last" is decided by the seed
    df = pd.DataFrame(
        {"userId": [1] * 5, "movieId": range(5), "rating": [3.0] * 5, "timestamp": [9, 9, 9, 9, 1]}
    )
    picks = {last_n_split(df, 1, seed=s).test.index.item() for s in range(20)}
    assert picks <= {0, 1, 2, 3} and len(picks) > 1
    assert last_n_split(df, 1, seed=3).test.index.equals(last_n_split(df, 1, seed=3).test.index)


def test_last_n_datetimes_split_like_seconds(ratings):
    as_dates = ratings.assign(timestamp=pd.to_datetime(ratings.timestamp, unit="s", utc=True))
    assert last_n_split(as_dates, 2, seed=1).test.index.equals(
        last_n_split(ratings, 2, seed=1).test.index
    )


# ----------------------------------------------------------------------------- leakage


def test_time_leakage_by_hand():
    train = pd.DataFrame({"userId": [1, 1, 2], "timestamp": [10, 30, 5]})
    test = pd.DataFrame({"userId": [1, 1, 2, 3], "timestamp": [20, 40, 6, 1]})
    # user 1: 20 < 30 leaks, 40 does not; user 2: 6 > 5; user 3 has no training rating
    assert time_leakage(train, test) == 0.25
    # against the newest training rating of anyone (30): 20, 6 and 1 are older
    assert time_leakage(train, test, per_user=False) == 0.75


def test_random_split_leaks_and_last_n_does_not(ratings):
    leak = time_leakage(*random_split(ratings, 0.2, seed=0)[:2])
    assert leak > 0.5
    assert time_leakage(*last_n_split(ratings, 2)[:2]) == 0.0


# ----------------------------------------------------------------------------- report


def test_report_by_hand():
    train = pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 11, 10], "rating": [1.0] * 3})
    test = pd.DataFrame({"userId": [1, 3, 3, 2], "movieId": [12, 10, 12, 11], "rating": [1.0] * 4})
    r = split_report(train, test, "hand")
    assert r == SplitReport(
        name="hand",
        n_train=3,
        n_test=4,
        n_test_users=3,
        n_test_movies=3,
        unseen_users=1,  # user 3
        unseen_movies=1,  # movie 12
        unseen_ratings=3,  # (1, 12), (3, 10), (3, 12)
    )
    assert r.test_share == pytest.approx(4 / 7)
    assert str(r) == (
        "hand: 3 train / 4 test ratings (57.1% test); the test set has 3 users (1 unseen in "
        "train) and 3 movies (1 unseen); 3 test ratings involve an unseen user or movie"
    )
    frame = r.to_frame()
    assert frame.index.tolist() == ["hand"]
    assert frame.loc["hand", "unseen_ratings"] == 3
    assert frame.loc["hand", "test_share"] == 0.5714


def test_report_is_frozen(ratings):
    report = random_split(ratings).report
    with pytest.raises(AttributeError):
        report.n_test = 0


def test_report_table_lines_up_splits(ratings):
    splits = [random_split(ratings), temporal_split(ratings, quantile=0.8)]
    table = report_table(splits)
    assert table.index.tolist() == ["random 0.2", "temporal q=0.8"]
    assert table["n_test"].tolist() == [len(s.test) for s in splits]
    assert report_table([s.report for s in splits]).equals(table)


# ----------------------------------------------------------------------------- errors

ALL_SPLITS = {
    "random": lambda df: random_split(df, 0.2),
    "kfold": lambda df: kfold_split(df, 3),
    "per_user": lambda df: per_user_split(df, test_fraction=0.2),
    "temporal": lambda df: temporal_split(df, quantile=0.8),
    "last_n": lambda df: last_n_split(df, 1),
}


@pytest.mark.parametrize("name", ALL_SPLITS)
def test_empty_input(ratings, name):
    with pytest.raises(ValueError, match="ratings are empty: there is nothing to split"):
        ALL_SPLITS[name](ratings.iloc[:0])


@pytest.mark.parametrize("name", ALL_SPLITS)
def test_nan_rating(ratings, name):
    bad = ratings.copy()
    bad.loc[bad.index[[4, 9]], "rating"] = np.nan
    label = bad.index[4]
    with pytest.raises(ValueError, match=rf"2 rating\(s\) are NaN, e\.g\. at index \[{label}, "):
        ALL_SPLITS[name](bad)


@pytest.mark.parametrize("name", ALL_SPLITS)
def test_not_a_dataframe(ratings, name):
    with pytest.raises(TypeError, match=r"ratings must be a DataFrame .* got ndarray"):
        ALL_SPLITS[name](ratings.to_numpy())


@pytest.mark.parametrize("name", ALL_SPLITS)
def test_missing_column(ratings, name):
    with pytest.raises(ValueError, match=r"ratings lacks column\(s\) \['movieId'\]"):
        ALL_SPLITS[name](ratings.drop(columns="movieId"))


@pytest.mark.parametrize("name", ALL_SPLITS)
def test_duplicate_pairs(ratings, name):
    dup = pd.concat([ratings, ratings.iloc[[0]].set_index(pd.Index([-1], name="rid"))])
    with pytest.raises(ValueError, match=r"1 duplicate \(userId, movieId\) pair\(s\)"):
        ALL_SPLITS[name](dup)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan")])
def test_fraction_outside_open_unit_interval(ratings, fraction):
    msg = "must be strictly between 0 and 1, got"
    with pytest.raises(ValueError, match=f"test_fraction {msg}"):
        random_split(ratings, fraction)
    with pytest.raises(ValueError, match=f"test_fraction {msg}"):
        per_user_split(ratings, test_fraction=fraction)
    with pytest.raises(ValueError, match=f"quantile {msg}"):
        temporal_split(ratings, quantile=fraction)


def test_fraction_of_wrong_type(ratings):
    with pytest.raises(TypeError, match=r"test_fraction must be a number .* got '0.2'"):
        random_split(ratings, "0.2")
    with pytest.raises(TypeError, match=r"test_fraction must be a number .* got True"):
        per_user_split(ratings, test_fraction=True)


def test_fraction_too_small_for_the_data(ratings):
    with pytest.raises(ValueError, match="gives 0 test ratings; both train and test"):
        random_split(ratings.iloc[:3], 0.1)


@pytest.mark.parametrize("k", [1, 0, -2])
def test_k_below_two(ratings, k):
    with pytest.raises(ValueError, match=f"k must be >= 2, got {k}"):
        kfold_split(ratings, k)


def test_k_of_wrong_type_or_too_large(ratings):
    with pytest.raises(TypeError, match=r"k must be an integer, got float 2.5"):
        kfold_split(ratings, 2.5)
    with pytest.raises(ValueError, match="k=5 folds need at least 5 ratings, got 4"):
        kfold_split(ratings.iloc[:4], 5)


def test_min_train_larger_than_a_users_ratings(ratings):
    counts = ratings.groupby("userId").size()
    n = int(counts.min()) + 1
    short = counts[counts < n]
    first = re.escape(f"{short.index[0]} ({short.iloc[0]})")
    msg = rf"min_train={n} but {len(short)} user\(s\) have fewer ratings .*: userId \(ratings\) "
    msg += first
    with pytest.raises(ValueError, match=msg):
        per_user_split(ratings, test_count=1, min_train=n)
    with pytest.raises(ValueError, match=msg):
        last_n_split(ratings, 1, min_train=n)


def test_per_user_needs_exactly_one_quota(ratings):
    with pytest.raises(ValueError, match=r"give exactly one of test_fraction .* or test_count"):
        per_user_split(ratings)
    with pytest.raises(ValueError, match=r"give exactly one of test_fraction .* or test_count"):
        per_user_split(ratings, test_fraction=0.2, test_count=2)
    with pytest.raises(ValueError, match="test_count must be >= 1, got 0"):
        per_user_split(ratings, test_count=0)
    with pytest.raises(ValueError, match="min_train must be >= 1, got 0"):
        per_user_split(ratings, test_count=1, min_train=0)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        last_n_split(ratings, 0)


@pytest.mark.parametrize(
    "call",
    [lambda df: temporal_split(df, quantile=0.8), lambda df: last_n_split(df, 2)],
    ids=["temporal", "last_n"],
)
def test_missing_timestamp_column(ratings, call):
    with pytest.raises(
        ValueError, match="a temporal split needs a 'timestamp' column; the ratings"
    ):
        call(ratings.drop(columns="timestamp"))


def test_missing_timestamp_value(ratings):
    bad = ratings.astype({"timestamp": float})
    bad.loc[bad.index[2], "timestamp"] = np.nan
    with pytest.raises(ValueError, match=r"1 row\(s\) have a missing timestamp"):
        last_n_split(bad, 1)


def test_temporal_cut_errors(ratings):
    with pytest.raises(ValueError, match=r"give exactly one of quantile .* or cut"):
        temporal_split(ratings)
    with pytest.raises(ValueError, match=r"give exactly one of quantile .* or cut"):
        temporal_split(ratings, quantile=0.5, cut=0)
    with pytest.raises(ValueError, match=r"puts 0 of .* ratings in test"):
        temporal_split(ratings, cut=2_000_000_000)
    with pytest.raises(ValueError, match=r"cut must be Unix seconds, a pd.Timestamp or a date"):
        temporal_split(ratings, cut="not a date")


def test_seed_must_be_an_integer(ratings):
    with pytest.raises(TypeError, match=r"seed must be an integer, got float 1.5"):
        random_split(ratings, seed=1.5)
    with pytest.raises(TypeError, match="seed must be an integer, got None"):
        kfold_split(ratings, seed=None)


def test_leakage_errors(ratings):
    with pytest.raises(ValueError, match="test needs columns 'userId' and 'timestamp'"):
        time_leakage(ratings, ratings.drop(columns="timestamp"))
    with pytest.raises(ValueError, match="test is empty"):
        time_leakage(ratings, ratings.iloc[:0])
