"""The accuracy benchmark: fit, predict and score every chosen model on one train/test split."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import models
from benchmarks.measure import (
    MB,
    describe_machine,
    machine,
    median_time,
    median_wall_and_cpu,
    traced_peak,
)
from benchmarks.report import fmt_seconds, results_table, write_outputs
from helpers.metrics import mae, rmse

#: Targets of the series on ml-latest-small (80/20 split, 2 cores, k = 50):
#: (model, passes over the data, what, bound in seconds). Checked as passes × fit s per pass.
TARGETS = (
    ("als", 20, "20 iterations", 1.5),
    ("sgd", 1, "one epoch", 0.1),
)


def passes(params: dict[str, Any]) -> tuple[str, int] | None:
    """The number of passes over the data a fit makes (``("epoch", 20)``), if it says."""
    for key, unit in (("epochs", "epoch"), ("iterations", "iteration")):
        if key in params:
            return unit, int(params[key])
    return None


def benchmark_model(
    name: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    repeats: int = 3,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit model ``name`` on ``train`` ``repeats`` times and predict ``test`` as often.

    Returns a dict with ``fit_s`` and ``predict_s`` (median seconds; fitting starts from the
    ratings table, so it includes building the sparse matrix), ``rmse`` and ``mae`` (stars,
    clipped predictions, unseen policy of the model), ``peak_mb`` (tracemalloc peak of one more
    fit + predict, see :mod:`benchmarks.measure`) and the per-run times.
    """
    spec = models.MODELS[name]
    params = dict(models.PARAMS[name] if params is None else params)
    # fit s: median wall time of ``repeats`` fits; the process's CPU time (all threads) is
    # recorded too, as a check on a shared machine where other programs slow the wall clock
    users = test["userId"].to_numpy()
    items = test["movieId"].to_numpy()
    truth = test["rating"].to_numpy(dtype=np.float64)

    fits = median_wall_and_cpu(lambda: models.fit(name, train, params), repeats)
    fit_s, fit_times, model = fits["wall"], fits["wall_times"], fits["result"]
    predict_s, predict_times, pred = median_time(partial(model.predict, users, items), repeats)
    model = None  # free it before the traced run

    def fit_and_predict() -> np.ndarray:
        return models.fit(name, train, params).predict(users, items)

    peak_bytes, _ = traced_peak(fit_and_predict)
    result = {
        "name": name,
        "label": spec.label,
        "description": spec.description,
        "params": params,
        "params_text": models.format_params(params),
        "rmse": rmse(truth, pred),
        "mae": mae(truth, pred),
        "fit_s": fit_s,
        "predict_s": predict_s,
        "peak_mb": peak_bytes / MB,
        "fit_times": fit_times,
        "fit_cpu_s": fits["cpu"],
        "fit_cpu_times": fits["cpu_times"],
        "predict_times": predict_times,
        "repeats": repeats,
    }
    unit = passes(params)
    if unit is not None:
        result["pass_unit"], n_passes = unit
        result["seconds_per_pass"] = fit_s / n_passes
        result["cpu_seconds_per_pass"] = fits["cpu"] / n_passes
    return result


def failed_result(name: str, exc: BaseException) -> dict[str, Any]:
    """A table row for a model whose fit or prediction raised ``exc``."""
    params = models.PARAMS[name]
    return {
        "name": name,
        "label": models.MODELS[name].label,
        "params": params,
        "params_text": models.format_params(params),
        "error": f"{type(exc).__name__}: {exc}",
    }


def targets_text(results: Sequence[dict[str, Any]]) -> list[str]:
    """Lines comparing the measured times with :data:`TARGETS` (ml-latest-small only): the
    fit time per pass (matrix building included) times the passes a target counts."""
    by_name = {r["name"]: r for r in results}
    lines = []
    for name, n_passes, what, bound in TARGETS:
        r = by_name.get(name)
        if r is None or "seconds_per_pass" not in r:
            continue
        value = n_passes * r["seconds_per_pass"]
        verdict = "met" if value <= bound else "not met"
        lines.append(
            f"- {r['label']}, {what}: {fmt_seconds(value)} s (target ≤ {bound:g} s: {verdict})"
        )
    return lines


def render(
    results: Sequence[dict[str, Any]],
    data: dict[str, Any],
    info: dict[str, Any],
    repeats: int,
    when: str,
) -> str:
    """The markdown report: title, data, table, notes, per-pass times, targets and machine."""
    pass_lines = [
        f"- {r['label']}: {fmt_seconds(r['seconds_per_pass'])} s per {r['pass_unit']} "
        f"(CPU time of the process: {fmt_seconds(r['cpu_seconds_per_pass'])} s)"
        for r in results
        if "seconds_per_pass" in r
    ]
    failures = [f"- {r['label']} failed: {r['error']}" for r in results if "error" in r]
    lines = [
        "# Benchmark: accuracy, speed and memory of every model",
        "",
        f"Data: {data['source']}: {data['train_ratings']:,} training and "
        f"{data['test_ratings']:,} test ratings ({data['users']:,} users, "
        f"{data['movies']:,} movies).",
        "",
        results_table(results),
        "",
        f"RMSE and MAE in stars on the test set (predictions clipped to 0.5–5). *fit s*: median "
        f"wall time of {repeats} fit(s) from the ratings table (building the sparse matrix "
        f"included); *predict s*: median time to predict the whole test set; *peak MB*: the "
        f"most memory the fit and prediction allocated at one moment (tracemalloc: NumPy "
        f"arrays and Python objects, not BLAS work buffers), measured in a separate run.",
    ]
    if failures:
        lines += ["", *failures]
    if pass_lines:
        lines += ["", "Time per pass over the training data (fit s / passes):", "", *pass_lines]
    if data.get("default"):
        target_lines = targets_text(results)
        if target_lines:
            lines += ["", "Targets of the series (2 cores, k = 50):", "", *target_lines]
    lines += [
        "",
        f"Machine: {describe_machine(info)}",
        "",
        f"Measured {when} with `python -m benchmarks`.",
    ]
    return "\n".join(lines)


def run_benchmark(
    names: Sequence[str],
    train: pd.DataFrame,
    test: pd.DataFrame,
    data: dict[str, Any],
    *,
    repeats: int,
    out_dir: Path,
    log=print,
) -> tuple[str, list[Path]]:
    """Benchmark ``names`` on one split, write ``results.md`` / ``results.json`` under
    ``out_dir`` and return the markdown and the written paths."""
    results = []
    for name in names:
        log(f"benchmarking {name} ...")
        try:
            results.append(benchmark_model(name, train, test, repeats=repeats))
        except (MemoryError, RuntimeError, ValueError, FloatingPointError) as exc:
            # e.g. SVD-impute on a matrix too large to hold densely: report it, go on
            log(f"  failed: {type(exc).__name__}: {exc}")
            results.append(failed_result(name, exc))
    info = machine()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    markdown = render(results, data, info, repeats, when)
    payload = {
        "data": data,
        "repeats": repeats,
        "measured": when,
        "machine": info,
        "results": results,
    }
    return markdown, write_outputs(out_dir, "results", markdown, payload)
