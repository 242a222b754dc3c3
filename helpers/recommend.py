"""Recommendations people can read: top-N, similar movies, a new user folded in, explanations.

Everything here works with any :class:`~helpers.model.MFModel` of the series (baselines, SGD, SVD,
ALS). The functions that need latent factors (:func:`similar_movies`, the supporting movies of
:func:`explain`) say so clearly when a model has none.

* :func:`top_n` ranks the movies a user has not rated by the model's (unclipped) score.
* :func:`similar_movies` ranks movies by cosine similarity of their item factors, skipping movies
  with few ratings: their factors are mostly the regularisation prior, so cosines with them are
  noise.
* :func:`find_movie` / :func:`find_titles` match what a person types to a ``movieId``:
  case-insensitive, with or without the year, "The Matrix" for "Matrix, The (1999)"; close misses
  get suggestions and ambiguous titles list the candidates.
* :func:`fold_in` adds a new user from a ``{title or movieId: stars}`` dict by one ridge solve
  against the fixed item factors and biases — the ALS user half-step for one user, no retraining.
* :func:`explain` splits a prediction into global mean + user bias + item bias + factor term and
  lists the user's own rated movies that most support it.

Bad input raises ``ValueError`` (wrong value) or ``TypeError`` (wrong kind of value) with a message
that says what to fix. Title errors are :class:`TitleError`, a ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.als import als_half_step
from helpers.matrix import csr_from_triples
from helpers.model import MFModel

#: Rating grid of MovieLens: half stars from 0.5 to 5.
MIN_STARS, MAX_STARS = 0.5, 5.0

_YEAR = re.compile(r"\s*\((\d{4})(?:\s*[-–]\s*(\d{4})?)?\)\s*$")
_ALSO_KNOWN = re.compile(r"^(.+?)\s*\(([^()]+)\)$")  # 'Name (other name)'
_ARTICLE = re.compile(r"^(?P<name>.+), (?P<article>the|a|an|les|la|le|l'|il|el|der|die|das)$")


class TitleError(ValueError):
    """A title that matches no movie, or more than one."""


# --------------------------------------------------------------------------------------------
# Argument checks shared by the public functions
# --------------------------------------------------------------------------------------------


def _check_model(model: MFModel) -> None:
    if not isinstance(model, MFModel):
        raise TypeError(
            f"model must be an MFModel (from a fit_* function), got {type(model).__name__}"
        )


def _check_int(value, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _user_row(model: MFModel, user_id) -> int:
    user_id = _check_int(user_id, "user_id")
    u = int(model.user_index([user_id])[0])
    if u < 0:
        raise ValueError(
            f"user {user_id} is not in the model (it knows {model.n_users} users); "
            "a new user can be added with fold_in"
        )
    return u


# --------------------------------------------------------------------------------------------
# The movies table: titles, years, genres
# --------------------------------------------------------------------------------------------


def _split_year(title: str) -> tuple[str, int | None]:
    """'Toy Story (1995)' -> ('Toy Story', 1995); titles without a year keep None."""
    match = _YEAR.search(title)
    if match is None:
        return title.strip(), None
    return title[: match.start()].strip(), int(match.group(1))


def _genres_text(genres) -> str:
    if isinstance(genres, str):
        parts = genres.split("|")
    elif isinstance(genres, Iterable):
        parts = list(genres)
    else:
        return ""
    return ", ".join(g for g in parts if g and g != "(no genres listed)")


def movie_table(movies: pd.DataFrame) -> pd.DataFrame:
    """The movies table in the form this module shows: index movieId; columns ``title`` (as in
    movies.csv, with the year), ``year`` (nullable Int64) and ``genres`` (one string, e.g.
    "Adventure, Animation"). Accepts the raw movies.csv table or ``helpers.data.load_movies()``.
    """
    if not isinstance(movies, pd.DataFrame):
        raise TypeError(f"movies must be a pandas DataFrame, got {type(movies).__name__}")
    missing = [c for c in ("movieId", "title") if c not in movies.columns]
    if missing:
        raise ValueError(f"movies table lacks column(s) {missing}; it has {list(movies.columns)}")
    titles = movies["title"].astype(str).str.strip()
    parsed = [_split_year(t)[1] for t in titles]
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
        index=pd.Index(movies["movieId"].to_numpy(), name="movieId"),
    )


def _with_titles(frame: pd.DataFrame, movies: pd.DataFrame | None) -> pd.DataFrame:
    """Insert title, year and genres after the movieId column (left join on movieId)."""
    if movies is None:
        return frame
    info = _title_index(movies).table.reindex(frame["movieId"].to_numpy())
    out = frame[["movieId"]].copy()
    for col in ("title", "year", "genres"):
        out[col] = info[col].to_numpy()
    for col in frame.columns.drop("movieId"):
        out[col] = frame[col].to_numpy()
    return out


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


@dataclass(frozen=True)
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
        name, _ = _split_year(title)
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
    name, year = _split_year(text)
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
    n = _check_int(n, "n", minimum=1)
    table = _title_index(movies).table
    needle = _normalise(text)
    lowered = table["title"].str.lower()
    hits = table.index[lowered.str.contains(needle, regex=False)].tolist()
    if not hits:
        close = difflib.get_close_matches(needle, lowered.tolist(), n=n, cutoff=0.5)
        hits = [m for key in close for m in table.index[lowered == key]]
    frame = pd.DataFrame({"movieId": hits[:n]})
    return _with_titles(frame, movies).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Top-N and similar movies
# --------------------------------------------------------------------------------------------


def _rated_ids(exclude, user_id: int) -> np.ndarray:
    """movieIds to leave out: the user's rows of a ratings table, or any collection of ids."""
    if isinstance(exclude, pd.DataFrame):
        if "movieId" not in exclude.columns:
            raise ValueError(
                f"exclude table lacks a movieId column; it has {list(exclude.columns)}"
            )
        if "userId" in exclude.columns:
            exclude = exclude.loc[exclude["userId"] == user_id]
        return exclude["movieId"].to_numpy()
    if isinstance(exclude, str) or not isinstance(exclude, Iterable):
        raise TypeError(
            "exclude must be the training ratings (DataFrame with userId, movieId) or a "
            f"collection of movieIds, got {type(exclude).__name__}"
        )
    return np.asarray(list(exclude))


def top_n(
    model: MFModel,
    user_id: int,
    n: int = 10,
    *,
    exclude,
    movies: pd.DataFrame | None = None,
    counts=None,
    min_ratings: int = 0,
) -> pd.DataFrame:
    """The ``n`` movies with the highest predicted rating that user ``user_id`` has not rated.

    ``exclude`` is the training ratings table (its rows for this user are used) or the user's
    rated movieIds; pass ``exclude=()`` deliberately to rank every movie. Candidates are the
    movies the model knows minus the excluded ones and, when ``min_ratings > 0``, minus movies
    with fewer than ``min_ratings`` training ratings (``counts``: the training ratings, or a
    Series movieId -> number of ratings) — lightly regularised models can put movies with one
    enthusiastic rating on top. If there are fewer candidates than ``n``, all of them are
    returned. Ranking uses the unclipped score (clipping would tie everything above 5 stars), ties
    broken by movieId. Columns: movieId, [title, year, genres if ``movies`` is given], score
    (unclipped, stars), predicted (clipped to 0.5–5, what ``model.predict`` returns).
    """
    _check_model(model)
    u = _user_row(model, user_id)
    n = _check_int(n, "n", minimum=1)
    min_ratings = _check_int(min_ratings, "min_ratings", minimum=0)
    rated = model.item_index(_rated_ids(exclude, int(user_id)))
    scores = model.score_all_items(u)
    candidate = np.ones(model.n_items, dtype=bool)
    if min_ratings > 0:
        if counts is None:
            raise TypeError("min_ratings needs counts= (the training ratings)")
        candidate = _counts_for(model, counts) >= min_ratings
    candidate[rated[rated >= 0]] = False
    cand = np.flatnonzero(candidate)
    order = np.lexsort((model.item_ids[cand], -scores[cand]))[:n]
    best = cand[order]
    frame = pd.DataFrame(
        {
            "movieId": model.item_ids[best],
            "score": scores[best],
            "predicted": model.clip(scores[best]),
        }
    )
    return _with_titles(frame, movies)


def rating_counts(ratings: pd.DataFrame) -> pd.Series:
    """Number of ratings of each movie: a Series indexed by movieId."""
    if not isinstance(ratings, pd.DataFrame) or "movieId" not in ratings.columns:
        raise TypeError("ratings must be a DataFrame with a movieId column")
    return ratings["movieId"].value_counts().sort_index().rename("n_ratings")


def _counts_for(model: MFModel, counts) -> np.ndarray:
    """Ratings per model item, shape (m,), from a ratings table or a Series movieId -> count."""
    if isinstance(counts, pd.DataFrame):
        counts = rating_counts(counts)
    if not isinstance(counts, pd.Series):
        raise TypeError(
            "counts must be the training ratings (DataFrame) or a Series movieId -> number of "
            f"ratings, got {type(counts).__name__}"
        )
    return counts.reindex(model.item_ids).fillna(0).to_numpy(dtype=np.int64)


def similar_movies(
    model: MFModel,
    movie: int | str,
    n: int = 10,
    *,
    counts,
    min_ratings: int = 20,
    movies: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``n`` movies whose item factors point most nearly the same way as ``movie``'s.

    Similarity is the cosine of the angle between factor vectors, in [-1, 1]. ``movie`` is a
    movieId, or a title when ``movies`` is given. ``counts`` (the training ratings, or a Series
    movieId -> number of ratings) serves the guard: only movies with at least ``min_ratings``
    ratings are candidates, and asking about a movie with fewer raises ``ValueError``. A movie
    with a handful of ratings has factors that are mostly the regularisation prior: the ridge
    solution is a combination of its raters' taste vectors (with one rater, exactly parallel to
    it) and zero in every other direction, so its cosines say who rated it, not what it is. The
    movie itself is never listed. Columns: movieId, [title, year, genres], similarity, n_ratings.
    """
    _check_model(model)
    n = _check_int(n, "n", minimum=1)
    min_ratings = _check_int(min_ratings, "min_ratings", minimum=0)
    if model.k == 0:
        raise ValueError(
            f"model {model.name!r} has no latent factors (k=0): similarity of item factors needs "
            "a factor model such as ALS or SGD"
        )
    movie_id = _movie_id(movie, movies)
    i = int(model.item_index([movie_id])[0])
    if i < 0:
        raise ValueError(f"movie {movie_id} is not in the model: it had no training ratings")
    n_ratings = _counts_for(model, counts)
    if n_ratings[i] < min_ratings:
        raise ValueError(
            f"movie {movie_id} has {n_ratings[i]} rating(s), fewer than min_ratings={min_ratings}: "
            "its factors are little more than the regularisation prior and the tastes of its few "
            "raters, so its neighbours would be noise. Lower min_ratings to see them anyway"
        )
    Q = model.item_factors
    norms = np.linalg.norm(Q, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sims = (Q @ Q[i]) / (norms * norms[i])
    sims = np.nan_to_num(sims, nan=0.0)  # a zero vector is similar to nothing
    candidate = n_ratings >= min_ratings
    candidate[i] = False
    cand = np.flatnonzero(candidate)
    best = cand[np.lexsort((model.item_ids[cand], -sims[cand]))[:n]]
    frame = pd.DataFrame(
        {"movieId": model.item_ids[best], "similarity": sims[best], "n_ratings": n_ratings[best]}
    )
    return _with_titles(frame, movies)


def _movie_id(movie, movies: pd.DataFrame | None) -> int:
    if isinstance(movie, str):
        if movies is None:
            raise TypeError(f"to look up the title {movie!r} pass movies=<the movies table>")
        return find_movie(movie, movies)
    return _check_int(movie, "movie")


# --------------------------------------------------------------------------------------------
# Fold-in: a new user from a few ratings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewUser:
    """A user folded into a model: ``model`` is the original model plus one user row
    (``user_id``), ``bias`` and ``factors`` (shape (k,)) are that row, ``ratings`` the user's
    ratings as a table (userId, movieId, title, rating) usable as ``exclude``/``train``."""

    model: MFModel
    user_id: int
    bias: float
    factors: np.ndarray
    ratings: pd.DataFrame


def _check_stars(stars) -> str | None:
    """A problem with one rating value, or None if it is a valid half star in 0.5–5."""
    if not math.isfinite(stars):
        return f"{stars} is not a number of stars"
    if not MIN_STARS <= stars <= MAX_STARS:
        return f"{stars} is outside {MIN_STARS}–{MAX_STARS} stars"
    if stars * 2 != round(stars * 2):
        return f"{stars} is not on the half-star grid (0.5, 1, 1.5, …, 5)"
    return None


def parse_ratings(
    ratings: Mapping, movies: pd.DataFrame, model: MFModel | None = None
) -> pd.DataFrame:
    """Check a ``{title or movieId: stars}`` dict and resolve it to movieIds.

    Returns a table with columns movieId, title, rating (in dict order). Raises ``TypeError`` for
    a non-dict, a key that is neither a title nor a movieId, or stars that are not a number;
    ``ValueError`` (listing every problem at once) for an empty dict, unknown or ambiguous titles
    (with suggestions), ratings outside 0.5–5 or off the half-star grid, the same movie rated
    twice, and (when ``model`` is given) movies the model has no factors for.
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
        if model is not None and model.item_index([movie_id])[0] < 0:
            problems.append(
                f"{table.at[movie_id, 'title']!r} has no ratings in the model's training data, so "
                "the model knows nothing about it; leave it out"
            )
            continue
        rows.append((movie_id, table.at[movie_id, "title"], stars))
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ValueError(f"{len(problems)} problem(s) with the ratings:\n{listing}")
    return pd.DataFrame(rows, columns=["movieId", "title", "rating"])


def fold_in(
    model: MFModel,
    ratings: Mapping,
    *,
    movies: pd.DataFrame,
    reg: float | None = None,
    weighted: bool | None = None,
    user_id: int | None = None,
) -> NewUser:
    """Fold a new user into ``model`` from a ``{title or movieId: stars}`` dict, no retraining.

    With the item factors :math:`q_i` and biases :math:`b_i` fixed, the user's bias and factors
    solve one ridge problem — the ALS user half-step (:func:`helpers.als.als_half_step`), run on
    this one user:

    .. math:: \\min_{b_u, p_u} \\sum_{i \\in I_u} (r_{ui} - \\mu - b_i - b_u - p_u^\\top q_i)^2
              + \\lambda_u (b_u^2 + \\lVert p_u \\rVert^2)

    i.e. design rows :math:`[1, q_i^\\top]`, targets :math:`r_{ui} - \\mu - b_i`, and
    :math:`\\lambda_u = \\lambda` or :math:`\\lambda |I_u|` when ``weighted`` (ALS-WR). ``reg`` and
    ``weighted`` default to the model's own ``params`` (those of the ALS fit). The new user gets
    ``user_id`` (default: one more than the largest known id). Input errors: see
    :func:`parse_ratings`.
    """
    _check_model(model)
    if reg is None:
        if "reg" not in model.params:
            raise ValueError(
                f"model {model.name!r} records no 'reg' in its params; pass reg= explicitly"
            )
        reg = model.params["reg"]
    if isinstance(reg, bool) or not isinstance(reg, numbers.Real):
        raise TypeError(f"reg must be a number, got {type(reg).__name__} {reg!r}")
    if not (math.isfinite(reg) and reg > 0):
        raise ValueError(f"reg must be a positive finite number, got {reg!r}")
    if weighted is None:
        weighted = bool(model.params.get("weighted", False))
    if user_id is None:
        user_id = int(model.user_ids.max()) + 1 if model.n_users else 0
    user_id = _check_int(user_id, "user_id")
    if model.user_index([user_id])[0] >= 0:
        raise ValueError(f"user_id {user_id} is already in the model; choose another id")
    table = parse_ratings(ratings, movies, model)

    # One row of ratings, grouped like matrix.by_user, solved by the ALS user half-step itself.
    items = model.item_index(table["movieId"].to_numpy())
    one_row = csr_from_triples(
        np.zeros(len(items)), items, table["rating"].to_numpy(), 1, model.n_items
    )
    bias, factors = als_half_step(
        one_row,
        model.item_factors,
        model.item_bias,
        model.global_mean,
        reg=float(reg),
        weighted=bool(weighted),
    )
    bias, factors = float(bias[0]), factors[0]
    # user_ids must stay ascending: insert the new row where its id belongs
    pos = int(np.searchsorted(model.user_ids, user_id))
    new_model = dataclasses.replace(
        model,
        user_ids=np.insert(model.user_ids, pos, user_id),
        user_bias=np.insert(model.user_bias, pos, bias),
        user_factors=np.insert(model.user_factors, pos, factors, axis=0),
        params=dict(model.params),
        history={key: list(values) for key, values in model.history.items()},
    )
    table.insert(0, "userId", user_id)
    return NewUser(new_model, user_id, bias, factors, table)


# --------------------------------------------------------------------------------------------
# Explanations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """Why ``model`` predicts what it does for one user and one movie.

    ``parts`` (global mean, user bias, item bias, factor term; stars) sum to ``prediction``
    (unclipped); ``clipped`` is what ``model.predict`` returns. ``support`` lists the user's own
    rated movies that most support the prediction (see :func:`explain`).
    """

    user_id: int
    movie_id: int
    title: str
    parts: pd.Series
    prediction: float
    clipped: float
    support: pd.DataFrame

    def __str__(self) -> str:
        lines = [f"user {self.user_id}, {self.title}:"]
        lines += [f"  {name:<12} {value:+.3f}" for name, value in self.parts.items()]
        lines.append(f"  {'= predicted':<12} {self.prediction:.3f} (clipped: {self.clipped:.3f})")
        return "\n".join(lines)


def explain(
    model: MFModel,
    user_id: int,
    movie: int | str,
    *,
    train: pd.DataFrame,
    movies: pd.DataFrame,
    n: int = 5,
    counts=None,
    min_ratings: int = 0,
) -> Explanation:
    """Split the prediction for (``user_id``, ``movie``) into its parts and find its support.

    Parts: :math:`\\mu`, :math:`b_u`, :math:`b_i` and :math:`p_u^\\top q_i`, summing (in that
    order) to the unclipped prediction. Support comes from the other movies :math:`j` the user
    rated in ``train``: ``similarity`` is the cosine of :math:`q_i` and :math:`q_j`, and
    ``support = max(similarity, 0) × (rating − the user's mean rating)``. A similar movie the
    user rated above their own mean pushes the prediction up, one rated below pushes it down;
    dissimilar movies say nothing. Returned: at most ``n`` movies that push in the direction of
    the prediction (up if it is at least the user's mean rating, else down), strongest first.
    With ``min_ratings > 0`` (and ``counts``: the training ratings or a Series movieId -> number
    of ratings) movies with fewer ratings are left out, for the reason given in
    :func:`similar_movies`. Models without factors get an empty support table.
    """
    _check_model(model)
    u = _user_row(model, user_id)
    n = _check_int(n, "n", minimum=1)
    min_ratings = _check_int(min_ratings, "min_ratings", minimum=0)
    if min_ratings > 0 and counts is None:
        raise TypeError("min_ratings needs counts= (the training ratings)")
    movie_id = _movie_id(movie, movies)
    i = int(model.item_index([movie_id])[0])
    if i < 0:
        raise ValueError(f"movie {movie_id} is not in the model: it had no training ratings")
    if not isinstance(train, pd.DataFrame):
        raise TypeError(f"train must be the training ratings DataFrame, got {type(train).__name__}")
    mine = train.loc[train["userId"] == user_id, ["movieId", "rating"]]
    mine = mine.loc[(mine["movieId"] != movie_id).to_numpy()]
    # the factor term and the sum exactly as MFModel.predict_index computes them
    factor = (
        float(np.einsum("nk,nk->n", model.user_factors[[u]], model.item_factors[[i]])[0])
        if model.k
        else 0.0
    )
    parts = pd.Series(
        {
            "global mean": float(model.global_mean),
            "user bias": float(model.user_bias[u]),
            "item bias": float(model.item_bias[i]),
            "factor term": factor,
        },
        name="stars",
    )
    prediction = float(model.predict_index(np.array([u]), np.array([i]), clip=False)[0])
    clipped = float(model.clip(np.array(prediction)))

    support = pd.DataFrame(
        {"movieId": np.array([], dtype=np.int64)}
        | {col: np.array([], dtype=np.float64) for col in ("rating", "similarity", "support")}
    )
    if model.k and len(mine):
        mean = float(mine["rating"].mean())
        rated = model.item_index(mine["movieId"].to_numpy())
        keep = rated >= 0
        if min_ratings > 0:
            keep &= _counts_for(model, counts)[rated] >= min_ratings
        rated, ids = rated[keep], mine["movieId"].to_numpy()[keep]
        stars = mine["rating"].to_numpy(dtype=np.float64)[keep]
        Q = model.item_factors
        norms = np.linalg.norm(Q[rated], axis=1) * np.linalg.norm(Q[i])
        with np.errstate(invalid="ignore", divide="ignore"):
            sims = np.nan_to_num(Q[rated] @ Q[i] / norms, nan=0.0)
        push = np.maximum(sims, 0.0) * (stars - mean)
        direction = 1.0 if prediction >= mean else -1.0
        helpful = np.flatnonzero(direction * push > 0)
        order = helpful[np.lexsort((ids[helpful], -direction * push[helpful]))][:n]
        support = pd.DataFrame(
            {
                "movieId": ids[order],
                "rating": stars[order],
                "similarity": sims[order],
                "support": push[order],
            }
        )
    title = str(_title_index(movies).table["title"].get(movie_id, f"movieId {movie_id}"))
    return Explanation(
        user_id=int(user_id),
        movie_id=movie_id,
        title=title,
        parts=parts,
        prediction=prediction,
        clipped=clipped,
        support=_with_titles(support, movies).drop(columns=["year", "genres"]),
    )
