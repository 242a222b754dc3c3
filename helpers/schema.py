"""The shape of the data, written once: column names, the rating scale and its half-star grid,
the title/year convention and the empty-genres marker of MovieLens.

Every module that reads ratings or titles imports these names instead of spelling them again.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

USER, ITEM, RATING, TIMESTAMP = "userId", "movieId", "rating", "timestamp"
#: The columns every ratings table of the series has (a timestamp is optional).
RATING_COLUMNS = (USER, ITEM, RATING)

#: Ratings are 0.5 to 5 stars in half-star steps.
RATING_MIN, RATING_MAX, RATING_STEP = 0.5, 5.0, 0.5
RATING_SCALE = (RATING_MIN, RATING_MAX)

#: What movies.csv writes when a movie has no genre.
NO_GENRES = "(no genres listed)"

# "Heat (1995)" -> name "Heat", year 1995; a range "(2006–2007)" gives its first year; an
# open range "(2006– )" or "(2006-07)" too. Trailing spaces are ignored.
_YEAR = re.compile(r"\s*\((\d{4})(?:\s*[-–]\s*\d{0,4}\s*)?\)\s*$")


def on_star_grid(stars) -> np.ndarray:
    """True where ``stars`` (array-like) is a finite half star in 0.5–5, elementwise."""
    r = np.asarray(stars, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (r >= RATING_MIN) & (r <= RATING_MAX) & (np.mod(r, RATING_STEP) == 0)


def split_title(title: str) -> tuple[str, int | None]:
    """``"Heat (1995)"`` -> ``("Heat", 1995)``; a title without a year -> ``(title, None)``."""
    text = str(title).strip()
    match = _YEAR.search(text)
    if not match:
        return text, None
    return text[: match.start()].strip(), int(match.group(1))


def parse_year(titles: pd.Series) -> pd.Series:
    """Release years of a Series of titles (:func:`split_title`), Int16 with ``<NA>`` where a
    title carries no year."""
    years = titles.astype(str).str.extract(_YEAR, expand=False)
    return pd.to_numeric(years).astype("Int16")


def split_genres(genres: pd.Series) -> pd.Series:
    """Pipe-separated genre strings to lists; ``(no genres listed)`` and "" become ``[]``."""
    return genres.astype(str).map(lambda g: [] if g in (NO_GENRES, "") else g.split("|"))
