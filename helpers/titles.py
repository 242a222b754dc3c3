"""What a person types, matched to movieIds: title search, the movies table shown to people, and
``{title or movieId: stars}`` dicts checked and resolved.

* :func:`find_movie` matches a title (or a movieId) to one ``movieId``: case-insensitive, with or
  without the year, "The Matrix" for "Matrix, The (1999)", "Se7en" for "Seven (a.k.a. Se7en)";
  close misses get suggestions and ambiguous titles list the candidates.
* :func:`find_titles` searches titles by substring, for looking them up by hand.
* :func:`movie_table` / :func:`with_titles` give tables a readable title, year and genres.
* :func:`parse_ratings` checks a ratings dict and resolves its keys to movieIds, listing every
  problem at once.

Titles are split into name and year by :func:`helpers.schema.split_title`, the series' one
title/year convention. Title errors are :class:`TitleError`, a ``ValueError``.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.checks import check_int, check_ratings
from helpers.schema import (
    ITEM,
    NO_GENRES,
    RATING,
    RATING_MAX,
    RATING_MIN,
    on_star_grid,
    split_title,
)

_ALSO_KNOWN = re.compile(r"^(.+?)\s*\(([^()]+)\)$")  # 'Name (other name)'
_ARTICLE = re.compile(r"^(?P<name>.+), (?P<article>the|a|an|les|la|le|l'|il|el|der|die|das)$")


class TitleError(ValueError):
    """A title that matches no movie, or more than one."""


# --------------------------------------------------------------------------------------------
# The movies table: titles, years, genres
# --------------------------------------------------------------------------------------------


def _genres_text(genres) -> str:
    if isinstance(genres, str):
        parts = genres.split("|")
    elif isinstance(genres, Iterable):
        parts = list(genres)
    else:
        return ""
    return ", ".join(g for g in parts if g and g != NO_GENRES)


def movie_table(movies: pd.DataFrame) -> pd.DataFrame:
    """The movies table in the form shown to people: index movieId; columns ``title`` (as in
    movies.csv, with the year), ``year`` (nullable Int64) and ``genres`` (one string, e.g.
    "Adventure, Animation"). Accepts the raw movies.csv table or ``helpers.data.load_movies()``.
    """
    check_ratings("movies", movies, columns=(ITEM, "title"), allow_empty=True)
    titles = movies["title"].astype(str).str.strip()
    parsed = [split_title(t)[1] for t in titles]
    if "year" in movies.columns:
        year = pd.array(movies["year"], dtype="Int64")
    else:
        year = pd.array(list(parsed), dtype="Int64")
    # A loader may have cut the year off the title: show it the way movies.csv writes it.
    display = [
        t if p is not None or pd.isna(y) else f"{t} ({y})"
        for t, p, y in zip(titles, parsed, year, strict=True)
    ]
    genres = (
        [_genres_text(g) for g in movies["genres"]]
        if "genres" in movies.columns
        else [""] * len(titles)
    )
    return pd.DataFrame(
        {"title": display, "year": year, "genres": genres},
        index=pd.Index(movies[ITEM].to_numpy(), name=ITEM),
    )


def with_titles(frame: pd.DataFrame, movies: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` with title, year and genres inserted after its movieId column (left join on
    movieId; missing movies get NaN). ``movies=None`` returns ``frame`` unchanged."""
    if movies is None:
        return frame
    info = _title_index(movies).table.reindex(frame[ITEM].to_numpy())
    out = frame[[ITEM]].copy()
    for col in ("title", "year", "genres"):
        out[col] = info[col].to_numpy()
    for col in frame.columns.drop(ITEM):
        out[col] = frame[col].to_numpy()
    return out


def title_of(movie_id: int, movies: pd.DataFrame) -> str:
    """The title (with year) of ``movie_id``, or ``"movieId <id>"`` if the table lacks it."""
    return str(_title_index(movies).table["title"].get(movie_id, f"movieId {movie_id}"))


# --------------------------------------------------------------------------------------------
# Title matching
# --------------------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _keys(name: str) -> set[str]:
    """Lower-case spellings of a title without its year. 'Matrix, The' -> also 'the matrix';
    'Spirited Away (Sen to Chihiro no kamikakushi)' -> also 'spirited away' and the original
    title; 'Seven (a.k.a. Se7en)' -> also 'seven' and 'se7en'."""
    forms = [_normalise(name)]
    rest = forms[0]
    while (match := _ALSO_KNOWN.match(rest)) is not None:
        rest, alt = match.group(1), match.group(2).removeprefix("a.k.a. ")
        forms += [rest, alt]
    keys = set()
    for form in forms:
        keys.add(form)
        match = _ARTICLE.match(form)
        if match:
            article = match.group("article")
            sep = "" if article.endswith("'") else " "
            keys.add(f"{article}{sep}{match.group('name')}")
    return keys


@dataclass(frozen=True, eq=False)
class _TitleIndex:
    by_name: dict[str, list[int]]  # key without year -> movieIds
    by_full: dict[str, list[int]]  # key with year -> movieIds
    table: pd.DataFrame  # movie_table(movies)


_INDEX_CACHE: dict[int, tuple[pd.DataFrame, _TitleIndex]] = {}


def _title_index(movies: pd.DataFrame) -> _TitleIndex:
    cached = _INDEX_CACHE.get(id(movies))
    if cached is not None and cached[0] is movies:
        return cached[1]
    table = movie_table(movies)
    by_name: dict[str, list[int]] = {}
    by_full: dict[str, list[int]] = {}
    for movie_id, title, year in zip(table.index, table["title"], table["year"], strict=True):
        name, _ = split_title(title)
        for key in _keys(name):
            by_name.setdefault(key, []).append(int(movie_id))
            if not pd.isna(year):
                by_full.setdefault(f"{key} ({year})", []).append(int(movie_id))
    index = _TitleIndex(by_name, by_full, table)
    _INDEX_CACHE.clear()  # keep one table: notebooks use one movies table at a time
    _INDEX_CACHE[id(movies)] = (movies, index)
    return index


def _describe(table: pd.DataFrame, movie_ids: Iterable[int]) -> str:
    return ", ".join(f"{table.at[m, 'title']!r} (movieId {m})" for m in movie_ids)


def find_movie(query: str | int, movies: pd.DataFrame) -> int:
    """The ``movieId`` a person means by ``query``: a title or a movieId.

    Titles match case-insensitively, with or without the year ("toy story", "Toy Story (1995)"),
    and with a trailing article moved to the front ("The Matrix" finds "Matrix, The (1999)").
    Raises :class:`TitleError` (a ``ValueError``) for no match — with the closest titles as
    suggestions — and for several matches, listing them with their years and movieIds;
    ``TypeError`` if ``query`` is neither a string nor an integer.
    """
    index = _title_index(movies)
    if isinstance(query, numbers.Integral) and not isinstance(query, bool):
        if int(query) not in index.table.index:
            raise TitleError(f"there is no movie with movieId {int(query)}")
        return int(query)
    if not isinstance(query, str):
        raise TypeError(
            f"a movie must be given by its title (str) or movieId (int), got "
            f"{type(query).__name__} {query!r}"
        )
    text = _normalise(query)
    if not text:
        raise TitleError("the title is empty; write the movie's title, e.g. 'Toy Story (1995)'")
    name, year = split_title(text)
    if year is not None:
        hits = index.by_full.get(f"{name} ({year})", [])
        if not hits:  # a name that itself ends in '(dddd)'
            hits = index.by_name.get(text, [])
    else:
        hits = index.by_name.get(text, [])
    hits = sorted(set(hits))
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise TitleError(
            f"{query!r} is ambiguous: it matches {len(hits)} movies: "
            f"{_describe(index.table, hits)}. Add the year, or give the movieId instead"
        )
    keys = list(index.by_full) + list(index.by_name)
    # Suggestions: titles that contain what was typed ("star wars"), then near spellings.
    contains = [key for key in index.by_name if text in key]
    contains.sort(key=lambda key: (not key.startswith(text), key))
    close = contains[:5] + difflib.get_close_matches(text, keys, n=8, cutoff=0.6)
    suggestions: list[int] = []
    for key in close:
        for m in index.by_full.get(key, index.by_name.get(key, [])):
            if m not in suggestions:
                suggestions.append(m)
    if suggestions:
        raise TitleError(
            f"no movie is titled {query!r}. "
            f"Did you mean: {_describe(index.table, suggestions[:5])}?"
        )
    raise TitleError(
        f"no movie is titled {query!r}, and no title is close; "
        "search with find_titles(text, movies)"
    )


def find_titles(text: str, movies: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Movies whose title contains ``text`` (case-insensitive), else the closest titles; at most
    ``n`` rows with columns movieId, title, year, genres. For looking titles up by hand."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    n = check_int("n", n, minimum=1)
    table = _title_index(movies).table
    needle = _normalise(text)
    lowered = table["title"].str.lower()
    hits = table.index[lowered.str.contains(needle, regex=False)].tolist()
    if not hits:
        close = difflib.get_close_matches(needle, lowered.tolist(), n=n, cutoff=0.5)
        hits = [m for key in close for m in table.index[lowered == key]]
    frame = pd.DataFrame({ITEM: hits[:n]})
    return with_titles(frame, movies).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# A person's ratings: {title or movieId: stars}
# --------------------------------------------------------------------------------------------


def _check_stars(stars: float) -> str | None:
    """A problem with one rating value, or None if it is a valid half star in 0.5–5."""
    if not math.isfinite(stars):
        return f"{stars} is not a number of stars"
    if not RATING_MIN <= stars <= RATING_MAX:
        return f"{stars} is outside {RATING_MIN}–{RATING_MAX} stars"
    if not on_star_grid(stars):
        return f"{stars} is not on the half-star grid (0.5, 1, 1.5, …, 5)"
    return None


def parse_ratings(
    ratings: Mapping, movies: pd.DataFrame, *, known_ids: np.ndarray | None = None
) -> pd.DataFrame:
    """Check a ``{title or movieId: stars}`` dict and resolve it to movieIds.

    Returns a table with columns movieId, title, rating (in dict order). Raises ``TypeError`` for
    a non-dict, a key that is neither a title nor a movieId, or stars that are not a number;
    ``ValueError`` (listing every problem at once) for an empty dict, unknown or ambiguous titles
    (with suggestions), ratings outside 0.5–5 or off the half-star grid, the same movie rated
    twice, and (when ``known_ids`` is given: the movieIds a model has parameters for) movies
    outside ``known_ids``.
    """
    if not isinstance(ratings, Mapping):
        raise TypeError(
            f"ratings must be a dict of title (or movieId) -> stars, got {type(ratings).__name__}"
        )
    if len(ratings) == 0:
        raise ValueError(
            "ratings is empty: rate at least one movie, e.g. {'Toy Story (1995)': 4.5}"
        )
    for key, stars in ratings.items():
        if isinstance(key, bool) or not isinstance(key, str | numbers.Integral):
            raise TypeError(
                f"{key!r} is a {type(key).__name__}; a movie must be given by its title (str) or "
                "movieId (int)"
            )
        if isinstance(stars, bool) or not isinstance(stars, numbers.Real):
            raise TypeError(
                f"the rating of {key!r} is {stars!r} ({type(stars).__name__}); give a number of "
                "stars such as 4 or 3.5"
            )
    table = _title_index(movies).table
    known = None if known_ids is None else set(np.asarray(known_ids).tolist())
    problems: list[str] = []
    seen: dict[int, object] = {}
    rows = []
    for key, stars in ratings.items():
        stars = float(stars)
        issue = _check_stars(stars)
        if issue:
            problems.append(f"{key!r}: {issue}")
        try:
            movie_id = find_movie(key, movies)
        except TitleError as err:
            problems.append(str(err))
            continue
        if movie_id in seen:
            problems.append(
                f"{key!r} and {seen[movie_id]!r} are the same movie "
                f"({table.at[movie_id, 'title']}); rate it once"
            )
            continue
        seen[movie_id] = key
        if known is not None and movie_id not in known:
            problems.append(
                f"{table.at[movie_id, 'title']!r} has no ratings in the model's training data, so "
                "the model knows nothing about it; leave it out"
            )
            continue
        rows.append((movie_id, table.at[movie_id, "title"], stars))
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ValueError(f"{len(problems)} problem(s) with the ratings:\n{listing}")
    return pd.DataFrame(rows, columns=[ITEM, "title", RATING])
