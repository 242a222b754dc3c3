"""One scaling measurement in a fresh process: ``python -m benchmarks.worker '<json>'``.

The JSON object has ``n_ratings``, ``model`` (``als`` or ``sgd``), ``passes`` (iterations or
epochs), ``repeats``, ``seed``, ``threads`` (None for the default) and ``memory_limit_gb`` (an
address-space cap, None for none). The process generates the synthetic ratings, builds the
sparse matrix, times ``repeats`` fits and traces one more fit of a single pass for its peak
memory, then prints one JSON line with the results. Fit times are wall clock and, because the
machine may be shared, also CPU time of the process (all its threads, ``time.process_time``). A
process of its own per measurement makes its peak resident set size (``ru_maxrss``) that of this
size and model alone.
"""

from __future__ import annotations

import gc
import json
import resource
import statistics
import sys
import time
from contextlib import nullcontext
from functools import partial
from typing import Any

from threadpoolctl import threadpool_limits

from benchmarks import models
from benchmarks.measure import MB, peak_rss_bytes, timed, traced_peak
from benchmarks.synthetic import synthetic_ratings
from helpers.matrix import build_matrix


def measure(n_ratings: int, model: str, passes: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    """Generate, build and fit; see the module docstring. Times in seconds, memory in MB."""
    unit_key = models.SCALE_MODELS[model]
    gen_s, ratings = timed(lambda: synthetic_ratings(n_ratings, seed=seed))
    build_s, matrix = timed(partial(build_matrix, ratings))
    ratings = None  # only the matrix is needed from here on
    gc.collect()
    params = {**models.PARAMS[model], unit_key: passes}
    fit_times, cpu_times = [], []
    for _ in range(repeats):
        gc.collect()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        fitted = models.fit(model, matrix, params)
        fit_times.append(time.perf_counter() - wall0)
        cpu_times.append(time.process_time() - cpu0)
        train_rmse = float(fitted.history["train_rmse"][-1])
        fitted = None
    fit_s, cpu_s = statistics.median(fit_times), statistics.median(cpu_times)
    one_pass = {**params, unit_key: 1}
    peak_bytes, _ = traced_peak(lambda: models.fit(model, matrix, one_pass))
    return {
        "n_ratings": n_ratings,
        "n_users": matrix.n_users,
        "n_items": matrix.n_items,
        "model": model,
        "label": models.MODELS[model].label,
        "params": params,
        "unit": unit_key.removesuffix("s"),
        "passes": passes,
        "repeats": repeats,
        "generate_s": gen_s,
        "build_s": build_s,
        "fit_s": fit_s,
        "fit_times": fit_times,
        "seconds_per_pass": fit_s / passes,
        "cpu_s": cpu_s,
        "cpu_times": cpu_times,
        "cpu_seconds_per_pass": cpu_s / passes,
        "train_rmse": train_rmse,
        "matrix_mb": matrix.nbytes / MB,
        "fit_peak_mb": peak_bytes / MB,
        "process_peak_mb": peak_rss_bytes() / MB,
    }


def limit_memory(gigabytes: float | None) -> None:
    """Cap this process's address space (``RLIMIT_AS``) at ``gigabytes``, so that a fit that
    needs more fails with ``MemoryError`` instead of exhausting a shared machine. No-op for None
    or where the platform has no such limit."""
    if gigabytes is None or not hasattr(resource, "RLIMIT_AS"):
        return
    limit = int(gigabytes * 1024**3)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main(argv: list[str]) -> int:
    """Run :func:`measure` on the JSON job in ``argv[0]`` and print the result as one JSON line."""
    job = json.loads(argv[0])
    threads = job.pop("threads", None)
    limit_memory(job.pop("memory_limit_gb", None))
    with threadpool_limits(threads) if threads else nullcontext():
        result = measure(**job)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
