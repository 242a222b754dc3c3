"""MovieLens files read into one schema, cleaned and validated; :mod:`helpers.download` gets them.

The loaders (``load_ratings``, ``load_movies``, ``load_tags``, ``load_links``) read the CSV
variants (ml-latest-small, ml-20m, ml-25m), ml-100k (``u.data``, ``u.item``) and ml-1m / ml-10m
(``::``-separated ``.dat`` files) into one schema (column names from :mod:`helpers.schema`):

- ratings: ``userId`` int32, ``movieId`` int32, ``rating`` float64 (stars), ``timestamp``
  datetime64[s, UTC]
- movies: ``movieId`` int32, ``title`` str (surrounding spaces removed), ``year`` Int16 (missing
  when the title has none), ``genres`` list of str (empty for "(no genres listed)")

Without ``folder=`` they read the verified copy :func:`helpers.download.fetch_movielens` returns
(no network when the pinned copy is present).

Validation policy: bad ratings are an error, never silently dropped. ``load_ratings`` raises a
``ValueError`` naming the offending rows if a (userId, movieId) pair occurs twice or a rating is
outside 0.5–5 stars or off the half-star grid. Pass ``validate=False`` to inspect such a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from helpers.checks import check_bool, check_choice, check_ratings
from helpers.download import REGISTRY, fetch_movielens
from helpers.schema import (
    ITEM,
    RATING,
    RATING_MAX,
    RATING_MIN,
    TIMESTAMP,
    USER,
    on_star_grid,
    parse_year,
    split_genres,
)


def to_datetime(seconds: pd.Series) -> pd.Series:
    """Unix seconds to ``datetime64[s, UTC]``."""
    return pd.to_datetime(seconds, unit="s", utc=True).astype("datetime64[s, UTC]")


def _rows(index: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(str(i) for i in index[:limit])
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return shown + more


def validate_ratings(ratings: pd.DataFrame) -> None:
    """Raise ``ValueError`` naming the offending rows (index labels) if a (userId, movieId) pair
    occurs more than once, or a rating is missing, outside 0.5–5 or not a multiple of 0.5."""
    check_ratings("ratings", ratings, allow_empty=True)
    r = ratings[RATING].to_numpy(dtype=np.float64)
    bad = ~on_star_grid(r)
    if bad.any():
        idx = ratings.index[bad]
        values = ", ".join(f"{i}: {v:g}" for i, v in zip(idx[:5], r[bad][:5], strict=False))
        raise ValueError(
            f"{int(bad.sum())} rating(s) outside {RATING_MIN:g}–{RATING_MAX:g} stars or off the "
            f"half-star grid, at rows {_rows(idx)} (row: rating = {values})"
        )
    dup = ratings.duplicated([USER, ITEM], keep=False).to_numpy()
    if dup.any():
        sub = ratings.loc[dup, [USER, ITEM]]
        groups = sub.groupby([USER, ITEM], sort=True).groups
        parts = [
            f"{USER}={u}, {ITEM}={m} at rows {_rows(pd.Index(rows))}"
            for (u, m), rows in list(groups.items())[:5]
        ]
        more = f"; and {len(groups) - 5} more pairs" if len(groups) > 5 else ""
        raise ValueError(
            f"{len(groups)} duplicate (userId, movieId) pair(s): " + "; ".join(parts) + more
        )


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------

_CSV_VARIANTS = ("ml-latest-small", "ml-latest", "ml-20m", "ml-25m", "ml-32m")
_DAT_VARIANTS = ("ml-1m", "ml-10m")
_LOADABLE = (*_CSV_VARIANTS, "ml-100k", *_DAT_VARIANTS)
_ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
_RATING_DTYPES = {USER: "int32", ITEM: "int32", RATING: "float64", TIMESTAMP: "int64"}
_MOVIE_DTYPES = {ITEM: "int32", "title": "str", "genres": "str"}


def _folder(variant: str, folder: str | Path | None, data_dir: str | Path | None) -> Path:
    """The folder to read: ``folder`` if given, else the verified copy of ``variant``."""
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"no such folder: {folder}")
        return folder
    if variant not in REGISTRY:
        raise ValueError(
            f"{variant} is not downloadable here; pass folder= with its extracted files"
        )
    return fetch_movielens(variant, data_dir)


def _file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found in {folder}")
    return path


def _read_dat(path: Path, names: list[str], encoding: str) -> pd.DataFrame:
    """A ``::``-separated file as strings, split at most ``len(names) - 1`` times."""
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = pd.Series(text.splitlines(), dtype="str")
    lines = lines[lines.str.len() > 0]
    parts = lines.str.split("::", n=len(names) - 1, expand=True)
    if parts.shape[1] != len(names):
        raise ValueError(f"{path.name}: expected {len(names)} '::'-separated fields per line")
    parts.columns = names
    return parts.reset_index(drop=True)


def _check_columns(df: pd.DataFrame, expected: list[str], path: Path) -> None:
    if list(df.columns) != expected:
        raise ValueError(f"{path.name}: columns {list(df.columns)}, expected {expected}")


def load_ratings(
    variant: str = "ml-latest-small",
    *,
    folder: str | Path | None = None,
    data_dir: str | Path | None = None,
    validate: bool = True,
) -> pd.DataFrame:
    """Ratings of a MovieLens variant: ``userId`` int32, ``movieId`` int32, ``rating`` float64
    (stars), ``timestamp`` datetime64[s, UTC]; one row per rating, in file order.

    Reads ``folder`` if given, else the verified copy from
    :func:`helpers.download.fetch_movielens` (no network when the copy is present). With
    ``validate`` (default) raises ``ValueError`` naming the rows of duplicate (userId, movieId)
    pairs and of ratings outside 0.5–5 or off the half-star grid.
    """
    check_choice("variant", variant, _LOADABLE)
    validate = check_bool("validate", validate)
    path_dir = _folder(variant, folder, data_dir)
    if variant in _CSV_VARIANTS:
        path = _file(path_dir, "ratings.csv")
        df = pd.read_csv(path, dtype=_RATING_DTYPES)
        _check_columns(df, list(_RATING_DTYPES), path)
    elif variant == "ml-100k":
        path = _file(path_dir, "u.data")
        df = pd.read_csv(
            path, sep="\t", header=None, names=list(_RATING_DTYPES), dtype=_RATING_DTYPES
        )
    else:
        path = _file(path_dir, "ratings.dat")
        # "1::1193::5::978300760" split on ":" gives the fields at columns 0, 2, 4, 6.
        columns = dict(zip([0, 2, 4, 6], _RATING_DTYPES.values(), strict=True))
        df = pd.read_csv(path, sep=":", header=None, usecols=list(columns), dtype=columns)
        df.columns = list(_RATING_DTYPES)
    df[TIMESTAMP] = to_datetime(df[TIMESTAMP])
    if validate:
        validate_ratings(df)
    return df


def clean_movies(movies: pd.DataFrame) -> pd.DataFrame:
    """``movieId``, ``title`` (stripped), ``year`` (Int16, from the title) and ``genres`` (list)
    from a raw table with columns movieId, title, genres (pipe-separated)."""
    out = pd.DataFrame(
        {
            ITEM: movies[ITEM].astype("int32"),
            "title": movies["title"].astype("str").str.strip(),
            "year": parse_year(movies["title"]),
            "genres": split_genres(movies["genres"]),
        }
    )
    dup = out[ITEM].duplicated(keep=False)
    if dup.any():
        raise ValueError(f"duplicate {ITEM} at rows {_rows(out.index[dup])}")
    return out


def load_movies(
    variant: str = "ml-latest-small",
    *,
    folder: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Movies of a MovieLens variant: ``movieId`` int32, ``title`` str (surrounding spaces
    removed), ``year`` Int16 (``<NA>`` if the title has none), ``genres`` list of str (empty for
    "(no genres listed)" or ml-100k's "unknown"). Same sources as :func:`load_ratings`."""
    check_choice("variant", variant, _LOADABLE)
    path_dir = _folder(variant, folder, data_dir)
    if variant in _CSV_VARIANTS:
        path = _file(path_dir, "movies.csv")
        raw = pd.read_csv(path, dtype=_MOVIE_DTYPES, na_filter=False)
        _check_columns(raw, list(_MOVIE_DTYPES), path)
    elif variant == "ml-100k":
        path = _file(path_dir, "u.item")
        names = [ITEM, "title", "release_date", "video_release_date", "url", *_ML100K_GENRES]
        dtypes = {ITEM: "int32", "title": "str", **dict.fromkeys(_ML100K_GENRES, "int8")}
        usecols = [ITEM, "title", *_ML100K_GENRES]
        item = pd.read_csv(
            path, sep="|", header=None, names=names, usecols=usecols, dtype=dtypes,
            encoding="latin-1", na_filter=False,
        )  # fmt: skip
        flags = item[_ML100K_GENRES[1:]].to_numpy(dtype=bool)
        labels = np.array(_ML100K_GENRES[1:])
        genres = ["|".join(labels[row]) for row in flags]
        raw = pd.DataFrame({ITEM: item[ITEM], "title": item["title"], "genres": genres})
    else:
        path = _file(path_dir, "movies.dat")
        encoding = "latin-1" if variant == "ml-1m" else "utf-8"
        raw = _read_dat(path, list(_MOVIE_DTYPES), encoding)
    return clean_movies(raw)


def load_tags(
    variant: str = "ml-latest-small",
    *,
    folder: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Tags (CSV variants): ``userId`` int32, ``movieId`` int32, ``tag`` str, ``timestamp``
    datetime64[s, UTC]."""
    check_choice("variant", variant, _CSV_VARIANTS)  # tags come only with the CSV variants
    path = _file(_folder(variant, folder, data_dir), "tags.csv")
    dtypes = {USER: "int32", ITEM: "int32", "tag": "str", TIMESTAMP: "int64"}
    df = pd.read_csv(path, dtype=dtypes, na_filter=False)
    _check_columns(df, list(dtypes), path)
    df[TIMESTAMP] = to_datetime(df[TIMESTAMP])
    return df


def load_links(
    variant: str = "ml-latest-small",
    *,
    folder: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Links to other movie databases (CSV variants): ``movieId`` int32, ``imdbId`` int32 (the
    IMDb page is ``tt`` + the id zero-padded to 7 digits), ``tmdbId`` Int32 (``<NA>`` when
    unknown)."""
    check_choice("variant", variant, _CSV_VARIANTS)  # links come only with the CSV variants
    path = _file(_folder(variant, folder, data_dir), "links.csv")
    dtypes = {ITEM: "int32", "imdbId": "int32", "tmdbId": "Int32"}
    df = pd.read_csv(path, dtype=dtypes)
    _check_columns(df, list(dtypes), path)
    return df
