"""Wall time, peak memory and the machine a measurement was taken on.

**Time** is wall-clock time (``time.perf_counter``) of one call; benchmarks report the median of
several runs, because other programs on a shared machine slow single runs down.

**Peak memory** is measured with :mod:`tracemalloc`, in a separate run from the timed ones (tracing
slows allocation down): the largest amount of memory allocated *by the measured call* and held at
one moment, above what was allocated when it started. NumPy reports its array buffers to
tracemalloc, so this counts every array a fit creates (factors, gathered rows, temporaries) and
excludes the input data that already existed. It does not count the BLAS/LAPACK library's own
work buffers or the interpreter itself; the scaling benchmark therefore also reports each
process's peak resident set size (``resource.getrusage``), which counts everything.
"""

from __future__ import annotations

import gc
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info

MB = 1024 * 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, result)`` of one call of ``fn``, after a garbage collection."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Median wall time of ``repeats`` calls: ``(median seconds, all times, last result)``."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    times, result = [], None
    for _ in range(repeats):
        seconds, result = timed(fn)
        times.append(seconds)
    return statistics.median(times), times, result


def median_wall_and_cpu(fn: Callable[[], Any], repeats: int) -> dict[str, Any]:
    """Like :func:`median_time`, also recording the CPU time of the process (all threads,
    ``time.process_time``), which other programs on a shared machine disturb less.

    Returns ``{"wall": median s, "cpu": median s, "wall_times": [...], "cpu_times": [...],
    "result": last result}``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        gc.collect()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    return {
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "wall_times": walls,
        "cpu_times": cpus,
        "result": result,
    }


def traced_peak(fn: Callable[[], Any]) -> tuple[int, Any]:
    """``(bytes, result)``: peak tracemalloc-traced memory allocated during ``fn`` above what was
    traced when it started (see the module docstring for what this counts)."""
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - before), result


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_total_bytes() -> int | None:
    """Physical memory from /proc/meminfo (Linux); None where unreadable."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return None


def blas_description() -> str:
    """NumPy's BLAS as linked at build time, e.g. ``scipy-openblas 0.3.31``."""
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{config.get('name', '?')} {config.get('version', '')}".strip()
    except Exception:  # the layout of show_config(mode='dicts') is not a stable API
        return "unknown"


def threads() -> list[dict[str, Any]]:
    """Native thread pools in use (threadpoolctl): library, API, version, number of threads."""
    keys = ("internal_api", "user_api", "version", "num_threads", "threading_layer")
    return [{key: pool.get(key) for key in keys} for pool in threadpool_info()]


def machine() -> dict[str, Any]:
    """What a reader needs to compare timings: CPU, cores, memory, Python, NumPy and BLAS."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    total = memory_total_bytes()
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "memory_gb": None if total is None else round(total / 1024**3, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_description(),
        "threads": threads(),
    }


def describe_machine(info: dict[str, Any]) -> str:
    """One markdown paragraph describing ``info`` (from :func:`machine`)."""
    pools = "; ".join(
        f"{p['internal_api']} {p['version']} ({p['user_api']}): {p['num_threads']} thread(s)"
        for p in info["threads"]
    )
    memory = "" if info["memory_gb"] is None else f", {info['memory_gb']} GB RAM"
    return (
        f"{info['cpu_model']}, {info['cpu_count']} CPU(s) ({info['cpus_usable']} usable)"
        f"{memory}; {info['platform']}; Python {info['python']}, NumPy {info['numpy']}, "
        f"BLAS {info['blas']}. Thread pools: {pools or 'none reported'}."
    )
