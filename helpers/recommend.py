"""Recommendations people can read: top-N, similar movies, a new user folded in, explanations.

Everything here works with any :class:`~helpers.model.MFModel` of the series (baselines, SGD, SVD,
ALS, and models fitted to rank, ``predicts_stars=False``). Scores come from the model's one
scoring method, :meth:`~helpers.model.MFModel.score_rows` (unclipped, with the series' unseen
policy), and lists are cut by :func:`helpers.metrics.top_k` (highest score first, ties to the
smaller movieId), the same selection the ranking metrics use. Titles are matched by
:mod:`helpers.titles`.

* :func:`top_n` ranks the movies a user has not rated by the model's (unclipped) score.
* :func:`similar_movies` ranks movies by cosine similarity of their item factors, skipping movies
  with few ratings: their factors are mostly the regularisation prior, so cosines with them are
  noise.
* :func:`fold_in` adds a new user from a ``{title or movieId: stars}`` dict with the rule the
  model's own fit recorded (``model.fold_in``, e.g. :class:`helpers.foldin.RidgeFoldIn`): the
  user's half of the algorithm's objective with every item parameter fixed, no retraining.
* :func:`explain` splits a score into global mean + user bias + item bias + factor term and lists
  the user's own rated movies that most support it (a model that predicts stars).
* :func:`explain_ranking` splits the score of an implicit-ALS ranker into one exact contribution
  per movie the user rated (Hu, Koren & Volinsky 2008, section 5), from the model's own fold-in
  rule.
* :func:`guarded` wraps a scorer so that movies with few training ratings rank last: the
  ``min_ratings`` guard of :func:`top_n` as a :class:`~helpers.model.Scorer`, for the ranking
  metrics.

Bad input raises ``ValueError`` (wrong value) or ``TypeError`` (wrong kind of value) with a message
that says what to fix. Title errors are :class:`helpers.titles.TitleError`, a ``ValueError``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.checks import check_int, check_ratings
from helpers.implicit_als import ImplicitFoldIn, confidence_weights, preferences
from helpers.metrics import top_k
from helpers.model import MFModel, Scorer
from helpers.schema import ITEM, RATING, USER
from helpers.titles import find_movie, parse_ratings, title_of, with_titles

# --------------------------------------------------------------------------------------------
# Argument checks shared by the public functions
# --------------------------------------------------------------------------------------------


def _check_model(model: MFModel) -> None:
    if not isinstance(model, MFModel):
        raise TypeError(
            f"model must be an MFModel (from a fit_* function), got {type(model).__name__}"
        )


def _user_row(model: MFModel, user_id) -> int:
    user_id = check_int("user_id", user_id)
    u = int(model.user_index([user_id])[0])
    if u < 0:
        raise ValueError(
            f"user {user_id} is not in the model (it knows {model.n_users} users); "
            "a new user can be added with fold_in"
        )
    return u


def _item_row(model: MFModel, movie_id: int) -> int:
    i = int(model.item_index([movie_id])[0])
    if i < 0:
        raise ValueError(f"movie {movie_id} is not in the model: it had no training ratings")
    return i


def _movie_id(movie, movies: pd.DataFrame | None) -> int:
    """A movieId given as such, or a title looked up in ``movies``."""
    if isinstance(movie, str):
        if movies is None:
            raise TypeError(f"to look up the title {movie!r} pass movies=<the movies table>")
        return find_movie(movie, movies)
    return check_int("movie", movie)


def _best(scores: np.ndarray, candidate: np.ndarray, n: int) -> np.ndarray:
    """Columns of the ``n`` highest ``scores`` (m,) among ``candidate`` (m,) bool, best first,
    ties to the smaller column (= smaller movieId: ids are ascending); fewer if fewer qualify."""
    best = top_k(scores[None, :], n, candidate[None, :])[0]
    return best[best >= 0]


# --------------------------------------------------------------------------------------------
# Top-N and similar movies
# --------------------------------------------------------------------------------------------


def _rated_ids(exclude, user_id: int) -> np.ndarray:
    """movieIds to leave out: the user's rows of a ratings table, or any collection of ids."""
    if isinstance(exclude, pd.DataFrame):
        if ITEM not in exclude.columns:
            raise ValueError(f"exclude table lacks a {ITEM} column; it has {list(exclude.columns)}")
        if USER in exclude.columns:
            exclude = exclude.loc[exclude[USER] == user_id]
        return exclude[ITEM].to_numpy()
    if isinstance(exclude, str) or not isinstance(exclude, Iterable):
        raise TypeError(
            "exclude must be the training ratings (DataFrame with userId, movieId) or a "
            f"collection of movieIds, got {type(exclude).__name__}"
        )
    return np.asarray(list(exclude))


def rating_counts(ratings: pd.DataFrame) -> pd.Series:
    """Number of ratings of each movie: a Series indexed by movieId."""
    check_ratings("ratings", ratings, columns=(ITEM,), allow_empty=True)
    return ratings[ITEM].value_counts().sort_index().rename("n_ratings")


def _count_series(counts) -> pd.Series:
    """A Series movieId -> number of ratings, from a ratings table or such a Series."""
    if isinstance(counts, pd.DataFrame):
        counts = rating_counts(counts)
    if not isinstance(counts, pd.Series):
        raise TypeError(
            "counts must be the training ratings (DataFrame) or a Series movieId -> number of "
            f"ratings, got {type(counts).__name__}"
        )
    return counts


def _counts_for(model: MFModel, counts) -> np.ndarray:
    """Ratings per model item, shape (m,), from a ratings table or a Series movieId -> count."""
    return _count_series(counts).reindex(model.item_ids).fillna(0).to_numpy(dtype=np.int64)


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
    """The ``n`` movies with the highest score that user ``user_id`` has not rated.

    ``exclude`` is the training ratings table (its rows for this user are used) or the user's
    rated movieIds; pass ``exclude=()`` deliberately to rank every movie. Candidates are the
    movies the model knows minus the excluded ones and, when ``min_ratings > 0``, minus movies
    with fewer than ``min_ratings`` training ratings (``counts``: the training ratings, or a
    Series movieId -> number of ratings) — lightly regularised models can put movies with one
    enthusiastic rating on top. If there are fewer candidates than ``n``, all of them are
    returned. Ranking uses the unclipped ``model.score_rows`` (clipping would tie everything
    above 5 stars), ties broken by the smaller movieId.

    Columns: movieId, [title, year, genres if ``movies`` is given], score (unclipped), and
    ``predicted`` (clipped to the rating scale: what ``model.predict`` returns) for models that
    predict stars. A model fitted to rank (``predicts_stars=False``) gets no ``predicted``
    column: its scores order movies but are not stars.
    """
    _check_model(model)
    u = _user_row(model, user_id)
    n = check_int("n", n, minimum=1)
    min_ratings = check_int("min_ratings", min_ratings, minimum=0)
    rated = model.item_index(_rated_ids(exclude, int(user_id)))
    candidate = np.ones(model.n_items, dtype=bool)
    if min_ratings > 0:
        if counts is None:
            raise TypeError("min_ratings needs counts= (the training ratings)")
        candidate = _counts_for(model, counts) >= min_ratings
    candidate[rated[rated >= 0]] = False
    scores = model.score_rows([u])[0]
    best = _best(scores, candidate, n)
    columns = {ITEM: model.item_ids[best], "score": scores[best]}
    if model.predicts_stars:
        columns["predicted"] = model.clip(scores[best])
    return with_titles(pd.DataFrame(columns), movies)


@dataclass(frozen=True, eq=False)
class GuardedScorer:
    """A :class:`~helpers.model.Scorer` that ranks movies with fewer than ``min_ratings``
    training ratings after every other movie (made by :func:`guarded`).

    ``score`` returns the wrapped scorer's scores for movies with enough ratings; every other
    movie gets the user's lowest score minus 1 (finite, tied, so among themselves they go by
    movieId). The order of the guarded movies is unchanged, so ranking metrics see exactly the
    lists :func:`top_n` makes with the same ``min_ratings``.
    """

    scorer: Scorer
    counts: pd.Series  # movieId -> number of training ratings
    min_ratings: int
    name: str

    @property
    def item_ids(self) -> np.ndarray:
        return self.scorer.item_ids

    def allowed(self, item_ids) -> np.ndarray:
        """(m,) bool: which raw ``item_ids`` have at least ``min_ratings`` ratings."""
        ids = np.atleast_1d(np.asarray(item_ids))
        return self.counts.reindex(ids).fillna(0).to_numpy() >= self.min_ratings

    def score(self, user_ids, item_ids) -> np.ndarray:
        """Scores (b, m) of raw ``user_ids`` (b,) for raw ``item_ids`` (m,), guarded."""
        scores = np.array(self.scorer.score(user_ids, item_ids), dtype=np.float64)
        if scores.size == 0:
            return scores
        floor = scores.min(axis=1, keepdims=True) - 1.0  # below every movie of the row
        return np.where(self.allowed(item_ids)[None, :], scores, floor)

    def __repr__(self) -> str:
        return f"GuardedScorer(name={self.name!r}, min_ratings={self.min_ratings})"


def guarded(scorer: Scorer, *, counts, min_ratings: int, name: str | None = None) -> GuardedScorer:
    """``scorer`` with the ``min_ratings`` guard of :func:`top_n`, as a Scorer for
    :func:`helpers.metrics.ranking_report`: movies with fewer than ``min_ratings`` ratings in
    ``counts`` (the training ratings, or a Series movieId -> number of ratings) rank last.
    ``name`` defaults to the scorer's name plus the guard."""
    if not all(hasattr(scorer, attr) for attr in ("name", "item_ids", "score")):
        raise TypeError(
            "scorer must be a Scorer (an MFModel, or anything with name, item_ids and "
            f"score(user_ids, item_ids)), got {type(scorer).__name__}"
        )
    min_ratings = check_int("min_ratings", min_ratings, minimum=0)
    if name is None:
        name = f"{scorer.name}, ≥ {min_ratings} ratings"
    elif not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    return GuardedScorer(scorer, _count_series(counts), min_ratings, name)


def _cosines(factors: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Cosine of every row of ``factors`` (m, k) with the vector ``of`` (k,); 0 for a zero
    vector, which is similar to nothing."""
    norms = np.linalg.norm(factors, axis=1) * np.linalg.norm(of)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(factors @ of / norms, nan=0.0)


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

    Similarity is the cosine of the angle between factor vectors, in [-1, 1]; ties go to the
    smaller movieId. ``movie`` is a movieId, or a title when ``movies`` is given. ``counts`` (the
    training ratings, or a Series movieId -> number of ratings) serves the guard: only movies with
    at least ``min_ratings`` ratings are candidates, and asking about a movie with fewer raises
    ``ValueError``. A movie with a handful of ratings has factors that are mostly the
    regularisation prior: the ridge solution is a combination of its raters' taste vectors (with
    one rater, exactly parallel to it) and zero in every other direction, so its cosines say who
    rated it, not what it is. The movie itself is never listed. Columns: movieId, [title, year,
    genres], similarity, n_ratings.
    """
    _check_model(model)
    n = check_int("n", n, minimum=1)
    min_ratings = check_int("min_ratings", min_ratings, minimum=0)
    if model.k == 0:
        raise ValueError(
            f"model {model.name!r} has no latent factors (k=0): similarity of item factors needs "
            "a factor model such as ALS or SGD"
        )
    movie_id = _movie_id(movie, movies)
    i = _item_row(model, movie_id)
    n_ratings = _counts_for(model, counts)
    if n_ratings[i] < min_ratings:
        raise ValueError(
            f"movie {movie_id} has {n_ratings[i]} rating(s), fewer than min_ratings={min_ratings}: "
            "its factors are little more than the regularisation prior and the tastes of its few "
            "raters, so its neighbours would be noise. Lower min_ratings to see them anyway"
        )
    sims = _cosines(model.item_factors, model.item_factors[i])
    candidate = n_ratings >= min_ratings
    candidate[i] = False
    best = _best(sims, candidate, n)
    frame = pd.DataFrame(
        {ITEM: model.item_ids[best], "similarity": sims[best], "n_ratings": n_ratings[best]}
    )
    return with_titles(frame, movies)


# --------------------------------------------------------------------------------------------
# Fold-in: a new user from a few ratings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NewUser:
    """A user folded into a model: ``model`` is the original model plus one user row
    (``user_id``), ``bias`` and ``factors`` (shape (k,)) are that row, ``ratings`` the user's
    ratings as a table (userId, movieId, title, rating) usable as ``exclude``/``train``."""

    model: MFModel
    user_id: int
    bias: float
    factors: np.ndarray
    ratings: pd.DataFrame

    def __repr__(self) -> str:  # short, for notebooks
        return (
            f"NewUser(user_id={self.user_id}, bias={self.bias:+.4f}, k={len(self.factors)}, "
            f"ratings={len(self.ratings)}, model={self.model.name!r})"
        )


def _fold_in_rule(model: MFModel):
    rule = model.fold_in
    if rule is None:
        raise ValueError(
            f"model {model.name!r} records no fold-in rule: its fit does not say how a new user "
            "is solved under its objective (model.fold_in is None), and a rule borrowed from "
            "another algorithm would give a user that is not comparable with the trained ones. "
            "Use a model whose fit records one (ALS, SGD, implicit ALS, the damped biases), or "
            "set one deliberately: dataclasses.replace(model, fold_in=RidgeFoldIn(reg, weighted))"
        )
    if not (callable(getattr(rule, "solve", None)) and callable(getattr(rule, "describe", None))):
        raise TypeError(
            "model.fold_in must be a fold-in rule with .solve(model, item_rows, ratings) and "
            f".describe() (e.g. helpers.foldin.RidgeFoldIn), got {type(rule).__name__}"
        )
    return rule


def fold_in(
    model: MFModel,
    ratings: Mapping,
    *,
    movies: pd.DataFrame,
    user_id: int | None = None,
) -> NewUser:
    """Fold a new user into ``model`` from a ``{title or movieId: stars}`` dict, no retraining.

    The user's bias and factors come from the rule the model's fit recorded in ``model.fold_in``:
    the user's half of that algorithm's objective with every item parameter fixed
    (``model.fold_in.describe()`` says which). For ALS and SGD it is the ridge problem of
    :class:`helpers.foldin.RidgeFoldIn`,

    .. math:: \\min_{b_u, p_u} \\sum_{i \\in I_u} (r_{ui} - \\mu - b_i - b_u - p_u^\\top q_i)^2
              + \\lambda_u (b_u^2 + \\lVert p_u \\rVert^2)

    with :math:`\\lambda_u = \\lambda` (plain ALS, the damped biases) or :math:`\\lambda |I_u|`
    (ALS-WR, and SGD, whose per-rating penalty sums to that). For implicit ALS it is the weighted
    ridge problem over all movies of :class:`helpers.implicit_als.ImplicitFoldIn` (bias 0), the
    user half-step that :func:`explain_ranking` splits into contributions. A model without a rule
    (``fold_in=None``, e.g. the SVD models) raises ``ValueError``. To fold in under a different
    rule on purpose, pass ``dataclasses.replace(model, fold_in=RidgeFoldIn(...))``.

    The new user gets ``user_id`` (default: one more than the largest known id). Input errors: see
    :func:`helpers.titles.parse_ratings`.
    """
    _check_model(model)
    rule = _fold_in_rule(model)
    if user_id is None:
        user_id = int(model.user_ids.max()) + 1 if model.n_users else 0
    user_id = check_int("user_id", user_id)
    if model.user_index([user_id])[0] >= 0:
        raise ValueError(f"user_id {user_id} is already in the model; choose another id")
    table = parse_ratings(ratings, movies, known_ids=model.item_ids)

    items = model.item_index(table[ITEM].to_numpy())
    bias, factors = rule.solve(model, items, table[RATING].to_numpy(dtype=np.float64))
    bias, factors = float(bias), np.asarray(factors, dtype=np.float64)
    if factors.shape != (model.k,):
        raise ValueError(
            f"the fold-in rule {type(rule).__name__} returned factors of shape {factors.shape}, "
            f"expected ({model.k},)"
        )
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
    table.insert(0, USER, user_id)
    return NewUser(new_model, user_id, bias, factors, table)


# --------------------------------------------------------------------------------------------
# Explanations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Explanation:
    """Why ``model`` scores one movie as it does for one user.

    ``parts`` (global mean, user bias, item bias, factor term) sum exactly to ``prediction``, the
    unclipped ``model.score_rows`` score (stars for a rating model). ``clipped`` is what
    ``model.predict`` returns, ``None`` for a model fitted to rank (``predicts_stars=False``),
    whose scores are not stars. ``support`` lists the user's own rated movies that most support
    the score (see :func:`explain`).
    """

    user_id: int
    movie_id: int
    title: str
    parts: pd.Series
    prediction: float
    clipped: float | None
    support: pd.DataFrame

    def __str__(self) -> str:
        lines = [f"user {self.user_id}, {self.title}:"]
        lines += [f"  {name:<12} {value:+.3f}" for name, value in self.parts.items()]
        if self.clipped is None:
            lines.append(f"  {'= score':<12} {self.prediction:.3f}")
        else:
            lines.append(
                f"  {'= predicted':<12} {self.prediction:.3f} (clipped: {self.clipped:.3f})"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Explanation(user_id={self.user_id}, movie_id={self.movie_id}, title={self.title!r}, "
            f"prediction={self.prediction:.4f}, support={len(self.support)} movies)"
        )


def _parts(model: MFModel, u: int, i: int) -> tuple[pd.Series, float]:
    """The score of (row ``u``, row ``i``) from ``model.score_rows`` and its four parts. The
    factor term is ``score_rows`` of the same model with the mean and biases set to zero, so the
    parts, added in order, give exactly the score (``score_rows`` adds mean + b_u + b_i first)."""
    score = float(model.score_rows([u], [i])[0, 0])
    factors_only = dataclasses.replace(
        model,
        global_mean=0.0,
        user_bias=np.zeros(model.n_users),
        item_bias=np.zeros(model.n_items),
    )
    parts = pd.Series(
        {
            "global mean": float(model.global_mean),
            "user bias": float(model.user_bias[u]),
            "item bias": float(model.item_bias[i]),
            "factor term": float(factors_only.score_rows([u], [i])[0, 0]),
        },
        name="score",
    )
    return parts, score


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
    """Split the score of (``user_id``, ``movie``) into its parts and find its support.

    Parts: :math:`\\mu`, :math:`b_u`, :math:`b_i` and :math:`p_u^\\top q_i`, summing (in that
    order) to the unclipped ``model.score_rows`` score. Support comes from the other movies
    :math:`j` the user rated in ``train``: ``similarity`` is the cosine of :math:`q_i` and
    :math:`q_j`, and ``support = max(similarity, 0) × (rating − the user's mean rating)``. A
    similar movie the user rated above their own mean pushes the score up, one rated below pushes
    it down; dissimilar movies say nothing. Returned: at most ``n`` movies that push in the
    direction of the score, strongest first (ties to the smaller movieId). The direction is up if
    the predicted stars are at least the user's mean rating, else down; for a model fitted to rank
    (whose scores are not stars) it is the sign of the factor term. With ``min_ratings > 0`` (and
    ``counts``: the training ratings or a Series movieId -> number of ratings) movies with fewer
    ratings are left out, for the reason given in :func:`similar_movies`. Models without factors
    get an empty support table.
    """
    _check_model(model)
    u = _user_row(model, user_id)
    n = check_int("n", n, minimum=1)
    min_ratings = check_int("min_ratings", min_ratings, minimum=0)
    if min_ratings > 0 and counts is None:
        raise TypeError("min_ratings needs counts= (the training ratings)")
    movie_id = _movie_id(movie, movies)
    i = _item_row(model, movie_id)
    check_ratings("train", train, allow_empty=True)
    parts, score = _parts(model, u, i)
    clipped = float(model.clip(np.array(score))) if model.predicts_stars else None

    mine = train.loc[train[USER] == user_id, [ITEM, RATING]]
    mine = mine.loc[(mine[ITEM] != movie_id).to_numpy()].sort_values(ITEM, kind="stable")
    support = pd.DataFrame(
        {ITEM: np.array([], dtype=np.int64)}
        | {col: np.array([], dtype=np.float64) for col in (RATING, "similarity", "support")}
    )
    if model.k and len(mine):
        mean = float(mine[RATING].mean())
        rated = model.item_index(mine[ITEM].to_numpy())
        keep = rated >= 0
        if min_ratings > 0:
            keep &= _counts_for(model, counts)[rated] >= min_ratings
        rated, ids = rated[keep], mine[ITEM].to_numpy()[keep]
        stars = mine[RATING].to_numpy(dtype=np.float64)[keep]
        sims = _cosines(model.item_factors[rated], model.item_factors[i])
        push = np.maximum(sims, 0.0) * (stars - mean)
        reference = score - mean if model.predicts_stars else parts["factor term"]
        toward = push if reference >= 0 else -push
        order = _best(toward, toward > 0, n)
        support = pd.DataFrame(
            {
                ITEM: ids[order],
                RATING: stars[order],
                "similarity": sims[order],
                "support": push[order],
            }
        )
    return Explanation(
        user_id=int(user_id),
        movie_id=movie_id,
        title=title_of(movie_id, movies),
        parts=parts,
        prediction=score,
        clipped=clipped,
        support=with_titles(support, movies).drop(columns=["year", "genres"]),
    )


# --------------------------------------------------------------------------------------------
# Explanations of a ranker: implicit ALS (Hu, Koren & Volinsky 2008, section 5)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RankingExplanation:
    """Why an implicit-ALS ranker scores one movie as it does for one user.

    ``contributions`` holds the ``n`` largest terms :math:`s^u_{ij} c_{uj} p_{uj}` of the user's
    rated movies :math:`j` (columns movieId, title, rating, confidence :math:`c_{uj}`, preference
    :math:`p_{uj}`, similarity :math:`s^u_{ij}`, contribution), largest first; ``rest`` is the
    sum of the other ``n_rated - len(contributions)`` terms. Together they give ``explained``
    (the score of the user's exact half-step, :math:`\\hat x_u^\\top y_i`); ``score`` is the
    model's own score and ``gap = score - explained`` what the trained factors owe to the
    solver (0 up to rounding for a folded-in user, whose factors are that half-step).
    """

    user_id: int
    movie_id: int
    title: str
    score: float
    explained: float
    contributions: pd.DataFrame
    rest: float
    n_rated: int

    @property
    def gap(self) -> float:
        """``score - explained``: the part of the model's score no rated movie accounts for."""
        return self.score - self.explained

    def __str__(self) -> str:
        shown = len(self.contributions)
        lines = [f"user {self.user_id}, {self.title}: score {self.score:.4f}"]
        lines += [
            f"  {title[:45]:<45} {value:+.4f}"
            for title, value in zip(
                self.contributions["title"], self.contributions["contribution"], strict=True
            )
        ]
        if shown < self.n_rated:
            others = f"the other {self.n_rated - shown} rated movies"
            lines.append(f"  {others:<45} {self.rest:+.4f}")
        lines.append(f"  {f'= sum over the {self.n_rated} rated movies':<45} {self.explained:.4f}")
        lines.append(f"  {'gap (model score - sum)':<45} {self.gap:+.1e}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"RankingExplanation(user_id={self.user_id}, movie_id={self.movie_id}, "
            f"title={self.title!r}, score={self.score:.4f}, explained={self.explained:.4f}, "
            f"contributions={len(self.contributions)} of {self.n_rated} movies)"
        )


def _implicit_rule(model: MFModel) -> ImplicitFoldIn:
    rule = model.fold_in
    if not isinstance(rule, ImplicitFoldIn):
        got = "none (model.fold_in is None)" if rule is None else type(rule).__name__
        raise ValueError(
            f"model {model.name!r} has no implicit-ALS fold-in rule (it records {got}): "
            "explain_ranking splits a score by the user half-step of implicit ALS "
            "(helpers.implicit_als.fit_implicit_als records an ImplicitFoldIn). For a model that "
            "predicts stars use explain()"
        )
    return rule


def explain_ranking(
    model: MFModel,
    user_id: int,
    movie: int | str,
    *,
    train: pd.DataFrame,
    movies: pd.DataFrame,
    n: int = 5,
) -> RankingExplanation:
    """Which of the user's rated movies make an implicit-ALS ranker score ``movie`` as it does.

    The user half-step of implicit ALS (the model's fold-in rule ``model.fold_in``, an
    :class:`~helpers.implicit_als.ImplicitFoldIn`, with its ``reg``, ``alpha``, ``confidence``,
    ``eps`` and ``threshold``) solves :math:`A_u x_u = Y^\\top C_u p_u` with
    :math:`A_u = Y^\\top C_u Y + \\lambda I`. Only the rated movies have :math:`p_{uj} \\ne
    0`, so the score splits exactly into one term per rated movie (Hu, Koren & Volinsky 2008):

    .. math:: \\hat x_u^\\top y_i = \\sum_{j \\in I_u} s^u_{ij}\\, c_{uj}\\, p_{uj},
              \\qquad s^u_{ij} = y_i^\\top A_u^{-1} y_j .

    :math:`s^u_{ij}` is a similarity of movies *i* and *j* in the user's own metric
    :math:`A_u^{-1}` (Hu et al.'s :math:`W^u`). The user's ratings are their rows of ``train``
    (the training ratings, or a folded-in user's ``.ratings``); movies the model does not know
    are ignored. ``movie`` is a movieId, or a title when ``movies`` is given. The result lists
    the ``n`` largest contributions (ties to the smaller movieId) and the sum of the rest; see
    :class:`RankingExplanation`. For a folded-in user the terms add up to the model's score; for
    a trained user they add up to the score of one more exact user half-step, and ``gap`` says
    how far the trained factors are from it. Costs one k × k solve and O(m k²) for
    :math:`Y^\\top Y`.
    """
    _check_model(model)
    rule = _implicit_rule(model)
    u = _user_row(model, user_id)
    n = check_int("n", n, minimum=1)
    movie_id = _movie_id(movie, movies)
    i = _item_row(model, movie_id)
    check_ratings("train", train, allow_empty=True)

    mine = train.loc[train[USER] == user_id, [ITEM, RATING]].sort_values(ITEM, kind="stable")
    rows = model.item_index(mine[ITEM].to_numpy())
    known = rows >= 0
    if not known.any():
        raise ValueError(
            f"user {user_id} has no ratings in train of movies the model knows: there is nothing "
            "to explain the score with (pass the training ratings, or a folded-in user's .ratings)"
        )
    rows, ids = rows[known], mine[ITEM].to_numpy()[known]
    stars = mine[RATING].to_numpy(dtype=np.float64)[known]

    y = model.item_factors
    y_u = y[rows]  # (n_u, k) factors of the rated movies
    extra = confidence_weights(stars, alpha=rule.alpha, confidence=rule.confidence, eps=rule.eps)
    prefs = preferences(stars, rule.threshold)
    # Y^T C_u Y + λI = Y^T Y + Y_u^T (C_u - I) Y_u + λI: the matrix of the model's user half-step
    system = y.T @ y + y_u.T @ (extra[:, None] * y_u) + rule.reg * np.eye(model.k)
    similarity = y_u @ np.linalg.solve(system, y[i])  # s_ij = y_j^T A_u^-1 y_i (A_u symmetric)
    confidence = 1.0 + extra
    terms = similarity * confidence * prefs

    top = _best(terms, np.ones(len(terms), dtype=bool), n)
    others = np.ones(len(terms), dtype=bool)
    others[top] = False
    table = pd.DataFrame(
        {
            ITEM: ids[top],
            RATING: stars[top],
            "confidence": confidence[top],
            "preference": prefs[top],
            "similarity": similarity[top],
            "contribution": terms[top],
        }
    )
    table = with_titles(table, movies).drop(columns=["year", "genres"])
    return RankingExplanation(
        user_id=int(user_id),
        movie_id=movie_id,
        title=title_of(movie_id, movies),
        score=float(model.score_rows([u], [i])[0, 0]),
        explained=float(terms.sum()),
        contributions=table,
        rest=float(terms[others].sum()),
        n_rated=len(terms),
    )
