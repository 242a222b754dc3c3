"""Fit the series' Spark ALS (``helpers.spark.fit_spark_als``) on a ratings CSV and print the RMSE.

Run it with Spark's own launcher, on any master::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit --master 'local[2]' \\
        --driver-java-options "-Dlog4j2.configurationFile=helpers/spark-log4j2.properties" \\
        tools/spark_als.py --train train.csv --test test.csv --k 10 --out build/spark-als

or with plain Python (``--master``, default ``local[2]``, then starts a quiet local session)::

    .venv/bin/python tools/spark_als.py --train train.csv --test test.csv

``PYSPARK_PYTHON`` makes spark-submit run the script with the project's Python (it needs NumPy,
pandas and the helpers). The log4j option keeps Spark's JVM to errors only (Java prints one line
more, about incubator modules, on stderr). The CSVs need the columns userId, movieId, rating.
The RMSE line is ``test RMSE: <stars>`` on standard output. With ``--out DIR`` the model is
written there: ``users.csv`` and ``movies.csv`` (id, bias, f1..fk: one row per user or movie) and
``model.json`` (global mean, parameters, RMSE); the prediction is
``global_mean + bias(user) + bias(movie) + f(user) · f(movie)``, clipped to 0.5–5 stars.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # spark-submit puts only tools/ on the path
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from helpers.metrics import rmse  # noqa: E402
from helpers.model import MFModel  # noqa: E402
from helpers.schema import ITEM, RATING, USER  # noqa: E402
from helpers.spark import fit_spark_als, spark_session  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="spark-submit tools/spark_als.py",
        description="Spark ALS (damped biases + ALS-WR on their residuals) on a ratings CSV; "
        "prints the test RMSE.",
    )
    parser.add_argument("--train", type=Path, required=True, help="training ratings CSV")
    parser.add_argument("--test", type=Path, required=True, help="test ratings CSV")
    parser.add_argument("--k", type=int, default=10, help="number of factors (default 10)")
    parser.add_argument("--reg", type=float, default=0.1, help="regParam λ (default 0.1)")
    parser.add_argument("--iterations", type=int, default=10, help="ALS iterations (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="Spark's seed (default 0)")
    parser.add_argument("--damping", type=float, default=2.0, help="bias damping (default 2)")
    parser.add_argument(
        "--blocks", type=int, default=None, help="user and movie blocks (default: parallelism)"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder to write the model to")
    parser.add_argument(
        "--master",
        default="local[2]",
        help="Spark master when run with plain Python (spark-submit's --master wins otherwise)",
    )
    return parser.parse_args(argv)


def read_ratings(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    missing = [c for c in (USER, ITEM, RATING) if c not in frame.columns]
    if missing:
        raise SystemExit(f"{path} lacks column(s) {missing}; it has {list(frame.columns)}")
    return frame[[USER, ITEM, RATING]]


def write_model(model: MFModel, folder: Path, summary: dict) -> None:
    """``users.csv``, ``movies.csv`` and ``model.json`` (module docstring) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = [f"f{j + 1}" for j in range(model.k)]
    for name, ids, id_col, bias, factors in (
        ("users.csv", model.user_ids, USER, model.user_bias, model.user_factors),
        ("movies.csv", model.item_ids, ITEM, model.item_bias, model.item_factors),
    ):
        table = pd.DataFrame(factors, columns=columns)
        table.insert(0, "bias", bias)
        table.insert(0, id_col, ids)
        table.to_csv(folder / name, index=False, float_format="%.9g")
    (folder / "model.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    train, test = read_ratings(args.train), read_ratings(args.test)
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    with spark_session(None if under_submit else args.master, app_name="spark_als") as spark:
        model = fit_spark_als(
            train,
            k=args.k,
            reg=args.reg,
            iterations=args.iterations,
            seed=args.seed,
            damping=args.damping,
            num_blocks=args.blocks,
            spark=spark,
        )
        master = spark.sparkContext.master
        version = spark.version
    error = rmse(test[RATING].to_numpy(), model.predict(test[USER], test[ITEM]))
    params = model.params
    print(
        f"Spark {version} ALS on {master}: k={params['k']}, reg={params['reg']:g}, "
        f"iterations={params['iterations']}, blocks={params['num_blocks']}; "
        f"{len(train):,} training and {len(test):,} test ratings"
    )
    print(f"test RMSE: {error:.6f}")
    if args.out is not None:
        summary = {
            "global_mean": model.global_mean,
            "params": params,
            "test_rmse": error,
            "train_rmse": model.history["train_rmse"][-1],
            "spark": version,
            "master": master,
        }
        write_model(model, args.out, summary)
        print(f"model written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
