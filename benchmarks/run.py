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
from benchmarks.report import fmt_seconds, ranking_table, results_table, write_outputs
from helpers.metrics import mae, predicts_stars, ranking_report, rmse

#: The ranking protocol of notebook 05: lists of this length, relevant = test rating >= 4.
LIST_LENGTH, RELEVANT_STARS = 10, 4.0
RANKING_KEYS = ("ndcg", "precision", "recall", "hit_rate", "coverage")

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
    """Fit model ``name`` on ``train`` ``repeats`` times, predict ``test`` as often (rating
    models) and rank every test user's candidates once.

    Returns a dict with ``fit_s`` (median seconds; fitting starts from the ratings table, so it
    includes building the sparse matrix), for models that predict stars ``predict_s``, ``rmse``
    and ``mae`` (stars, clipped predictions, unseen policy of the model); for every model the
    ranking metrics at 10 of notebook 05's protocol (``ndcg``, ``precision``, ``recall``,
    ``hit_rate``, ``coverage``); ``peak_mb`` (tracemalloc peak of one more fit + predict or score,
    see :mod:`benchmarks.measure`) and the per-run times.
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
    stars = predicts_stars(model)
    result: dict[str, Any] = {
        "name": name,
        "label": spec.label,
        "description": spec.description,
        "params": params,
        "params_text": models.format_params(params),
        "fit_s": fit_s,
        "fit_times": fit_times,
        "fit_cpu_s": fits["cpu"],
        "fit_cpu_times": fits["cpu_times"],
        "repeats": repeats,
        "predicts_stars": stars,
    }
    if stars:
        predict_s, predict_times, pred = median_time(partial(model.predict, users, items), repeats)
        result |= {
            "rmse": rmse(truth, pred),
            "mae": mae(truth, pred),
            "predict_s": predict_s,
            "predict_times": predict_times,
        }
    result |= ranking_row(model, train, test)
    model = None  # free it before the traced run

    def fit_and_use() -> Any:
        fitted = models.fit(name, train, params)
        if stars:
            return fitted.predict(users, items)
        return fitted.score(np.unique(users)[:256], np.unique(train["movieId"].to_numpy()))

    peak_bytes, _ = traced_peak(fit_and_use)
    result["peak_mb"] = peak_bytes / MB
    unit = passes(params)
    if unit is not None:
        result["pass_unit"], n_passes = unit
        result["seconds_per_pass"] = fit_s / n_passes
        result["cpu_seconds_per_pass"] = fits["cpu"] / n_passes
    return result


def ranking_row(model: Any, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """The ranking metrics of :data:`RANKING_KEYS` at :data:`LIST_LENGTH` (NaN where no test user
    has a relevant movie, e.g. on tiny data)."""
    try:
        report = ranking_report(model, train, test, LIST_LENGTH, threshold=RELEVANT_STARS)
    except ValueError:  # no relevant test movie anywhere: the metrics are undefined
        return dict.fromkeys(RANKING_KEYS, float("nan"))
    return {key: float(report[key]) for key in RANKING_KEYS}


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
    extra: Sequence[str] = (),
) -> str:
    """The markdown report: title, data, table, notes, per-pass times, targets, ``extra`` lines
    (the peers' section) and machine."""
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
        "## Rating models",
        "",
        results_table([r for r in results if "error" in r or r.get("predicts_stars", True)]),
        "",
        f"RMSE and MAE in stars on the test set (predictions clipped to 0.5–5). *fit s*: median "
        f"wall time of {repeats} fit(s) from the ratings table (building the sparse matrix "
        f"included); *predict s*: median time to predict the whole test set; *peak MB*: the "
        f"most memory the fit and prediction allocated at one moment (tracemalloc: NumPy "
        f"arrays and Python objects, not BLAS work buffers), measured in a separate run.",
    ]
    lines += [
        "",
        "## Ranking: top-10 lists",
        "",
        ranking_table(results),
        "",
        f"Every model, rating models included, ranks each test user's candidates (every training "
        f"movie the user has not rated in training), ties to the smaller movieId; relevant = test "
        f"rating ≥ {RELEVANT_STARS:g}; NDCG, precision, recall and hit rate at {LIST_LENGTH} "
        f"averaged over users with a relevant test movie; coverage = share of the catalogue "
        f"shown to someone (notebook 05's protocol).",
    ]
    if failures:
        lines += ["", *failures]
    if pass_lines:
        lines += ["", "Time per pass over the training data (fit s / passes):", "", *pass_lines]
    if data.get("default"):
        target_lines = targets_text(results)
        if target_lines:
            lines += ["", "Targets of the series (2 cores, k = 50):", "", *target_lines]
    if extra:
        lines += ["", *extra]
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
    peers: Sequence[str] = (),
) -> tuple[str, list[Path]]:
    """Benchmark ``names`` on one split, then the peer libraries ``peers``
    (:mod:`benchmarks.peers`, in the same tables, with their time against the series' models);
    write ``results.md`` / ``results.json`` under ``out_dir`` and return the markdown and the
    written paths."""
    results = []
    for name in names:
        log(f"benchmarking {name} ...")
        try:
            results.append(benchmark_model(name, train, test, repeats=repeats))
        except (MemoryError, RuntimeError, ValueError, FloatingPointError) as exc:
            # e.g. SVD-impute on a matrix too large to hold densely: report it, go on
            log(f"  failed: {type(exc).__name__}: {exc}")
            results.append(failed_result(name, exc))
    extra: list[str] = []
    if peers:
        from benchmarks.peers import peer_lines, run_peers

        peer_results = run_peers(peers, train, test, repeats=repeats, log=log)
        results += peer_results
        extra = peer_lines(peer_results, repeats)
    info = machine()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    markdown = render(results, data, info, repeats, when, extra)
    payload = {
        "data": data,
        "repeats": repeats,
        "measured": when,
        "machine": info,
        "results": results,
    }
    return markdown, write_outputs(out_dir, "results", markdown, payload)
