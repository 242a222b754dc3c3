"""The one place that decides how many threads the series' kernels use.

* :func:`cpu_count` counts the cores this process may run on (its CPU affinity, as ``taskset``
  or a container limit sets it), not the cores of the machine.
* :func:`resolve_workers` turns a ``workers=`` argument into a thread count.
* :func:`single_threaded_blas` keeps BLAS/LAPACK to one thread inside a ``with`` block and
  restores the previous limits on the way out, also when the block raises (or is interrupted).
* :func:`thread_pool` and :func:`run_all` run a kernel's independent tasks (batches of rows) on
  ``workers`` threads, the calling thread being one of them; one pool serves a whole fit.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

from helpers.checks import check_int


def cpu_count() -> int:
    """Cores available to this process (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | None) -> int:
    """``None`` -> one thread per available core; otherwise an integer >= 1, checked."""
    if workers is None:
        return cpu_count()
    return check_int("workers", workers, minimum=1)


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS limited to one thread within the block; the previous limits come back afterwards.

    For kernels that run their own threads over many small systems: BLAS threads only contend
    there (idle ones spin between calls), which made ALS several times slower and erratic."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@contextmanager
def thread_pool(workers: int) -> Iterator[ThreadPoolExecutor | None]:
    """Helpers for ``workers - 1`` threads (the calling thread is the last worker); ``None`` for
    one worker. Shut down on the way out, also when the block raises."""
    if workers == 1:
        yield None
        return
    with ThreadPoolExecutor(max_workers=workers - 1) as pool:
        yield pool


def run_all(
    n_tasks: int, task: Callable[[int], None], pool: ThreadPoolExecutor | None, workers: int
) -> None:
    """``task(j)`` for j = 0 .. n_tasks - 1, by ``workers`` threads (``pool`` from
    :func:`thread_pool`) taking the next j in turn: give the tasks costliest first and the threads
    finish together. Tasks must write disjoint outputs. An exception in a task is raised here
    after every thread has stopped."""
    if pool is None or n_tasks < 2:
        for j in range(n_tasks):
            task(j)
        return
    queue = itertools.count()  # next() on it is atomic: every j is taken exactly once

    def drain() -> None:
        while (j := next(queue)) < n_tasks:
            task(j)

    helpers = [pool.submit(drain) for _ in range(min(workers, n_tasks) - 1)]
    try:
        drain()
    finally:
        for helper in helpers:
            helper.result()
