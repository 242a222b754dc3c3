"""Apache Spark's ALS on the series' ratings, returned as an :class:`~helpers.model.MFModel`.

When one machine is not enough, Spark MLlib's ``ALS`` fits the same kind of model on a cluster.
This module runs it on a quiet local session and hands the result back as the series' model, so
every metric, top-N list, fold-in and explanation works on it.

**Java.** Spark runs in a Java virtual machine: Spark 4 needs Java 17 or 21.
:func:`java_version` says which Java Spark would use (``$JAVA_HOME/bin/java``, else ``java`` on
``PATH``, as Spark's launcher looks); :func:`require_java` raises :class:`JavaNotFoundError` with
what to install when there is none (:data:`INSTALL_JAVA`).

**A quiet local session.** :func:`spark_session` starts (and always stops) a session on this
machine only: master ``local[2]``, every address the loopback one, no web UI, no progress bars,
errors-only logging (``spark-log4j2.properties`` beside this file; whatever the JVM still prints
goes to ``build/spark/logs/jvm.log``), and every temporary file (shuffle files, warehouse,
checkpoints) under ``build/spark/``.

**Explicit ALS** (:func:`fit_spark_als`). Spark's model is :math:`\\hat r_{ui} = p_u^\\top q_i`:
no global mean, no biases. So the fit runs in two stages: the damped biases of
:func:`helpers.baselines.fit_biases` first, then Spark's ALS on their residuals
:math:`r_{ui} - \\mu - b_u - b_i`, minimising

.. math::

    \\sum_{(u,i)} (r_{ui} - \\mu - b_u - b_i - p_u^\\top q_i)^2
    + \\lambda \\Big(\\sum_u n_u \\lVert p_u \\rVert^2 + \\sum_i n_i \\lVert q_i \\rVert^2\\Big)

over the factors with the biases fixed. Spark scales ``regParam`` by each row's number of
ratings (``numExplicits * regParam`` in its solver): the ALS-WR weighting of Zhou et al. (2008),
i.e. ``helpers.als.fit_als(weighted=True)`` with the same ``reg``. (That one also learns the
biases inside ALS, with the same weighted penalty; here they come from the damped baseline.)

**Implicit ALS** (:func:`fit_spark_implicit_als`, ``implicitPrefs=True``): Hu, Koren & Volinsky
over every cell, confidence :math:`c = 1 + \\alpha r`, preference 1 for a rating, as
:mod:`helpers.implicit_als` — but again with the penalty scaled by each row's number of ratings.

**Blocks.** Spark splits users into ``numUserBlocks`` and movies into ``numItemBlocks`` blocks
by their id modulo the number of blocks; :func:`block_of` and :func:`shipped_vectors` count what
its blocked ALS sends between them (notebook 10, ``benchmarks/spark_scale.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from helpers.baselines import fit_biases
from helpers.checks import (
    check_bool,
    check_choice,
    check_int,
    check_positive,
    check_real,
    check_seed,
)
from helpers.history import Monitor
from helpers.matrix import RatingMatrix, as_matrix, index_of
from helpers.model import MFModel, predict_triples
from helpers.schema import ITEM, RATING, USER

if TYPE_CHECKING:
    from pyspark.ml.recommendation import ALS, ALSModel
    from pyspark.sql import DataFrame, SparkSession

ROOT = Path(__file__).resolve().parents[1]
#: Where every Spark session of the series keeps its temporary files.
SPARK_DIR = ROOT / "build" / "spark"
#: Errors-only logging for the JVM (log4j 2).
LOG4J2_FILE = Path(__file__).with_name("spark-log4j2.properties")
#: The oldest Java that Spark 4 runs on (17 and 21 are the supported releases).
MIN_JAVA = 17
#: What to install when there is no suitable Java.
INSTALL_JAVA = (
    "Install Java 17 or 21 (Spark 4 runs on either): Debian/Ubuntu "
    "`apt-get install openjdk-17-jre-headless`; macOS `brew install openjdk@17`; or an Eclipse "
    "Temurin 17/21 build. Then put its bin/ folder on PATH or set JAVA_HOME to it, and check "
    "with `java -version`."
)
#: Largest id Spark's ALS accepts: ids are Java ints.
MAX_SPARK_ID = 2**31 - 1
CONFIDENCES = ("binary", "rating")
#: JVM options for short sessions on small data (tests): the quick (C1) JIT compiler only and
#: the serial garbage collector start Spark with less CPU; long fits run slower with them.
QUICK_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
_PANDAS_WARNING = "PySpark does not yet fully support pandas"
_COPY_WARNING = "The copy keyword is deprecated"


# ----------------------------------------------------------------------------- Java


class JavaNotFoundError(RuntimeError):
    """No Java, or one too old for Spark; the message says what to install."""


def find_java() -> str | None:
    """The ``java`` Spark's launcher would run: ``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is
    set (``None`` if that file does not exist), else ``java`` on ``PATH`` (``None`` if absent)."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        return str(java) if java.is_file() and os.access(java, os.X_OK) else None
    return shutil.which("java")


def java_major(version: str) -> int:
    """Major release of a Java version string: ``"17.0.15"`` -> 17, ``"1.8.0_392"`` -> 8."""
    parts = re.findall(r"\d+", version)
    if not parts:
        raise ValueError(f"not a Java version: {version!r}")
    first = int(parts[0])
    return int(parts[1]) if first == 1 and len(parts) > 1 else first


def java_version() -> str | None:
    """Version of the Java Spark would use (e.g. ``"17.0.15"``), ``None`` if none is found."""
    java = find_java()
    if java is None:
        return None
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    match = re.search(r'version "([^"]+)"', done.stderr + done.stdout)
    return match.group(1) if match else None


def require_java() -> str:
    """The version of a Java that Spark can use; raises :class:`JavaNotFoundError` (naming what
    to install) when there is none or it is older than :data:`MIN_JAVA`."""
    home = os.environ.get("JAVA_HOME")
    version = java_version()
    if version is None:
        where = (
            f"JAVA_HOME is set to {home!r}, which has no bin/java"
            if home
            else "JAVA_HOME is not set and there is no `java` on PATH"
        )
        raise JavaNotFoundError(
            f"Apache Spark needs Java, and none was found ({where}). {INSTALL_JAVA}"
        )
    if java_major(version) < MIN_JAVA:
        raise JavaNotFoundError(
            f"Apache Spark 4 needs Java {MIN_JAVA} or newer, but {find_java()} is Java "
            f"{version}. {INSTALL_JAVA}"
        )
    return version


# ----------------------------------------------------------------------------- the session


def master_cores(master: str) -> int | None:
    """Cores of a ``local`` master: ``local`` 1, ``local[2]`` 2, ``local[*]`` all available;
    ``None`` for a cluster master (its executors decide)."""
    from helpers.threads import cpu_count

    if master == "local":
        return 1
    match = re.fullmatch(r"local\[(\d+|\*)(?:,\s*\d+)?\]", master)
    if match is None:
        return None
    return cpu_count() if match.group(1) == "*" else int(match.group(1))


def spark_settings(
    master: str | None = "local[2]",
    *,
    app_name: str = "mf-movielens",
    work_dir: str | Path = SPARK_DIR,
    driver_memory: str = "2g",
    partitions: int | None = None,
    java_options: str = "",
) -> dict[str, str]:
    """The Spark configuration of :func:`spark_session` (module docstring), as strings.

    ``partitions`` sets ``spark.sql.shuffle.partitions`` and ``spark.default.parallelism``
    (default: the master's cores; 200, Spark's default, is far too many for one machine).
    ``java_options`` are added to the driver JVM's options (e.g. :data:`QUICK_JVM`)."""
    work = Path(work_dir).resolve()
    cores = master_cores(master) if master else None
    partitions = partitions or cores or 2
    jvm = f"-Dlog4j2.configurationFile={LOG4J2_FILE.as_uri()} -Djava.io.tmpdir={work}/tmp"
    jvm = f"{jvm} {java_options}".strip()
    settings = {
        "spark.app.name": app_name,
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.local.dir": str(work / "local"),
        "spark.sql.warehouse.dir": str(work / "warehouse"),
        "spark.driver.memory": driver_memory,
        "spark.driver.extraJavaOptions": jvm,
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.default.parallelism": str(partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.cleaner.referenceTracking.cleanCheckpoints": "true",
    }
    if master:
        settings["spark.master"] = master
    return settings


@contextmanager
def quiet_pyspark() -> Iterator[None]:
    """Silence PySpark's warnings about this pandas: that it has not been tested with pandas 3,
    and pandas' deprecation of the ``copy=`` keyword PySpark still passes (its conversions work
    here; the tests check them)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        warnings.filterwarnings("ignore", message=_COPY_WARNING, module="pyspark")
        yield


@contextmanager
def spark_session(
    master: str | None = "local[2]",
    *,
    app_name: str = "mf-movielens",
    work_dir: str | Path = SPARK_DIR,
    driver_memory: str = "2g",
    partitions: int | None = None,
    java_options: str = "",
    conf: Mapping[str, str] | None = None,
) -> Iterator[SparkSession]:
    """A quiet Spark session on this machine (module docstring), stopped on the way out.

    ``master`` ``local[n]`` runs driver and executors in one JVM with ``n`` threads; ``None``
    keeps the master ``spark-submit`` was given. ``driver_memory`` is the JVM's heap (in local
    mode it holds the executors' data too); it and ``java_options`` act only on a JVM this
    session starts. ``conf`` adds or overrides settings. Checkpoints go
    to ``work_dir/checkpoints`` (ALS needs them to cut long lineages). Run from plain Python, the
    session gets a JVM of its own, ended with the session; under ``spark-submit`` it uses the
    one that launched the script. Raises :class:`JavaNotFoundError` without a suitable Java and
    ``RuntimeError`` if another session is running in this process.
    """
    require_java()
    with quiet_pyspark():
        from pyspark import SparkConf, SparkContext
        from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:
        raise RuntimeError(
            "a Spark session is already running in this process: pass it on (spark=...) or "
            "stop it first"
        )
    work = Path(work_dir).resolve()
    for sub in ("local", "warehouse", "checkpoints", "logs", "tmp"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    settings = spark_settings(
        master,
        app_name=app_name,
        work_dir=work,
        driver_memory=driver_memory,
        partitions=partitions,
        java_options=java_options,
    )
    settings.update(conf or {})
    spark_conf = SparkConf().setAll(list(settings.items()))
    own_jvm = "PYSPARK_GATEWAY_PORT" not in os.environ and SparkContext._gateway is None
    gateway = _launch_jvm(spark_conf, work / "logs" / "jvm.log") if own_jvm else None
    sc = session = checkpoints = None
    try:
        with quiet_pyspark():  # PySpark warns about pandas while it starts up
            sc = SparkContext(conf=spark_conf, gateway=gateway)
            sc.setLogLevel("ERROR")
            sc.setCheckpointDir(str(work / "checkpoints"))
            checkpoints = sc.getCheckpointDir()  # <work>/checkpoints/<this session's folder>
            session = SparkSession(sc)
        yield session
    finally:
        try:
            if session is not None:
                session.stop()
            elif sc is not None:
                sc.stop()
        finally:
            if checkpoints:
                shutil.rmtree(checkpoints.removeprefix("file:"), ignore_errors=True)
            if gateway is not None:
                _stop_jvm(gateway)


def _launch_jvm(spark_conf, log_path: Path):
    """Start Spark's JVM with stdout and stderr into ``log_path`` (the JVM prints a few lines
    that no logging setting silences) and the loopback address in its environment."""
    from pyspark.java_gateway import launch_gateway

    saved = {name: os.environ.get(name) for name in ("SPARK_LOCAL_IP", "PYSPARK_PYTHON")}
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        with open(log_path, "ab") as log:
            try:
                return launch_gateway(spark_conf, popen_kwargs={"stdout": log, "stderr": log})
            except Exception as exc:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(
                    f"Spark's JVM did not start ({exc}); the end of {log_path}:\n" + "\n".join(tail)
                ) from exc
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _stop_jvm(gateway) -> None:
    """End the JVM that :func:`_launch_jvm` started (it exits when its stdin closes)."""
    from pyspark import SparkContext

    proc = getattr(gateway, "proc", None)
    try:
        gateway.shutdown()
    except Exception:  # the JVM may be gone already
        pass
    if proc is not None:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    SparkContext._gateway = None
    SparkContext._jvm = None


@contextmanager
def _using(spark: SparkSession | None) -> Iterator[SparkSession]:
    """``spark``, else the running session, else a new :func:`spark_session` for this block."""
    if spark is not None:
        yield spark
        return
    with quiet_pyspark():
        from pyspark.sql import SparkSession
    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    with spark_session() as session:
        yield session


# ----------------------------------------------------------------------------- conversions


def check_spark_ids(name: str, matrix: RatingMatrix) -> None:
    """Spark's ALS casts ids to Java ints: integer ids in 0 .. 2**31 - 1, else ``ValueError``."""
    for column, ids in ((USER, matrix.user_ids), (ITEM, matrix.item_ids)):
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"{name} has non-integer {column} ({ids.dtype}); Spark's ALS needs integer ids"
            )
        if len(ids) and (ids[0] < 0 or ids[-1] > MAX_SPARK_ID):
            raise ValueError(
                f"{name} has {column} from {ids[0]} to {ids[-1]}; Spark's ALS needs ids in "
                f"0..{MAX_SPARK_ID} (Java ints): renumber them first"
            )


def to_spark(spark: SparkSession, frame: pd.DataFrame) -> DataFrame:
    """A ratings table as a Spark DataFrame: ``userId`` and ``movieId`` int, ``rating`` double
    (through Arrow). The ids must fit in Java ints (:func:`check_spark_ids`)."""
    from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

    schema = StructType(
        [
            StructField(USER, IntegerType(), False),
            StructField(ITEM, IntegerType(), False),
            StructField(RATING, DoubleType(), False),
        ]
    )
    table = pd.DataFrame(
        {
            USER: frame[USER].to_numpy().astype(np.int32),
            ITEM: frame[ITEM].to_numpy().astype(np.int32),
            RATING: frame[RATING].to_numpy(dtype=np.float64),
        }
    )
    with quiet_pyspark():
        return spark.createDataFrame(table, schema=schema)


def to_pandas(frame: DataFrame) -> pd.DataFrame:
    """A (small) Spark DataFrame as pandas, through Arrow."""
    with quiet_pyspark():
        return frame.toPandas()


def factors_of(factor_frame: DataFrame, ids: np.ndarray) -> np.ndarray:
    """Spark's ``userFactors``/``itemFactors`` (columns ``id``, ``features``: float32 arrays) as
    a (len(ids), k) float64 array in the order of the ascending raw ``ids``. Raises
    ``ValueError`` if an id has no factors or Spark has ids the caller does not know."""
    table = to_pandas(factor_frame)
    spark_ids = table["id"].to_numpy().astype(np.int64)
    rows = index_of(ids, spark_ids)
    if np.any(rows < 0) or len(np.unique(rows)) != len(ids):
        raise ValueError(
            f"Spark returned factors for {len(spark_ids)} ids, expected exactly the {len(ids)} "
            "ids of the training data"
        )
    factors = np.stack(table["features"].to_numpy()).astype(np.float64)
    out = np.empty_like(factors)
    out[rows] = factors
    return out


def als_estimator(
    *,
    k: int,
    reg: float,
    iterations: int,
    seed: int = 0,
    num_blocks: int = 2,
    checkpoint_interval: int = 5,
    implicit: bool = False,
    alpha: float = 1.0,
) -> ALS:
    """Spark's ``ALS`` estimator on the series' columns (userId, movieId, rating), unchecked:
    rank ``k``, ``regParam`` ``reg``, ``maxIter`` ``iterations``, ``num_blocks`` user and item
    blocks, ``checkpointInterval``, ``coldStartStrategy="nan"``."""
    with quiet_pyspark():
        from pyspark.ml.recommendation import ALS
    return ALS(
        rank=k,
        maxIter=iterations,
        regParam=reg,
        seed=seed,
        numUserBlocks=num_blocks,
        numItemBlocks=num_blocks,
        checkpointInterval=checkpoint_interval,
        implicitPrefs=implicit,
        alpha=alpha,
        userCol=USER,
        itemCol=ITEM,
        ratingCol=RATING,
        coldStartStrategy="nan",
    )


# ----------------------------------------------------------------------------- fold-in rules


@dataclass(frozen=True)
class BiasThenFactorsFoldIn:
    """A new user under :func:`fit_spark_als`'s two stages, the item side fixed: first the
    damped bias :math:`b_u = \\sum_i (r_{ui} - \\mu - b_i) / (d + n_u)` (the user pass of
    :func:`~helpers.baselines.fit_biases`), then Spark's ALS-WR user solve on the residuals,
    :math:`(Q_u^\\top Q_u + \\lambda n_u I)\\, p_u = Q_u^\\top (r_u - \\mu - b_i - b_u)`.

    Both fits end with a user update, so folding a training user back in returns its own bias
    and (to float32 rounding, Spark's precision) its own factors."""

    damping: float
    reg: float

    def solve(self, model, item_rows: np.ndarray, ratings: np.ndarray) -> tuple[float, np.ndarray]:
        """(bias, factors (k,)) of a user who gave ``ratings`` (stars) to ``item_rows``."""
        item_rows = np.asarray(item_rows, dtype=np.int64)
        targets = np.asarray(ratings, dtype=np.float64) - model.global_mean
        targets = targets - model.item_bias[item_rows]
        n = len(item_rows)
        bias = float(targets.sum() / (self.damping + n))
        q = model.item_factors[item_rows]
        gram = q.T @ q + self.reg * n * np.eye(q.shape[1])
        return bias, np.linalg.solve(gram, q.T @ (targets - bias))

    def describe(self) -> str:
        """One line for notebooks: what the new user's problem is."""
        return (
            f"damped bias b_u = Σ(r − μ − b_i)/({self.damping:g} + n_u) first, then ridge "
            f"regression of the residuals on q_i with penalty λ_u = {self.reg:g}·n_u"
        )


@dataclass(frozen=True)
class WeightedImplicitFoldIn:
    """A new user under Spark's implicit ALS, the item factors fixed:
    :math:`(Y^\\top Y + Y_u^\\top (C_u - I) Y_u + \\lambda n_u I)\\, x_u = Y_u^\\top C_u 1`
    with :math:`c_{ui} = 1 + \\alpha f(r_{ui})` on the rated movies (``f = 1`` for
    ``"binary"``, ``f = r`` for ``"rating"``) and :math:`Y^\\top Y` over all the model's movies.
    Unlike :class:`helpers.implicit_als.ImplicitFoldIn` the penalty grows with ``n_u``."""

    reg: float
    alpha: float
    confidence: str = "binary"

    def solve(self, model, item_rows: np.ndarray, ratings: np.ndarray) -> tuple[float, np.ndarray]:
        """(0.0, factors (k,)) of a user who rated ``item_rows`` with ``ratings`` (stars)."""
        y = model.item_factors
        y_u = y[np.asarray(item_rows, dtype=np.int64)]
        w = self.alpha * _strength(np.asarray(ratings, dtype=np.float64), self.confidence)
        a = y.T @ y + y_u.T @ (w[:, None] * y_u) + self.reg * len(y_u) * np.eye(y.shape[1])
        return 0.0, np.linalg.solve(a, y_u.T @ (1.0 + w))

    def describe(self) -> str:
        """One line for notebooks: what the new user's problem is."""
        f = "1" if self.confidence == "binary" else "r"
        return (
            f"weighted ridge over all movies: preference 1 on rated movies, 0 elsewhere; "
            f"confidence 1 + {self.alpha:g}·{f} on rated movies, 1 elsewhere; "
            f"λ_u = {self.reg:g}·n_u"
        )


def _strength(stars: np.ndarray, confidence: str) -> np.ndarray:
    """The value handed to Spark as the interaction strength: 1 per rating, or the stars."""
    return np.ones_like(stars) if confidence == "binary" else stars


# ----------------------------------------------------------------------------- the fits


def _check_common(k, reg, iterations, seed, num_blocks, checkpoint_interval, trace):
    return (
        check_int("k", k, minimum=1),
        check_positive("reg", reg, why="rows with fewer than k ratings make singular systems"),
        check_int("iterations", iterations, minimum=1),
        check_int("seed", check_seed("seed", seed), maximum=2**63 - 1),
        None if num_blocks is None else check_int("num_blocks", num_blocks, minimum=1),
        check_int("checkpoint_interval", checkpoint_interval, minimum=1),
        check_bool("trace", trace),
    )


def _fits(session, estimator, data, iterations: int, trace: bool) -> Iterator[ALSModel]:
    """Spark ALS models after 1, 2, …, ``iterations`` iterations (``trace``) or only the last.
    Spark's ALS is deterministic for a seed and a number of blocks, so the fit with
    ``maxIter = t`` is the state of the longer one after ``t`` iterations."""
    sc = session.sparkContext
    if sc.getCheckpointDir() is None:
        (SPARK_DIR / "checkpoints").mkdir(parents=True, exist_ok=True)
        sc.setCheckpointDir(str(SPARK_DIR / "checkpoints"))
    for t in range(1, iterations + 1) if trace else [iterations]:
        yield estimator.setMaxIter(t).fit(data)


@contextmanager
def _factor_fits(
    spark: SparkSession | None,
    frame: pd.DataFrame,
    matrix: RatingMatrix,
    *,
    iterations: int,
    trace: bool,
    num_blocks: int | None,
    **estimator,
) -> Iterator[tuple[int, Iterator[tuple[np.ndarray, np.ndarray]]]]:
    """Spark's ALS on ``frame`` (userId, movieId, rating) in ``spark`` or a new local session:
    yields the number of blocks used (``num_blocks`` or the session's parallelism) and the fits
    of :func:`_fits`, each as (user factors, item factors) in ``matrix``'s ascending ids.
    ``estimator``: the other arguments of :func:`als_estimator`. The cached data, and a session
    started here, are released on leaving the block, also when it raises."""
    with _using(spark) as session:
        blocks = num_blocks or session.sparkContext.defaultParallelism
        als = als_estimator(iterations=iterations, num_blocks=blocks, **estimator)
        data = to_spark(session, frame).cache()
        try:
            yield (
                blocks,
                (
                    (
                        factors_of(fitted.userFactors, matrix.user_ids),
                        factors_of(fitted.itemFactors, matrix.item_ids),
                    )
                    for fitted in _fits(session, als, data, iterations, trace)
                ),
            )
        finally:
            data.unpersist()


def _weighted_penalty(matrix: RatingMatrix, p: np.ndarray, q: np.ndarray) -> float:
    """``Σ_u n_u ||p_u||² + Σ_i n_i ||q_i||²``: Spark's penalty before the factor ``reg``."""
    n_u, n_i = matrix.by_user.counts(), matrix.by_item.counts()
    return float(n_u @ np.sum(p**2, axis=1) + n_i @ np.sum(q**2, axis=1))


def _one_row_history(monitor: Monitor, iterations: int, trace: bool) -> dict:
    """Without ``trace`` the monitor recorded once, after the last iteration: label it so."""
    if not trace:
        monitor.history["iteration"] = [iterations]
    return monitor.history


def fit_spark_als(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 10,
    reg: float = 0.1,
    iterations: int = 10,
    seed: int = 0,
    damping: float = 2.0,
    bias_iterations: int = 5,
    spark: SparkSession | None = None,
    num_blocks: int | None = None,
    checkpoint_interval: int = 5,
    valid: pd.DataFrame | None = None,
    trace: bool = False,
) -> MFModel:
    """Biased MF with Spark MLlib's ALS (module docstring): damped biases
    (``damping``, ``bias_iterations``) first, then Spark's ALS-WR on their residuals with rank
    ``k``, ``regParam`` ``reg`` (scaled by each row's ratings), ``iterations`` and ``seed``.

    ``spark``: the session to use (default: the running one, else a :func:`spark_session` for
    this fit). ``num_blocks`` user and movie blocks (default: the session's parallelism).
    ``checkpoint_interval``: iterations between checkpoints of the factors (without, lineages of
    more than about 20 iterations overflow the JVM's stack).

    Returns an :class:`MFModel` (ascending ids, float64 copies of Spark's float32 factors,
    ``fold_in`` a :class:`BiasThenFactorsFoldIn`). ``history``: ``objective`` (the factor stage's
    loss above, squared stars), ``train_rmse`` and, with ``valid``, ``valid_rmse``. Spark runs
    every iteration inside the JVM, so by default the history has one row, after the last
    iteration (``iteration == [iterations]``); ``trace=True`` records every iteration by refitting
    with 1, 2, … iterations (quadratic cost: for small data).
    """
    k, reg, iterations, seed, num_blocks, checkpoint_interval, trace = _check_common(
        k, reg, iterations, seed, num_blocks, checkpoint_interval, trace
    )
    damping = check_real("damping", damping, minimum=0.0)
    bias_iterations = check_int("bias_iterations", bias_iterations, minimum=1)
    monitor = Monitor(valid, objective=True)
    matrix = as_matrix(train)
    check_spark_ids("train", matrix)
    biases = fit_biases(matrix, damping=damping, iterations=bias_iterations)
    mu, user_bias, item_bias = biases.global_mean, biases.user_bias, biases.item_bias
    residual = matrix.values - mu - user_bias[matrix.users] - item_bias[matrix.items]
    frame = pd.DataFrame(
        {USER: matrix.user_ids[matrix.users], ITEM: matrix.item_ids[matrix.items], RATING: residual}
    )
    model = None
    with _factor_fits(
        spark,
        frame,
        matrix,
        iterations=iterations,
        trace=trace,
        num_blocks=num_blocks,
        k=k,
        reg=reg,
        seed=seed,
        checkpoint_interval=checkpoint_interval,
    ) as (blocks, fits):
        params = {
            "k": k,
            "reg": reg,
            "iterations": iterations,
            "seed": seed,
            "damping": damping,
            "bias_iterations": bias_iterations,
            "num_blocks": blocks,
            "checkpoint_interval": checkpoint_interval,
        }
        for p, q in fits:
            model = MFModel.from_matrix(
                matrix,
                global_mean=mu,
                user_bias=user_bias.copy(),
                item_bias=item_bias.copy(),
                user_factors=p,
                item_factors=q,
                name="Spark ALS",
                params=params,
                history=monitor.history,
                fold_in=BiasThenFactorsFoldIn(damping=damping, reg=reg),
            )
            fit_part = predict_triples(matrix.users, matrix.items, p, q)
            loss = float(np.sum((residual - fit_part) ** 2))
            monitor.record(
                model,
                objective=loss + reg * _weighted_penalty(matrix, p, q),
                train_true=matrix.values,
                train_pred=model.clip(matrix.values - residual + fit_part),
            )
    model.history = _one_row_history(monitor, iterations, trace)
    return model


def fit_spark_implicit_als(
    train: pd.DataFrame | RatingMatrix,
    *,
    k: int = 10,
    reg: float = 0.01,
    alpha: float = 10.0,
    iterations: int = 10,
    confidence: str = "binary",
    seed: int = 0,
    spark: SparkSession | None = None,
    num_blocks: int | None = None,
    checkpoint_interval: int = 5,
    valid: pd.DataFrame | None = None,
    trace: bool = False,
) -> MFModel:
    """Implicit-feedback ALS with Spark MLlib (``implicitPrefs=True``), fitted to rank.

    Every rating is an interaction of strength 1 (``confidence="binary"``) or its stars
    (``"rating"``); Spark holds it with confidence ``1 + alpha · strength`` and preference 1,
    every other cell with confidence 1 and preference 0, and penalises
    ``reg · n_u ||x_u||²`` (and ``reg · n_i ||y_i||²``): the penalty of
    :func:`helpers.implicit_als.fit_implicit_als` without that weighting is ``reg ||x_u||²``, so
    the same ``reg`` is not the same model. Session, blocks, checkpoints and ``trace``: as
    :func:`fit_spark_als`.

    Returns an :class:`MFModel` with zero biases, ``global_mean`` 0, ``predicts_stars=False`` and
    ``fold_in`` a :class:`WeightedImplicitFoldIn`. ``history``: ``objective`` (Spark's implicit
    loss over all cells) and, with ``valid``, ``valid_ndcg`` (NDCG@10, candidates from ``train``).
    """
    k, reg, iterations, seed, num_blocks, checkpoint_interval, trace = _check_common(
        k, reg, iterations, seed, num_blocks, checkpoint_interval, trace
    )
    alpha = check_positive("alpha", alpha)
    confidence = check_choice("confidence", confidence, CONFIDENCES)
    matrix = as_matrix(train)
    monitor = Monitor(valid, objective=True, ranking=True, train=train)
    check_spark_ids("train", matrix)
    if confidence == "rating" and np.any(matrix.values <= 0):
        raise ValueError(
            "confidence='rating' needs positive ratings: Spark reads a rating <= 0 as a "
            f"preference of 0, got a minimum of {matrix.values.min():g}"
        )
    strength = _strength(matrix.values, confidence)
    weights = alpha * strength  # c - 1 of every rated cell
    ratings = pd.DataFrame(
        {USER: matrix.user_ids[matrix.users], ITEM: matrix.item_ids[matrix.items], RATING: strength}
    )
    model = None
    with _factor_fits(
        spark,
        ratings,
        matrix,
        iterations=iterations,
        trace=trace,
        num_blocks=num_blocks,
        k=k,
        reg=reg,
        seed=seed,
        checkpoint_interval=checkpoint_interval,
        implicit=True,
        alpha=alpha,
    ) as (blocks, fits):
        params = {
            "k": k,
            "reg": reg,
            "alpha": alpha,
            "iterations": iterations,
            "confidence": confidence,
            "seed": seed,
            "num_blocks": blocks,
            "checkpoint_interval": checkpoint_interval,
        }
        for x, y in fits:
            model = MFModel.from_matrix(
                matrix,
                global_mean=0.0,
                user_factors=x,
                item_factors=y,
                name="Spark implicit ALS",
                params=params,
                history=monitor.history,
                predicts_stars=False,
                fold_in=WeightedImplicitFoldIn(reg=reg, alpha=alpha, confidence=confidence),
            )
            s = predict_triples(matrix.users, matrix.items, x, y)
            everything = float(np.sum((x.T @ x) * (y.T @ y)))  # Σ over all cells of s²
            rated = float(np.sum((1.0 + weights) * (1.0 - s) ** 2 - s**2))
            penalty = _weighted_penalty(matrix, x, y)
            monitor.record(model, objective=everything + rated + reg * penalty)
    model.history = _one_row_history(monitor, iterations, trace)
    return model


# ----------------------------------------------------------------------------- blocks


def block_of(ids, num_blocks: int) -> np.ndarray:
    """Spark's ALS block of each id: its ``HashPartitioner`` puts Java int ``id`` in block
    ``id mod num_blocks`` (non-negative), shape of ``ids``."""
    return np.mod(np.asarray(ids, dtype=np.int64), num_blocks)


def shipped_vectors(
    matrix: RatingMatrix, user_blocks: int, item_blocks: int | None = None
) -> dict[str, np.ndarray]:
    """What Spark's blocked ALS ships per half-step: factor vectors counted per (source block,
    destination block). A user's factors go once to every movie block holding a movie the
    user rated (not once per rating), and the other way round.

    Returns ``{"users_to_items": (user_blocks, item_blocks), "items_to_users": (item_blocks,
    user_blocks)}`` int64 arrays. One iteration ships the sum of both: times ``4·k`` bytes
    (Spark keeps factors as float32). O(nnz) time and memory.
    """
    user_blocks = check_int("user_blocks", user_blocks, minimum=1)
    item_blocks = (
        user_blocks if item_blocks is None else check_int("item_blocks", item_blocks, minimum=1)
    )
    ub = block_of(matrix.user_ids, user_blocks)[matrix.users]
    ib = block_of(matrix.item_ids, item_blocks)[matrix.items]

    def distinct(src_rows, src_blocks, dst_blocks, n_dst_blocks, shape):
        # distinct (source row, destination block) pairs, counted by (source block, dst block)
        keys = np.unique(src_rows.astype(np.int64) * n_dst_blocks + dst_blocks)
        src, dst = keys // n_dst_blocks, keys % n_dst_blocks
        flat = src_blocks[src] * n_dst_blocks + dst
        return np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)

    user_block_of_row = block_of(matrix.user_ids, user_blocks)
    item_block_of_row = block_of(matrix.item_ids, item_blocks)
    return {
        "users_to_items": distinct(
            matrix.users,
            user_block_of_row,
            ib,
            item_blocks,
            (user_blocks, item_blocks),
        ),
        "items_to_users": distinct(
            matrix.items,
            item_block_of_row,
            ub,
            user_blocks,
            (item_blocks, user_blocks),
        ),
    }
