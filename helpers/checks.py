"""Argument checks for the public functions of the series, used once at the boundary.

One rule everywhere: a value of the wrong *kind* raises ``TypeError``, a value of the right kind
but outside what is allowed raises ``ValueError``. Every message names the argument, shows the
value and says what was expected. Kernels called by a validated function trust their callers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from helpers.schema import RATING_COLUMNS


def _kind(value) -> str:
    return f"{type(value).__name__} {value!r}" if np.ndim(value) == 0 else type(value).__name__


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` (Python or NumPy integer, not bool) within the bounds."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_kind(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(
    name: str,
    value,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
    why: str = "",
) -> float:
    """``value`` as a finite ``float`` (any real number, not bool), ``>= minimum`` (``>`` with
    ``strict``) and ``<= maximum``. ``why`` is appended to the message of a ``ValueError``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_kind(value)}")
    value = float(value)
    reason = f": {why}" if why else ""
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}{reason}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {minimum:g}, got {value:g}{reason}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {value:g}{reason}")
    return value


def check_positive(name: str, value, *, why: str = "") -> float:
    """A finite number > 0."""
    return check_real(name, value, minimum=0.0, strict=True, why=why)


def check_bool(name: str, value) -> bool:
    """``True`` or ``False`` (Python or NumPy bool)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {_kind(value)}")
    return bool(value)


def check_choice(name: str, value, choices: Collection[str]) -> str:
    """One of the strings ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {sorted(choices)}, got {_kind(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_seed(name: str, value) -> int:
    """A seed for ``np.random.default_rng``: an integer >= 0."""
    return check_int(name, value, minimum=0)


def check_ratings(
    name: str,
    frame,
    *,
    columns: Sequence[str] = RATING_COLUMNS,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """A ratings table: a DataFrame with ``columns`` (default userId, movieId, rating) and, unless
    ``allow_empty``, at least one row. Returns it unchanged."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{name} must be a DataFrame with columns {list(columns)}, got {type(frame).__name__}"
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; it has {list(frame.columns)}, "
            f"expected {list(columns)}"
        )
    if not allow_empty and len(frame) == 0:
        raise ValueError(f"{name} is empty: it needs at least one rating")
    return frame


def check_optional_ratings(name: str, frame) -> pd.DataFrame | None:
    """``None`` or a non-empty ratings table (see :func:`check_ratings`), e.g. ``valid=``."""
    return None if frame is None else check_ratings(name, frame)
