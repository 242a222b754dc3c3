"""Spark's ALS against the series' ALS on one machine, and a cost model for a cluster.

For every size, one run generates synthetic ratings (:mod:`benchmarks.synthetic`), holds out 10%
for a test RMSE, and fits on the rest, side by side on the same cores:

* ``helpers.als.fit_als`` (ALS-WR) on a prebuilt matrix;
* ``helpers.spark.fit_spark_als`` (damped biases + Spark MLlib's ALS-WR on their residuals) on a
  fresh local Spark session (``local[2]``: driver and executors in one JVM).

**Time per iteration** of both is the difference of a fit with ``1 + iterations`` iterations and
one with 1 iteration, divided by ``iterations``: fixed costs (building the matrix or Spark's
blocks, shipping the data to the JVM and the factors back) cancel, and they are reported apart as
*fixed s*. Spark's JVM is warmed up by a small fit first (its first fit compiles much of Spark).

**The cost model.** Spark splits users into B blocks and movies into B blocks (id modulo B) and
ships, per half-step, every factor vector once to every block of the other side that holds one of
its ratings: ``4·k`` bytes (float32) per vector, counted exactly with
:func:`helpers.spark.shipped_vectors`. A row with ``n`` ratings reaches on average
``B·(1 - (1 - 1/B)^n)`` blocks, which predicts the count from the ratings per row alone; that is
how the model extrapolates to ml-25m (162,541 users × 59,047 movies, 25,000,095 ratings) and to a
100-million-rating matrix of the Netflix Prize's shape (480,189 × 17,770), with ratings per row
drawn from the synthetic generator's popularity laws. **Memory per executor** ≈ (16 bytes per
rating — each rating sits in a user block and a movie block as an int index and a float — plus
``4·k`` bytes per factor vector held or received) / executors, times the overhead the local run
measured (the JVM's peak resident memory over that estimate at the largest size).

A cluster of E executors with c cores pays off when its time per iteration — Spark's measured
CPU cost per rating spread over E·c cores, plus the shipped bytes over each executor's network
link — falls below the series' ALS on one machine, or when the data no longer fit on one machine.
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.measure import describe_machine, machine
from benchmarks.report import fmt_mb, markdown_table, write_outputs
from benchmarks.report import fmt_seconds as _fmt_seconds
from benchmarks.synthetic import SyntheticSpec, power_law_ranks, synthetic_ratings
from helpers.als import fit_als
from helpers.matrix import build_matrix
from helpers.metrics import rmse
from helpers.splits import random_split

#: Bytes per float32 factor entry, as Spark keeps its factors.
FLOAT32 = 4
#: Bytes per rating in Spark's blocks: in a user block and in a movie block, an int + a float.
BYTES_PER_RATING = 16
#: The matrices the model extrapolates to: (label, ratings, users, movies).
TARGETS = (
    ("ml-25m", 25_000_095, 162_541, 59_047),
    ("100 M (Netflix Prize shape)", 100_480_507, 480_189, 17_770),
)
#: Cluster shapes of the extrapolation: executors, each with this many cores.
EXECUTORS = (1, 4, 16, 64)
CORES_PER_EXECUTOR = 4
#: Network bandwidth of one executor, bytes per second (1 and 10 Gbit/s).
LINKS = {"1 Gbit/s": 125e6, "10 Gbit/s": 1.25e9}
#: Memory of one machine of this series (the one the benchmarks run on), GB.
MACHINE_GB = 24.0


def fmt_seconds(seconds: float) -> str:
    """:func:`benchmarks.report.fmt_seconds`, with "n/a" for a difference of two timings that
    noise made zero or negative (small sizes on a busy machine)."""
    return _fmt_seconds(seconds) if seconds > 0 else "n/a"


def expected_blocks(counts: np.ndarray, blocks: int) -> float:
    """Expected number of (row, destination block) pairs when each row's ``counts`` ratings fall
    in ``blocks`` blocks uniformly at random: ``sum B·(1 - (1 - 1/B)^n)``."""
    counts = np.asarray(counts, dtype=np.float64)
    if blocks == 1:
        return float(np.count_nonzero(counts))
    return float(np.sum(blocks * -np.expm1(counts * np.log1p(-1.0 / blocks))))


def synthetic_counts(
    n_ratings: int, n_users: int, n_items: int, seed: int = 0, spec: SyntheticSpec | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Ratings per user and per movie of ``n_ratings`` draws from the generator's popularity
    laws (repeated pairs are not removed: an estimate for large, sparse matrices). O(users +
    movies) memory: the draws are made a few million at a time."""
    spec = SyntheticSpec() if spec is None else spec
    rng = np.random.default_rng(seed)
    users = np.zeros(n_users, dtype=np.int64)
    items = np.zeros(n_items, dtype=np.int64)
    left = int(n_ratings)
    while left:
        size = min(left, 4_000_000)
        users += np.bincount(
            power_law_ranks(n_users, spec.user_exponent, spec.user_offset, size, rng),
            minlength=n_users,
        )
        items += np.bincount(
            power_law_ranks(n_items, spec.item_exponent, spec.item_offset, size, rng),
            minlength=n_items,
        )
        left -= size
    return users, items


def jvm_peak_mb(spark) -> float | None:
    """Peak resident memory (VmHWM) of the JVM this Python process launched, MB; None where it
    cannot be read (not Linux, or a JVM that is not this process's child)."""
    from pyspark import SparkContext

    proc = getattr(SparkContext._gateway, "proc", None)
    status = Path(f"/proc/{proc.pid}/status") if proc is not None else None
    if status is None or not status.is_file():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _test_rmse(model, test: pd.DataFrame) -> float:
    return rmse(test["rating"].to_numpy(), model.predict(test["userId"], test["movieId"]))


def measure_size(
    n_ratings: int,
    *,
    k: int,
    reg: float,
    iterations: int,
    seed: int,
    master: str,
    driver_memory: str,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Both fits on one synthetic size; one result dict per engine (module docstring)."""
    from helpers.spark import fit_spark_als, shipped_vectors, spark_session

    ratings = synthetic_ratings(n_ratings, seed=seed)
    train, test, _ = random_split(ratings, 0.1, seed=seed)
    del ratings
    build_s, matrix = _timed(lambda: build_matrix(train))
    shape = {
        "n_ratings": n_ratings,
        "train_ratings": matrix.nnz,
        "n_users": matrix.n_users,
        "n_items": matrix.n_items,
    }
    common = {"k": k, "reg": reg, "seed": seed}
    results = []

    log(f"  helpers ALS-WR: 1 and {1 + iterations} iterations ...")
    t1, _ = _timed(lambda: fit_als(matrix, iterations=1, weighted=True, **common))
    tn, model = _timed(lambda: fit_als(matrix, iterations=1 + iterations, weighted=True, **common))
    tracemalloc.start()
    fit_als(matrix, iterations=1, weighted=True, **common)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    per = (tn - t1) / iterations
    results.append(
        shape
        | {
            "engine": "helpers ALS-WR",
            "seconds_per_iteration": per,
            "fixed_s": build_s + t1 - per,
            "test_rmse": _test_rmse(model, test),
            "peak_mb": (peak + matrix.nbytes) / 2**20,
            "memory": "tracemalloc peak of a fit + the matrix",
        }
    )

    log(f"  Spark ALS on {master}: warm-up, then 1 and {1 + iterations} iterations ...")
    gc.collect()
    start = time.perf_counter()
    with spark_session(master, driver_memory=driver_memory) as spark:
        spark.range(1).count()
        start_s = time.perf_counter() - start
        fit_spark_als(train.iloc[:20_000], iterations=1, spark=spark, **common)  # warm-up
        base_mb = jvm_peak_mb(spark)
        blocks = spark.sparkContext.defaultParallelism
        t1, _ = _timed(lambda: fit_spark_als(matrix, iterations=1, spark=spark, **common))
        tn, model = _timed(
            lambda: fit_spark_als(matrix, iterations=1 + iterations, spark=spark, **common)
        )
        jvm_mb = jvm_peak_mb(spark)
    per = (tn - t1) / iterations
    sent = shipped_vectors(matrix, blocks)
    vectors = int(sent["users_to_items"].sum() + sent["items_to_users"].sum())
    predicted = expected_blocks(matrix.by_user.counts(), blocks) + expected_blocks(
        matrix.by_item.counts(), blocks
    )
    results.append(
        shape
        | {
            "engine": f"Spark ALS ({master}, {blocks} blocks)",
            "seconds_per_iteration": per,
            "fixed_s": t1 - per,
            "session_start_s": start_s,
            "test_rmse": _test_rmse(model, test),
            "peak_mb": jvm_mb,
            "base_mb": base_mb,
            "memory": "peak resident memory of the JVM",
            "blocks": blocks,
            "shipped_vectors": vectors,
            "expected_vectors": predicted,
            "shipped_mb_per_iteration": vectors * FLOAT32 * k / 2**20,
            "model_mb": spark_memory_bytes(
                matrix.nnz, matrix.n_users, matrix.n_items, vectors, k, executors=1
            )
            / 2**20,
        }
    )
    return results


def spark_memory_bytes(
    nnz: int, n_users: int, n_items: int, shipped: float, k: int, executors: int
) -> float:
    """Modelled data held per executor (module docstring), bytes: the ratings in both kinds of
    block, every factor vector and the vectors received in a half-step, split evenly."""
    data = BYTES_PER_RATING * nnz + FLOAT32 * k * (n_users + n_items + shipped)
    return data / executors


def extrapolate(
    measured: pd.DataFrame, *, k: int, seed: int = 0, log: Callable[[str], None] = print
) -> pd.DataFrame:
    """Time per iteration and memory per executor on :data:`TARGETS` for clusters of
    :data:`EXECUTORS` executors (one block per core), from the largest measured size: Spark's
    CPU seconds per rating (cores × seconds per iteration / ratings, on the local master), the
    shipped vectors expected from the rows' rating counts, and memory as the JVM's measured
    fixed part (after a small warm-up fit) plus the modelled data times the measured JVM bytes
    per modelled byte; the series' ALS on one machine, linear in the ratings from its largest
    measurement."""
    spark = measured[measured["engine"].str.startswith("Spark")].iloc[-1]
    ours = measured[measured["engine"].str.startswith("helpers")].iloc[-1]
    local_cores = int(spark["blocks"])
    cpu_per_rating = spark["seconds_per_iteration"] * local_cores / spark["train_ratings"]
    ours_per_rating = ours["seconds_per_iteration"] / ours["train_ratings"]
    ours_bytes_per_rating = ours["peak_mb"] * 2**20 / ours["train_ratings"]
    base_gb, per_byte = jvm_memory_fit(measured[measured["engine"].str.startswith("Spark")])
    rows = []
    for label, nnz, n_users, n_items in TARGETS:
        log(f"  cost model: {label} ...")
        user_counts, item_counts = synthetic_counts(nnz, n_users, n_items, seed=seed)
        one_machine = ours_per_rating * nnz
        ours_gb = ours_bytes_per_rating * nnz / 2**30
        rows.append(
            {
                "matrix": label,
                "ratings": nnz,
                "setup": "helpers ALS-WR, one 2-core machine",
                "executors": 1,
                "cores": 2,
                "s / iteration": one_machine,
                "compute s": one_machine,
                "network s (1 Gbit/s)": 0.0,
                "network s (10 Gbit/s)": 0.0,
                "shipped GB / iteration": 0.0,
                "GB per machine": ours_gb,
            }
        )
        for executors in EXECUTORS:
            blocks = executors * CORES_PER_EXECUTOR
            vectors = expected_blocks(user_counts, blocks) + expected_blocks(item_counts, blocks)
            shipped = vectors * FLOAT32 * k
            compute = cpu_per_rating * nnz / blocks
            # every executor sends and receives about 1/E of the traffic over its own link
            network = {name: shipped / executors / rate for name, rate in LINKS.items()}
            memory = spark_memory_bytes(nnz, n_users, n_items, vectors, k, executors)
            rows.append(
                {
                    "matrix": label,
                    "ratings": nnz,
                    "setup": f"Spark, {executors} × {CORES_PER_EXECUTOR} cores",
                    "executors": executors,
                    "cores": blocks,
                    "s / iteration": compute + network["1 Gbit/s"],
                    "compute s": compute,
                    "network s (1 Gbit/s)": network["1 Gbit/s"],
                    "network s (10 Gbit/s)": network["10 Gbit/s"],
                    "shipped GB / iteration": shipped / 2**30,
                    "GB per machine": base_gb + memory * per_byte / 2**30,
                }
            )
    return pd.DataFrame(rows)


def jvm_memory_fit(spark_rows: pd.DataFrame) -> tuple[float, float]:
    """(fixed GB, JVM bytes per modelled byte) of the local Spark runs: the slope between the
    smallest and the largest size when there are two or more (the JVM's fixed part cancels),
    else peak minus the after-warm-up footprint over the modelled data; NaN where the JVM's
    memory could not be read."""
    rows = spark_rows.dropna(subset=["peak_mb", "base_mb"]).sort_values("train_ratings")
    if rows.empty:
        return float("nan"), float("nan")
    first, last = rows.iloc[0], rows.iloc[-1]
    if len(rows) > 1 and last["model_mb"] > first["model_mb"]:
        per_byte = (last["peak_mb"] - first["peak_mb"]) / (last["model_mb"] - first["model_mb"])
    else:
        per_byte = (last["peak_mb"] - last["base_mb"]) / last["model_mb"]
    per_byte = max(per_byte, 1.0)  # the data themselves at least
    base_mb = last["peak_mb"] - per_byte * last["model_mb"]
    return max(base_mb, 0.0) / 1024, per_byte


def verdict(measured: pd.DataFrame, cluster: pd.DataFrame) -> list[str]:
    """Sentences on when a cluster pays off, from the two tables."""
    spark = measured[measured["engine"].str.startswith("Spark")].iloc[-1]
    ours = measured[measured["engine"].str.startswith("helpers")].iloc[-1]
    ratio = spark["seconds_per_iteration"] / ours["seconds_per_iteration"]
    lines = [
        f"- On {spark['train_ratings']:,} ratings and the same {int(spark['blocks'])} cores, "
        f"Spark takes {fmt_seconds(spark['seconds_per_iteration'])} s per iteration and the "
        f"series' ALS {fmt_seconds(ours['seconds_per_iteration'])} s: Spark is {ratio:.1f}× "
        f"slower per core, so a cluster must bring at least {ratio:.0f}× the cores of one "
        "machine just to break even on compute."
    ]
    for label in dict.fromkeys(cluster["matrix"]):
        rows = cluster[cluster["matrix"] == label]
        alone = rows.iloc[0]
        spark_rows = rows.iloc[1:]
        faster = spark_rows[spark_rows["s / iteration"] < alone["s / iteration"]]
        fits = alone["GB per machine"] <= MACHINE_GB
        text = (
            f"- {label}: the series' ALS needs about {fmt_seconds(alone['s / iteration'])} s per "
            f"iteration on one machine and about {alone['GB per machine']:.1f} GB "
            f"({'fits' if fits else 'does not fit'} in {MACHINE_GB:g} GB). "
        )
        if len(faster):
            best = faster.iloc[0]
            text += (
                f"Spark beats it from {best['executors']} executors × {CORES_PER_EXECUTOR} "
                "cores on "
                f"({fmt_seconds(best['s / iteration'])} s per iteration at 1 Gbit/s, "
                f"{best['shipped GB / iteration']:.1f} GB shipped per iteration)."
            )
        else:
            text += "No cluster size of the table beats it."
        lines.append(text)
    return lines


MEASURED_COLUMNS = (
    "ratings (train)",
    "users × movies",
    "engine",
    "s / iteration",
    "fixed s",
    "test RMSE",
    "peak MB",
    "shipped MB / iteration",
)
CLUSTER_COLUMNS = (
    "matrix",
    "setup",
    "s / iteration",
    "compute s",
    "network s (1 Gbit/s)",
    "network s (10 Gbit/s)",
    "shipped GB / iteration",
    "GB per machine",
)


def render(measured: pd.DataFrame, cluster: pd.DataFrame, info: dict, when: str) -> str:
    """The markdown report."""
    rows = []
    for _, r in measured.iterrows():
        shipped = r.get("shipped_mb_per_iteration")
        rows.append(
            {
                "ratings (train)": f"{r['train_ratings']:,}",
                "users × movies": f"{r['n_users']:,} × {r['n_items']:,}",
                "engine": r["engine"],
                "s / iteration": fmt_seconds(r["seconds_per_iteration"]),
                "fixed s": fmt_seconds(r["fixed_s"]),
                "test RMSE": f"{r['test_rmse']:.4f}",
                "peak MB": fmt_mb(r["peak_mb"]) if pd.notna(r["peak_mb"]) else "n/a",
                "shipped MB / iteration": fmt_mb(shipped) if pd.notna(shipped) else "",
            }
        )
    crow = []
    for _, r in cluster.iterrows():
        spark_row = r["setup"].startswith("Spark")
        crow.append(
            {
                "matrix": r["matrix"],
                "setup": r["setup"],
                "s / iteration": fmt_seconds(r["s / iteration"]),
                "compute s": fmt_seconds(r["compute s"]),
                "network s (1 Gbit/s)": fmt_seconds(r["network s (1 Gbit/s)"]) if spark_row else "",
                "network s (10 Gbit/s)": fmt_seconds(r["network s (10 Gbit/s)"])
                if spark_row
                else "",
                "shipped GB / iteration": f"{r['shipped GB / iteration']:.2f}" if spark_row else "",
                "GB per machine": f"{r['GB per machine']:.1f}",
            }
        )
    spark = measured[measured["engine"].str.startswith("Spark")]
    checks = [
        f"- {r['train_ratings']:,} ratings, {int(r['blocks'])} blocks: "
        f"{r['shipped_vectors']:,.0f} vectors shipped per iteration, "
        f"{r['expected_vectors']:,.0f} expected from the ratings "
        f"per row; JVM peak {fmt_mb(r['peak_mb'])} MB ({fmt_mb(r['base_mb'])} MB after the "
        f"warm-up fit) for {fmt_mb(r['model_mb'])} MB of modelled data"
        for _, r in spark.iterrows()
    ]
    right = set(MEASURED_COLUMNS) - {"engine", "users × movies"}
    return "\n".join(
        [
            "# Spark's ALS against the series' ALS, and when a cluster pays off",
            "",
            "Synthetic ratings (`benchmarks/synthetic.py`), 90% to fit, 10% for the test RMSE; "
            f"k = {int(measured.attrs.get('k', 0))}, λ = {measured.attrs.get('reg')}, ALS-WR "
            "weighting in both. *s / iteration*: (fit with 1 + n iterations − fit with 1) / n; "
            "*fixed s*: the rest of a one-iteration fit (matrix or blocks, data to and from "
            "the JVM). *peak MB*: tracemalloc peak of a fit plus the matrix (helpers), peak "
            "resident memory of the whole JVM (Spark, driver and executors in one process).",
            "",
            markdown_table(rows, MEASURED_COLUMNS, right),
            "",
            "Cost model checks (module docstring of `benchmarks/spark_scale.py`):",
            "",
            *checks,
            "",
            f"## Extrapolation: executors of {CORES_PER_EXECUTOR} cores, one block per core",
            "",
            "Compute: Spark's measured CPU seconds per rating and iteration spread over the "
            "cores; network: the shipped bytes, each executor sending and receiving its share "
            "over its own link; memory: the JVM's fixed part plus the modelled data times the "
            "JVM's measured bytes per modelled byte (fitted to the local runs). The "
            "first row of each matrix is the series' ALS on one machine, linear in the ratings.",
            "",
            markdown_table(crow, CLUSTER_COLUMNS, set(CLUSTER_COLUMNS) - {"matrix", "setup"}),
            "",
            "## Verdict",
            "",
            *verdict(measured, cluster),
            "",
            f"Machine: {describe_machine(info)}",
            "",
            f"Measured {when} with `benchmarks.spark_scale.run_spark_scale`.",
        ]
    )


def run_spark_scale(
    sizes: Sequence[int] = (1_000_000, 5_000_000),
    k: int = 50,
    iterations: int = 3,
    out: Path | str | None = None,
    *,
    reg: float = 0.1,
    seed: int = 0,
    master: str = "local[2]",
    driver_memory: str = "8g",
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Measure both ALS fits at every size, extrapolate to a cluster, write ``spark_scale.md``
    and ``spark_scale.json`` under ``out`` (if given) and return the measurements (one row per
    size and engine; ``attrs["cluster"]`` holds the extrapolation, ``attrs["verdict"]`` its
    sentences). Needs Java (:func:`helpers.spark.require_java`)."""
    from helpers.spark import require_java

    require_java()
    results = []
    for n in sizes:
        log(f"spark scale: {n:,} synthetic ratings ...")
        results += measure_size(
            int(n),
            k=k,
            reg=reg,
            iterations=iterations,
            seed=seed,
            master=master,
            driver_memory=driver_memory,
            log=log,
        )
    measured = pd.DataFrame(results)
    measured.attrs.update({"k": k, "reg": reg, "iterations": iterations})
    cluster = extrapolate(measured, k=k, seed=seed, log=log)
    lines = verdict(measured, cluster)
    measured.attrs["cluster"] = cluster
    measured.attrs["verdict"] = lines
    if out is not None:
        info = machine()
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        payload = {
            "measured": when,
            "machine": info,
            "params": {"k": k, "reg": reg, "iterations": iterations, "seed": seed},
            "results": json.loads(measured.to_json(orient="records")),
            "cluster": json.loads(cluster.to_json(orient="records")),
            "verdict": lines,
        }
        write_outputs(Path(out), "spark_scale", render(measured, cluster, info, when), payload)
    return measured
