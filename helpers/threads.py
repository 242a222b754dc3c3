"""The one place that decides how many threads the series' kernels use.

* :func:`cpu_count` counts the cores this process may run on (its CPU affinity, as ``taskset``
  or a container limit sets it), not the cores of the machine.
* :func:`resolve_workers` turns a ``workers=`` argument into a thread count.
* :func:`single_threaded_blas` keeps BLAS/LAPACK to one thread inside a ``with`` block and
  restores the previous limits on the way out, also when the block raises (or is interrupted).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
