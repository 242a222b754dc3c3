"""Spark's ALS as the series' model: Java detection, the quiet session, the conversion to an
MFModel, both fits, the block count and the spark-submit script.

Everything that needs a JVM shares one session (``spark`` fixture, the whole test run). Without
Java 17+ those tests are skipped with the message that says what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import random_ratings
from helpers.baselines import fit_biases
from helpers.matrix import build_matrix
from helpers.spark import (
    INSTALL_JAVA,
    LOG4J2_FILE,
    QUICK_JVM,
    BiasThenFactorsFoldIn,
    JavaNotFoundError,
    als_estimator,
    block_of,
    factors_of,
    fit_spark_als,
    fit_spark_implicit_als,
    java_major,
    java_version,
    master_cores,
    require_java,
    shipped_vectors,
    spark_session,
    spark_settings,
    to_pandas,
    to_spark,
)
from helpers.threads import cpu_count

ROOT = Path(__file__).resolve().parents[1]


def java_or_skip() -> str:
    """The Java version, or skip the test with what to install."""
    try:
        return require_java()
    except JavaNotFoundError as exc:
        pytest.skip(str(exc))


def small_ratings() -> pd.DataFrame:
    return random_ratings(2, n_users=20, n_items=15, density=0.4, raw_ids=True, low_rank=True)


@pytest.fixture(scope="session")
def submitted(tmp_path_factory):
    """``tools/spark_als.py`` under ``spark-submit`` on ``local[1]``, started before the test
    session's own JVM so that the two start up side by side; the test waits for it."""
    java_or_skip()
    folder = tmp_path_factory.mktemp("spark_submit")
    ratings = small_ratings()
    ratings.iloc[:100].to_csv(folder / "train.csv", index=False)
    ratings.iloc[100:].to_csv(folder / "test.csv", index=False)
    command = [
        str(Path(sys.executable).with_name("spark-submit")),
        *("--master", "local[1]"),
        *("--driver-java-options", f"-Dlog4j2.configurationFile={LOG4J2_FILE} {QUICK_JVM}"),
        str(ROOT / "tools" / "spark_als.py"),
        *("--train", str(folder / "train.csv"), "--test", str(folder / "test.csv")),
        *("--k", "2", "--iterations", "3", "--blocks", "2", "--out", str(folder / "model")),
    ]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    yield proc, folder
    if proc.poll() is None:  # the test did not wait for it (it failed or was deselected)
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="session")
def spark(submitted):
    java_or_skip()
    with spark_session("local[2]", app_name="tests", java_options=QUICK_JVM) as session:
        yield session


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    return small_ratings()


# ----------------------------------------------------------------------------- Java, no JVM


def test_without_java_the_error_and_the_skip_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no java on PATH
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert java_version() is None
    with pytest.raises(JavaNotFoundError) as error:
        require_java()
    message = str(error.value)
    assert "no `java` on PATH" in message
    for what in ("apt-get install openjdk-17-jre-headless", "brew install openjdk@17", "Temurin"):
        assert what in message and what in INSTALL_JAVA
    with pytest.raises(pytest.skip.Exception, match="apt-get install openjdk-17-jre-headless"):
        java_or_skip()
    with pytest.raises(JavaNotFoundError, match="brew install openjdk@17"):
        with spark_session():
            pass


def test_a_java_home_without_java_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match=r"JAVA_HOME is set to .* which has no bin/java"):
        require_java()


def test_a_java_older_than_17_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.21\" 2023-10-17' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert java_version() == "11.0.21"
    with pytest.raises(JavaNotFoundError, match=r"needs Java 17 or newer, .* is Java 11\.0\.21"):
        require_java()


@pytest.mark.parametrize(
    ("version", "major"), [("17.0.15", 17), ("21", 21), ("1.8.0_392", 8), ("25-ea", 25)]
)
def test_java_major(version, major):
    assert java_major(version) == major


def test_master_cores():
    assert master_cores("local") == 1
    assert master_cores("local[2]") == 2
    assert master_cores("local[3,2]") == 3  # local[cores, max failures]
    assert master_cores("local[*]") == cpu_count()
    assert master_cores("spark://127.0.0.1:7077") is None


def test_settings_stay_on_loopback_and_under_the_work_dir(tmp_path):
    settings = spark_settings("local[2]", work_dir=tmp_path)
    assert settings["spark.driver.host"] == settings["spark.driver.bindAddress"] == "127.0.0.1"
    assert settings["spark.ui.enabled"] == settings["spark.ui.showConsoleProgress"] == "false"
    for key in ("spark.local.dir", "spark.sql.warehouse.dir"):
        assert Path(settings[key]).is_relative_to(tmp_path)
    assert settings["spark.sql.shuffle.partitions"] == "2"
    assert (
        LOG4J2_FILE.is_file() and LOG4J2_FILE.as_uri() in settings["spark.driver.extraJavaOptions"]
    )
    assert "rootLogger.level = error" in LOG4J2_FILE.read_text()
    assert "spark.master" not in spark_settings(None)  # spark-submit's --master stays


def test_bad_arguments_are_refused_before_spark_starts(tiny):
    with pytest.raises(TypeError, match="k must be an integer"):
        fit_spark_als(tiny, k=2.5)
    with pytest.raises(ValueError, match="reg must be > 0"):
        fit_spark_als(tiny, reg=0.0)
    with pytest.raises(ValueError, match=r"valid lacks column\(s\) \['rating'\]"):
        fit_spark_als(tiny, valid=tiny.drop(columns="rating"))
    with pytest.raises(ValueError, match="confidence must be one of"):
        fit_spark_implicit_als(tiny, confidence="log")
    huge = tiny.assign(movieId=tiny["movieId"] + 2**31)
    with pytest.raises(ValueError, match=r"Spark's ALS needs ids in 0\.\.2147483647"):
        fit_spark_als(huge)
    with pytest.raises(ValueError, match="non-integer movieId"):
        fit_spark_als(tiny.assign(movieId=tiny["movieId"] + 0.5))


# ----------------------------------------------------------------------------- blocks


def test_block_of_is_the_id_modulo_the_blocks():
    np.testing.assert_array_equal(block_of([0, 1, 2, 3, 7, 10], 3), [0, 1, 2, 0, 1, 1])


def test_shipped_vectors_by_hand():
    # users 1, 2 (blocks 1, 0 of 2), movies 10, 11, 13 (blocks 0, 1, 1)
    frame = pd.DataFrame(
        {"userId": [1, 1, 1, 2, 2], "movieId": [10, 11, 13, 11, 13], "rating": [4.0] * 5}
    )
    sent = shipped_vectors(build_matrix(frame), 2)
    # user 1 goes to movie blocks 0 and 1; user 2 only to block 1 (two ratings there, sent once)
    np.testing.assert_array_equal(sent["users_to_items"], [[0, 1], [1, 1]])
    # movie 10 -> user block 1; movies 11 and 13 -> user blocks 0 and 1
    np.testing.assert_array_equal(sent["items_to_users"], [[0, 1], [2, 2]])


def test_shipped_vectors_lie_between_one_per_row_and_one_per_rating():
    matrix = build_matrix(random_ratings(4, n_users=40, n_items=30, density=0.3, raw_ids=True))
    one = shipped_vectors(matrix, 1)
    assert one["users_to_items"].sum() == matrix.n_users
    assert one["items_to_users"].sum() == matrix.n_items
    for blocks in (2, 5, 1000):
        sent = shipped_vectors(matrix, blocks)
        for key, rows in (("users_to_items", matrix.n_users), ("items_to_users", matrix.n_items)):
            assert rows <= sent[key].sum() <= min(matrix.nnz, rows * blocks)
    plain = build_matrix(random_ratings(4, n_users=40, n_items=30, density=0.3))  # ids 0..29
    own = shipped_vectors(plain, 3, item_blocks=30)  # every movie its own block
    assert own["users_to_items"].sum() == plain.nnz  # then one vector per rating
    assert own["items_to_users"].shape == (30, 3)


# ----------------------------------------------------------------------------- with Spark


def test_the_session_is_local_quiet_and_checkpointed(spark):
    conf = dict(spark.sparkContext.getConf().getAll())
    assert spark.sparkContext.master == "local[2]"
    assert conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "false"
    checkpoints = spark.sparkContext.getCheckpointDir()
    assert checkpoints is not None and "build/spark/checkpoints" in checkpoints


def test_factors_in_ascending_ids_reproduce_sparks_transform(spark, tiny):
    matrix = build_matrix(tiny)
    data = to_spark(spark, tiny)
    fitted = als_estimator(k=3, reg=0.1, iterations=3, num_blocks=2).fit(data)
    p = factors_of(fitted.userFactors, matrix.user_ids)
    q = factors_of(fitted.itemFactors, matrix.item_ids)
    assert p.shape == (matrix.n_users, 3) and q.shape == (matrix.n_items, 3)
    assert p.dtype == np.float64
    scored = to_pandas(fitted.transform(data)).sort_values(["userId", "movieId"])
    rows_u = matrix.user_index(scored["userId"].to_numpy())
    rows_i = matrix.item_index(scored["movieId"].to_numpy())
    ours = np.einsum("nk,nk->n", p[rows_u], q[rows_i])
    np.testing.assert_allclose(ours, scored["prediction"].to_numpy(), rtol=0, atol=1e-6)


def test_fit_spark_als_is_biases_plus_spark_on_their_residuals(spark, tiny):
    model = fit_spark_als(tiny, k=3, reg=0.1, iterations=4, damping=2.0, spark=spark)
    np.testing.assert_array_equal(model.user_ids, np.unique(tiny["userId"]))
    np.testing.assert_array_equal(model.item_ids, np.unique(tiny["movieId"]))
    assert (model.k, model.name, model.params["num_blocks"]) == (3, "Spark ALS", 2)
    biases = fit_biases(tiny, damping=2.0, iterations=5)
    np.testing.assert_array_equal(model.user_bias, biases.user_bias)
    np.testing.assert_array_equal(model.item_bias, biases.item_bias)
    assert model.global_mean == biases.global_mean
    # the same Spark fit on the residuals, by hand: identical factors, predictions to 1e-6
    resid = tiny["rating"] - biases.predict(tiny["userId"], tiny["movieId"], clip=False)
    data = to_spark(spark, tiny.assign(rating=resid))
    fitted = als_estimator(k=3, reg=0.1, iterations=4, num_blocks=2).fit(data)
    np.testing.assert_array_equal(
        model.user_factors, factors_of(fitted.userFactors, model.user_ids)
    )
    scored = to_pandas(fitted.transform(data))
    stars = biases.predict(scored["userId"], scored["movieId"], clip=False)
    got = model.predict(scored["userId"], scored["movieId"], clip=False)
    np.testing.assert_allclose(got, stars + scored["prediction"].to_numpy(), rtol=0, atol=1e-6)
    # the factors learn something: better on the training data than the biases alone
    assert model.history["train_rmse"][-1] < biases.history["train_rmse"][-1] - 0.05
    assert model.history["iteration"] == [4]


@pytest.fixture(scope="module")
def fitted(spark, tiny):
    return fit_spark_als(tiny, k=3, reg=0.1, iterations=3, spark=spark)


def test_folding_a_training_user_back_in_gives_its_own_row(fitted, tiny):
    model = fitted
    assert isinstance(model.fold_in, BiasThenFactorsFoldIn)
    matrix = build_matrix(tiny)
    for row in (0, 7, matrix.n_users - 1):
        items, stars = matrix.by_user.row(row)
        bias, factors = model.fold_in.solve(model, items, stars)
        assert bias == pytest.approx(model.user_bias[row], abs=1e-12)
        np.testing.assert_allclose(factors, model.user_factors[row], rtol=1e-5, atol=1e-6)


def test_trace_records_every_iteration_and_the_objective_never_rises(spark, tiny, fitted):
    traced = fit_spark_als(tiny, k=3, reg=0.1, iterations=3, spark=spark, trace=True, valid=tiny)
    history = traced.history
    assert history["iteration"] == [1, 2, 3]
    assert set(history) == {"iteration", "objective", "train_rmse", "valid_rmse"}
    objective = np.array(history["objective"])
    assert np.all(np.diff(objective) <= 1e-6 * objective[:-1])  # exact half-steps (float32)
    assert objective[-1] < objective[0]
    np.testing.assert_array_equal(traced.user_factors, fitted.user_factors)
    assert fitted.history["objective"] == [history["objective"][-1]]
    assert fitted.history["iteration"] == [3]


def test_implicit_spark_als_ranks_and_folds_in(spark, tiny):
    model = fit_spark_implicit_als(
        tiny, k=3, reg=0.05, alpha=5.0, iterations=3, spark=spark, trace=True
    )
    assert not model.predicts_stars and model.global_mean == 0.0
    with pytest.raises(TypeError, match="fitted to rank"):
        model.predict(tiny["userId"], tiny["movieId"])
    objective = np.array(model.history["objective"])
    assert np.all(np.diff(objective) <= 1e-6 * objective[:-1])
    # the objective's shortcut equals the sum over every cell of the small dense matrix
    matrix = build_matrix(tiny)
    x, y = model.user_factors, model.item_factors
    rated = np.zeros(matrix.shape)
    rated[matrix.users, matrix.items] = 1.0
    conf = 1.0 + 5.0 * rated
    n_u, n_i = rated.sum(axis=1), rated.sum(axis=0)
    dense = np.sum(conf * (rated - x @ y.T) ** 2)
    dense += 0.05 * (n_u @ np.sum(x**2, axis=1) + n_i @ np.sum(y**2, axis=1))
    assert objective[-1] == pytest.approx(dense, rel=1e-9)
    # the user is updated last: folding a training user back in gives its own factors
    items, stars = matrix.by_user.row(3)
    bias, factors = model.fold_in.solve(model, items, stars)
    assert bias == 0.0
    np.testing.assert_allclose(factors, model.user_factors[3], rtol=1e-5, atol=1e-6)


def test_spark_submit_runs_the_script_and_its_model_reproduces_the_rmse(spark, submitted):
    proc, folder = submitted
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    train, test = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")
    line = next(x for x in stdout.splitlines() if x.startswith("test RMSE: "))
    printed = float(line.removeprefix("test RMSE: "))
    # the written model predicts the printed RMSE
    users = pd.read_csv(folder / "model" / "users.csv").set_index("userId")
    movies = pd.read_csv(folder / "model" / "movies.csv").set_index("movieId")
    summary = json.loads((folder / "model" / "model.json").read_text())
    known = test[test["userId"].isin(users.index) & test["movieId"].isin(movies.index)]
    assert len(known) > 10
    u, i = users.loc[known["userId"]], movies.loc[known["movieId"]]
    factors = ["f1", "f2"]
    pred = summary["global_mean"] + u["bias"].to_numpy() + i["bias"].to_numpy()
    pred += np.einsum("nk,nk->n", u[factors].to_numpy(), i[factors].to_numpy())
    ours = fit_spark_als(train, k=2, iterations=3, num_blocks=2, spark=spark)
    np.testing.assert_allclose(
        pred, ours.predict(known["userId"], known["movieId"], clip=False), atol=1e-6
    )
    assert summary["test_rmse"] == pytest.approx(printed, abs=1e-6)
    want = np.sqrt(np.mean((test["rating"] - ours.predict(test["userId"], test["movieId"])) ** 2))
    assert printed == pytest.approx(want, abs=1e-5)
