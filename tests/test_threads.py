"""helpers.threads: the shared thread pool runs every task once and stops cleanly on errors."""

import threading

import pytest

from helpers.threads import run_all, thread_pool


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_run_all_runs_every_task_exactly_once(workers):
    done, lock = [], threading.Lock()

    def task(j):
        with lock:
            done.append(j)

    with thread_pool(workers) as pool:
        assert (pool is None) == (workers == 1)
        for n_tasks in (0, 1, 7, 50):
            done.clear()
            run_all(n_tasks, task, pool, workers)
            assert sorted(done) == list(range(n_tasks))


def test_a_failing_task_is_raised_after_every_thread_stopped():
    started, finished = [], []

    def task(j):
        started.append(j)
        if j == 3:
            raise RuntimeError("task 3 failed")
        finished.append(j)

    with thread_pool(2) as pool:
        with pytest.raises(RuntimeError, match="task 3 failed"):
            run_all(10, task, pool, 2)
        # the pool is still usable afterwards: nothing is left running or half-done
        finished.clear()
        run_all(4, lambda j: finished.append(j), pool, 2)
        assert sorted(finished) == [0, 1, 2, 3]
    assert not any(t.name.startswith("ThreadPoolExecutor") for t in threading.enumerate())
