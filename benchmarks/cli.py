"""Command line of the benchmarks: ``python -m benchmarks [options]`` (or ``make bench ARGS=...``).

Examples::

    python -m benchmarks                                  # every model, ml-latest-small 80/20
    python -m benchmarks --models als sgd --repeats 5
    python -m benchmarks --train my_train.csv --test my_test.csv
    python -m benchmarks --scale                          # 1e5, 1e6, 5e6, 2.5e7 ratings
    python -m benchmarks --scale --sizes 1e5 1e6 --models als
    python -m benchmarks --scale --spark                  # also Spark local vs helpers ALS
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path

from threadpoolctl import threadpool_limits

from benchmarks import models
from benchmarks.scale import DEFAULT_MEMORY_LIMIT_GB, DEFAULT_PASSES
from benchmarks.synthetic import DEFAULT_SIZES

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "build" / "benchmarks"
MIN_SIZE = 1_000  # smallest synthetic size that --sizes accepts


def parse_size(text: str) -> int:
    """A number of ratings written as ``100000``, ``1e5``, ``2.5e7`` or ``1_000_000``."""
    try:
        value = float(str(text).replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size {text!r} is not a number (write e.g. 100000, 1e5 or 2.5e7)"
        ) from None
    if not math.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"size {text!r} is not a whole number of ratings")
    if value < MIN_SIZE:
        raise argparse.ArgumentTypeError(f"size {text!r} is below the minimum of {MIN_SIZE:,}")
    return int(value)


def positive_int(text: str) -> int:
    """An integer >= 1 (for --repeats, --iterations, --epochs, --threads)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (see the module docstring for examples)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Accuracy, speed and memory of the series' models; with --scale, how the "
        "cost of ALS and SGD grows with the number of ratings.",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help=f"models to run (default: all); known: {', '.join(models.MODELS)}; "
        f"with --scale: {', '.join(models.SCALE_MODELS)}",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=3,
        help="timed runs per measurement; the median is reported (default 3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split / data (default 0)")
    parser.add_argument("--train", type=Path, metavar="PATH", help="training ratings CSV")
    parser.add_argument("--test", type=Path, metavar="PATH", help="test ratings CSV")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="output folder (default build/benchmarks)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="limit BLAS threads to N (default: the library's own choice)",
    )
    parser.add_argument(
        "--peers",
        nargs="*",
        metavar="NAME",
        help="also run the peer libraries (Surprise, implicit, Spark ALS; needs the bench "
        "extra) on the same split, timed against the series' models; no NAME: all of "
        "surprise_svd, surprise_svd_tuned, surprise_nmf, surprise_baseline, implicit_als, "
        "implicit_bpr, spark_als",
    )
    scale = parser.add_argument_group("scaling")
    scale.add_argument(
        "--scale", action="store_true", help="measure cost against data size on synthetic data"
    )
    scale.add_argument(
        "--spark",
        action="store_true",
        help="also fit Spark MLlib's ALS (local master, needs Java 17/21) beside helpers' ALS at "
        "1e6 and 5e6 synthetic ratings, with the cluster cost model (benchmarks/spark_scale.py)",
    )
    scale.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        metavar="N",
        help="numbers of ratings (default: 1e5 1e6 5e6 2.5e7)",
    )
    scale.add_argument(
        "--memory-limit",
        type=float,
        metavar="GB",
        help=f"address-space cap of each measuring process, GB (default "
        f"{DEFAULT_MEMORY_LIMIT_GB:g}); a fit that needs more is reported as failed",
    )
    scale.add_argument(
        "--iterations",
        type=positive_int,
        help=f"ALS iterations per timed fit (default {DEFAULT_PASSES['iterations']})",
    )
    scale.add_argument(
        "--epochs",
        type=positive_int,
        help=f"SGD epochs per timed fit (default {DEFAULT_PASSES['epochs']})",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and cross-check the arguments; exits with a usage message (status 2) on errors.

    Fills ``args.models`` with validated names and, with ``--scale``, the defaults of the
    scaling options (``sizes``, ``iterations``, ``epochs``, ``memory_limit``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.train is None) != (args.test is None):
        parser.error("--train and --test go together: give both CSV files or neither")
    if args.peers is not None:
        if args.scale:
            parser.error("--peers runs on the rating split; it cannot be combined with --scale")
        from benchmarks.peers import parse_peer_names

        try:
            args.peers = parse_peer_names(args.peers)
        except ValueError as exc:
            parser.error(f"--peers: {exc}")
    if args.scale and args.train is not None:
        parser.error("--scale uses synthetic data; it cannot be combined with --train/--test")
    scale_only = {
        "sizes": args.sizes,
        "iterations": args.iterations,
        "epochs": args.epochs,
        "memory-limit": args.memory_limit,
        "spark": args.spark or None,
    }
    for option, value in scale_only.items():
        if value is not None and not args.scale:
            parser.error(f"--{option} only applies with --scale")
    if args.memory_limit is not None and not (
        math.isfinite(args.memory_limit) and args.memory_limit > 0
    ):
        parser.error(f"--memory-limit must be a positive number of GB, got {args.memory_limit}")
    known = models.SCALE_MODELS if args.scale else models.MODELS
    try:
        args.models = models.parse_model_names(args.models, known)
    except ValueError as exc:
        parser.error(f"--models: {exc}" + (" (with --scale)" if args.scale else ""))
    if args.scale:
        args.sizes = list(DEFAULT_SIZES) if args.sizes is None else args.sizes
        args.iterations = args.iterations or DEFAULT_PASSES["iterations"]
        args.epochs = args.epochs or DEFAULT_PASSES["epochs"]
        if args.memory_limit is None:
            args.memory_limit = DEFAULT_MEMORY_LIMIT_GB
    return args


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark the arguments ask for; print the markdown and where it was written."""
    args = parse_args(argv)
    # Spark starts its JVM by fork + exec after the neural rows have loaded JAX, which warns
    # that a fork of a multithreaded process may deadlock; the child only execs java, so the
    # warning (the one pytest's configuration filters too) says nothing about this run. The
    # filter is undone on the way out.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning
        )
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    with threadpool_limits(args.threads) if args.threads else nullcontext():
        if args.scale:
            from benchmarks.scale import run_scale

            markdown, paths = run_scale(
                args.sizes,
                args.models,
                passes={
                    name: args.iterations if unit == "iterations" else args.epochs
                    for name, unit in models.SCALE_MODELS.items()
                },
                repeats=args.repeats,
                seed=args.seed,
                threads=args.threads,
                memory_limit_gb=args.memory_limit,
                out_dir=args.out,
                log=_log,
            )
            if args.spark:
                from benchmarks.spark_scale import run_spark_scale

                table = run_spark_scale(out=args.out, log=_log)
                markdown += "\n\n## Spark local vs helpers ALS\n\n" + "\n".join(
                    table.attrs.get("verdict", [])
                )
        else:
            from benchmarks import inputs
            from benchmarks.run import run_benchmark

            try:
                if args.train is not None:
                    train, test = inputs.load_pair(args.train, args.test)
                    source = f"{args.train} (train) and {args.test} (test)"
                else:
                    train, test = inputs.default_split(args.seed)
                    source = f"ml-latest-small, seeded random 80/20 split (seed {args.seed})"
            except (OSError, ValueError) as exc:
                print(f"python -m benchmarks: error: {exc}", file=sys.stderr)
                return 2
            data = {"source": source, "default": args.train is None, **inputs.describe(train, test)}
            markdown, paths = run_benchmark(
                args.models,
                train,
                test,
                data,
                repeats=args.repeats,
                out_dir=args.out,
                log=_log,
                peers=args.peers or (),
            )
    print(markdown)
    _log("written: " + ", ".join(str(p) for p in paths))
    return 0
