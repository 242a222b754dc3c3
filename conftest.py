"""Run-wide test settings: the Spark chapter needs Java 17 or 21.

Without Java, the Spark tests and the Spark notebook are skipped with a message that says what
to install. With ``REQUIRE_JAVA=1`` (set by ``.ci/run``) a missing Java fails the run instead, so
CI never skips the chapter silently.
"""

from __future__ import annotations

import os

import pytest

SPARK_NOTEBOOK = "10_scale_out.ipynb"


def _java_problem() -> str | None:
    from helpers.spark import JavaNotFoundError, require_java

    try:
        require_java()
    except JavaNotFoundError as exc:
        return str(exc)
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    problem = _java_problem()
    session.config.stash[_JAVA] = problem
    if problem and os.environ.get("REQUIRE_JAVA") == "1":
        pytest.exit(f"REQUIRE_JAVA=1 but the Spark chapter cannot run: {problem}", returncode=1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problem = config.stash.get(_JAVA, None)
    if not problem:
        return
    skip = pytest.mark.skip(reason=f"needs Java: {problem}")
    for item in items:
        if item.path.name == SPARK_NOTEBOOK:
            item.add_marker(skip)


_JAVA = pytest.StashKey[str | None]()
