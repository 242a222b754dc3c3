"""Self-check exercises for the notebooks: ``check("03.2", answer)`` says whether an answer is
right without ever showing the right answer.

In a notebook an exercise is three cells: the task in markdown (``describe("03.2")`` gives its
text), a code cell ``answer = ...  # your code`` and a cell ``check("03.2", answer)``, which prints
``✓ right: …`` or ``✗ not yet: <hint>``. An answer is a number, a letter for a multiple choice,
a list of titles, or — for the exercises that ask to derive something — a Python function, which
is compared with the series' helpers on random inputs. Exercises come in three kinds:

* ``predict``: before running anything, predict a number or choose an option;
* ``measure``: change a setting, re-run, and report the number you measured;
* ``derive``: implement a gradient, an update or a closed form as a function.

Checkers that need data load it themselves (``helpers.data``, offline, cached per process), with
the series' conventions (seed 0, the benchmark split ``random_split(ratings, 0.2, seed=0)``).

How a teacher adds an exercise
------------------------------
1. Pick the id ``"NN.k"`` (notebook NN, its k-th self-check) and the kind.
2. Pick how the answer is checked, with one of the builders of this module:

   * ``hashed(digest)`` — a choice or an exact integer that is not computed from data. Store
     ``answer_digest("NN.k", "b")`` (run it once in a shell), never the answer itself: the
     source then shows a SHA-256 digest. (Four options are easy to try by brute force; the
     digest keeps the answer out of sight, it is not a lock.)
   * ``number(compute, abs_tol=…)`` / ``integer(compute)`` / ``numbers(compute, …)`` /
     ``titles(compute)`` — ``compute`` is a function that derives the expected value from the
     data or from a formula when the check runs, so the value is written nowhere.
   * ``same_function(reference, cases)`` — the answer is a function; it must return what
     ``reference`` (a wrapper around the helper) returns on every case that ``cases(rng)``
     draws (seeded).
   * any other callable ``checker(answer, exercise_id) -> str | None`` (``None``: right; a
     string: wrong, with a remark about the answer's *form* — never its expected value).

3. Write the question (what to compute, with every setting, so that one answer is right) and a
   hint that helps without giving the answer away, and register it with ``_add(Exercise(...))``
   in the notebook's section below.
4. Add the solution to ``solutions/sNN.py`` as ``def ex_NN_k(): return <answer>`` and a wrong
   answer to ``WRONG`` in ``tests/test_exercises.py``; the test checks that the solution passes,
   the wrong answer fails with the hint, and that no message contains the expected value.

Messages never contain the expected value: a checker reports only right or wrong, plus a remark
about the form of a wrong answer (a string where a number was asked, a function that raised,
a result of the wrong shape), and the hint is fixed text written with the question.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("predict", "measure", "derive")
RIGHT = "✓ right"
NOT_YET = "✗ not yet"

#: A checker: ``checker(answer, exercise_id)`` is ``None`` when the answer is right, else a remark
#: about the answer's form ("" when the form is fine and only the value is wrong).
Checker = Callable[[Any, str], "str | None"]


@dataclass(frozen=True)
class Exercise:
    """One self-check exercise. ``question`` is Markdown for the notebook's exercise cell;
    ``choices`` lists the options of a multiple choice (letters a, b, … in order)."""

    id: str
    kind: str
    title: str
    question: str
    hint: str
    checker: Checker = field(repr=False)
    choices: tuple[str, ...] = ()

    @property
    def notebook(self) -> str:
        """The two-digit number of the notebook the exercise belongs to."""
        return self.id.split(".")[0]


@dataclass(frozen=True)
class Result:
    """What :func:`verify` found: ``passed`` and the message :func:`check` prints."""

    passed: bool
    message: str


EXERCISES: dict[str, Exercise] = {}


def _add(exercise: Exercise) -> None:
    if exercise.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {exercise.kind!r}")
    if exercise.id in EXERCISES:
        raise ValueError(f"exercise {exercise.id} is registered twice")
    EXERCISES[exercise.id] = exercise


def get(exercise_id: str) -> Exercise:
    """The exercise ``exercise_id`` ("NN.k"); ``KeyError`` naming the notebook's exercises."""
    if not isinstance(exercise_id, str):
        raise TypeError(f"exercise_id must be a string such as '03.2', got {exercise_id!r}")
    if exercise_id not in EXERCISES:
        same = [e for e in EXERCISES if e.split(".")[0] == exercise_id.split(".")[0]]
        known = ", ".join(same) if same else ", ".join(EXERCISES)
        raise KeyError(f"no exercise {exercise_id!r}; exercises: {known}")
    return EXERCISES[exercise_id]


def verify(exercise_id: str, answer) -> Result:
    """Check ``answer`` against exercise ``exercise_id``; see :func:`check` for the message."""
    exercise = get(exercise_id)
    if answer is None or answer is Ellipsis:
        remark = "there is no answer yet (answer is None or ...)."
    else:
        remark = exercise.checker(answer, exercise.id)
    if remark is None:
        return Result(True, f"{RIGHT}: {exercise.id} {exercise.title}")
    return Result(False, f"{NOT_YET}: {remark + ' ' if remark else ''}{exercise.hint}")


def check(exercise_id: str, answer) -> None:
    """Print ``✓ right: <id> <title>`` or ``✗ not yet: <hint>`` for ``answer``.

    Returns nothing, so that the cell shows only the printed line (use :func:`verify` for the
    result as a value). The message never reveals the expected answer.
    """
    print(verify(exercise_id, answer).message)


def exercises_for(notebook: str | int) -> list[Exercise]:
    """The exercises of one notebook (``"03"`` or ``3``), in order."""
    number = f"{int(notebook):02d}"
    return [e for e in EXERCISES.values() if e.notebook == number]


def describe(exercise_id: str) -> str:
    """The exercise as Markdown: title, kind, question and (for a choice) the options."""
    e = get(exercise_id)
    lines = [f"**Exercise {e.id} ({e.kind}): {e.title}.** {e.question}"]
    if e.choices:
        lines.append("")
        lines += [
            f"- ({letter}) {text}" for letter, text in zip("abcdefgh", e.choices, strict=False)
        ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- checkers


def answer_digest(exercise_id: str, answer) -> str:
    """SHA-256 digest under which :func:`hashed` stores the answer of ``exercise_id``: of the
    canonical text of ``answer`` (a letter in lower case without brackets, or an integer)."""
    text = _canonical(answer)
    if text is None:
        raise ValueError(f"answer must be one letter or an integer, got {answer!r}")
    return hashlib.sha256(f"{exercise_id}:{text}".encode()).hexdigest()


def _canonical(answer) -> str | None:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, Integral):
        return str(int(answer))
    if isinstance(answer, Real) and float(answer).is_integer():
        return str(int(answer))
    if isinstance(answer, str):
        text = answer.strip().strip("().").strip().lower()
        if len(text) == 1 and text.isalpha():
            return text
        if text.lstrip("-").isdigit():
            return str(int(text))
    return None


def hashed(digest: str) -> Checker:
    """Right when the answer's :func:`answer_digest` is ``digest`` (a letter or an integer)."""

    def checker(answer, exercise_id: str) -> str | None:
        if _canonical(answer) is None:
            return "answer with one letter (for a choice) or a whole number."
        return None if answer_digest(exercise_id, answer) == digest else ""

    return checker


def _as_number(answer) -> tuple[float | None, str]:
    """(the answer as a float, "") or (None, a remark about its form)."""
    if isinstance(answer, np.ndarray) and answer.size == 1:
        answer = answer.reshape(()).item()
    if isinstance(answer, bool) or not isinstance(answer, Real):
        return None, f"the answer must be one number, got {type(answer).__name__}."
    value = float(answer)
    if not math.isfinite(value):
        return None, "the answer must be a finite number."
    return value, ""


def number(compute: Callable[[], float], *, abs_tol: float = 0.0, rel_tol: float = 0.0) -> Checker:
    """Right when the answer is within ``abs_tol`` or ``rel_tol`` (relative) of ``compute()``."""

    def checker(answer, exercise_id: str) -> str | None:
        value, remark = _as_number(answer)
        if value is None:
            return remark
        expected = float(compute())
        return None if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=abs_tol) else ""

    return checker


def numbers(
    compute: Callable[[], tuple[float, ...]], *, abs_tol: float = 0.0, rel_tol: float = 0.0
) -> Checker:
    """Right when the answer is a sequence of as many numbers as ``compute()``, each within the
    tolerances of its counterpart."""

    def checker(answer, exercise_id: str) -> str | None:
        expected = tuple(float(x) for x in compute())
        if isinstance(answer, str | bytes) or not isinstance(answer, Iterable):
            return f"the answer must be {len(expected)} numbers, e.g. a tuple."
        values = list(answer)
        if len(values) != len(expected):
            return f"the answer must be {len(expected)} numbers, got {len(values)}."
        for value in values:
            number_, remark = _as_number(value)
            if number_ is None:
                return remark
        close = all(
            math.isclose(float(v), e, rel_tol=rel_tol, abs_tol=abs_tol)
            for v, e in zip(values, expected, strict=True)
        )
        return None if close else ""

    return checker


def integer(compute: Callable[[], int]) -> Checker:
    """Right when the answer is the whole number ``compute()``."""

    def checker(answer, exercise_id: str) -> str | None:
        value, remark = _as_number(answer)
        if value is None:
            return remark
        if not value.is_integer():
            return "the answer must be a whole number."
        return None if int(value) == int(compute()) else ""

    return checker


def titles(compute: Callable[[], set[str]]) -> Checker:
    """Right when the answer holds exactly the titles of ``compute()`` (any order, spaces
    around a title and upper/lower case ignored)."""

    def checker(answer, exercise_id: str) -> str | None:
        expected = {t.strip().casefold() for t in compute()}
        if isinstance(answer, str) or not isinstance(answer, Iterable):
            return f"the answer must be a list of {len(expected)} titles."
        given = list(answer)
        if not all(isinstance(t, str) for t in given):
            return "every entry must be a title (a string)."
        if len(given) != len(expected):
            return f"the answer must list {len(expected)} titles, got {len(given)}."
        return None if {t.strip().casefold() for t in given} == expected else ""

    return checker


def _compare(got, want, rtol: float, atol: float) -> tuple[bool, str]:
    """Whether ``got`` matches ``want`` (numbers, arrays, tuples of them), and a remark about
    the form when it cannot (never the expected values)."""
    if isinstance(want, tuple | list):
        if isinstance(got, str) or not isinstance(got, tuple | list):
            return False, f"your function must return {len(want)} values (a tuple)."
        if len(got) != len(want):
            return False, f"your function must return {len(want)} values, it returned {len(got)}."
        results = [_compare(g, w, rtol, atol) for g, w in zip(got, want, strict=True)]
        remarks = [r for ok, r in results if not ok and r]
        return all(ok for ok, _ in results), remarks[0] if remarks else ""
    try:
        got_array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False, f"your function returned {type(got).__name__}, not numbers."
    want_array = np.asarray(want, dtype=np.float64)
    if got_array.shape != want_array.shape:
        return False, (
            f"your function returned shape {got_array.shape}, expected shape {want_array.shape}."
        )
    return bool(np.allclose(got_array, want_array, rtol=rtol, atol=atol, equal_nan=True)), ""


def same_function(
    reference: Callable,
    cases: Callable[[np.random.Generator], list[tuple]],
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    seed: int = 0,
) -> Checker:
    """Right when the answer, a function, returns what ``reference`` returns on each argument
    tuple of ``cases(np.random.default_rng(seed))`` (each call gets its own copies)."""

    def checker(answer, exercise_id: str) -> str | None:
        if not callable(answer):
            return f"the answer must be a function, got {type(answer).__name__}."
        all_cases = cases(np.random.default_rng(seed))
        wrong = 0
        for args in all_cases:
            want = reference(*copy.deepcopy(args))
            try:
                got = answer(*copy.deepcopy(args))
            except Exception as error:  # the student's code: report, do not crash the cell
                text = str(error).splitlines()[0][:160] if str(error) else ""
                return f"your function raised {type(error).__name__}{': ' + text if text else ''}."
            ok, remark = _compare(got, want, rtol, atol)
            if remark:
                return remark
            wrong += not ok
        if wrong:
            return f"your function differs from the helper on {wrong} of {len(all_cases)} inputs."
        return None

    return checker


# ----------------------------------------------------------------------------- shared data


@cache
def _ratings() -> pd.DataFrame:
    from helpers.data import load_ratings

    return load_ratings()


@cache
def _movies() -> pd.DataFrame:
    from helpers.data import load_movies

    return load_movies()


@cache
def _benchmark_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The series' benchmark split: ``random_split(ratings, 0.2, seed=0)`` -> (train, test)."""
    from helpers.splits import random_split

    train, test, _ = random_split(_ratings(), 0.2, seed=0)
    return train, test


@cache
def _benchmark_matrix():
    from helpers.matrix import build_matrix

    return build_matrix(_benchmark_split()[0])


def _test_rmse(model) -> float:
    from helpers.metrics import rmse

    test = _benchmark_split()[1]
    return rmse(test["rating"], model.predict(test["userId"], test["movieId"]))


def _ndcg(scorer, k: int = 10) -> float:
    from helpers.metrics import ranking_report

    train, test = _benchmark_split()
    return ranking_report(scorer, train, test, k=k)["ndcg"]


# =========================================================================== 01 download and clean


@cache
def _raw_titles() -> list[str]:
    """The titles of movies.csv exactly as typed (trailing spaces kept)."""
    from helpers.download import fetch_movielens

    path = fetch_movielens() / "movies.csv"
    return pd.read_csv(path, keep_default_na=False, dtype=str)["title"].tolist()


#: Titles that trip a careless year parser, besides the 9,742 of movies.csv.
_TRICKY_TITLES = [
    "Runaway Brain (1995) ",
    "Babylon 5",
    "Death Note: Desu nôto (2006–2007)",
    "1984 (1984)",
    "2001: A Space Odyssey (1968)",
    "Hyena Road",
    "Stranger Things (2016-)",
    "Untitled (12345)",
    "Year (199)",
    "Big (1988) (remastered)",
    "",
]


def _one_year(value) -> int | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not float(value).is_integer():
        raise TypeError(f"a year must be an int or None, got {value!r}")
    return int(value)


def _check_year_of(answer, exercise_id: str) -> str | None:
    """``year_of`` must agree with ``helpers.schema.parse_year`` on every title of movies.csv
    and on the tricky ones above."""
    from helpers.schema import parse_year

    if not callable(answer):
        return f"the answer must be a function, got {type(answer).__name__}."
    all_titles = _raw_titles() + _TRICKY_TITLES
    want = [_one_year(y) for y in parse_year(pd.Series(all_titles, dtype=str)).tolist()]
    wrong = 0
    for title, expected in zip(all_titles, want, strict=True):
        try:
            got = _one_year(answer(title))
        except TypeError as error:
            if "a year must be" in str(error):
                return "your function must return an int (the year) or None."
            return f"your function raised TypeError: {str(error)[:160]}."
        except Exception as error:
            return f"your function raised {type(error).__name__}: {str(error)[:160]}."
        wrong += got != expected
    if wrong:
        return f"your function is wrong on {wrong:,} of {len(all_titles):,} titles."
    return None


@cache
def _single_five_star_movies() -> int:
    stats = _ratings().groupby("movieId")["rating"].agg(["size", "min"])
    return int(((stats["size"] == 1) & (stats["min"] == 5.0)).sum())


@cache
def _core_density() -> float:
    ratings = _ratings()
    per_movie = ratings["movieId"].map(ratings["movieId"].value_counts())
    kept = ratings[per_movie >= 20]
    per_user = kept["userId"].map(kept["userId"].value_counts())
    kept = kept[per_user >= 20]
    return len(kept) / (kept["userId"].nunique() * kept["movieId"].nunique())


_add(
    Exercise(
        id="01.1",
        kind="predict",
        title="movies rated once, with 5 stars",
        question=(
            "3,446 movies have exactly one rating. Guess how many of them got 5 stars from "
            "their only rater, then count them in `ratings`. Answer with the count."
        ),
        hint=(
            "Group the ratings by movieId and keep the groups of size 1 whose rating is 5.0, "
            "e.g. with ratings.groupby('movieId')['rating'].agg(['size', 'min'])."
        ),
        checker=integer(_single_five_star_movies),
    )
)
_add(
    Exercise(
        id="01.2",
        kind="derive",
        title="a year parser",
        question=(
            "Write `year_of(title)`: the release year at the very end of a title, as an int, "
            "or `None` when the title carries none. Spaces around the title do not count, and "
            "for a range such as `(2006–2007)` or an open one such as `(2016–)` it is the first "
            "year. It must agree with "
            "`helpers.schema.parse_year` on every title of movies.csv (and on some tricky "
            "made-up ones). Answer with the function."
        ),
        hint=(
            "Strip the title first; match four digits in brackets at the end with a regular "
            "expression that also allows an optional '-' or '–' and up to four more digits "
            "before the closing bracket; return None when nothing matches."
        ),
        checker=_check_year_of,
    )
)
_add(
    Exercise(
        id="01.3",
        kind="measure",
        title="the density of the dense core",
        question=(
            "Keep only the ratings of movies with at least 20 ratings, then, of those, only the "
            "ratings of users who still have at least 20. What is the density |Ω| / (n·m) of "
            "what remains (n users and m movies that still have a rating)? The whole matrix "
            "has 0.0170. Answer with the density (a fraction, not a percentage)."
        ),
        hint=(
            "Filter twice with value_counts mapped back onto the rows (movies first, on the "
            "full table; then users, on what is left), then divide the number of remaining "
            "ratings by (number of distinct users × number of distinct movies) among them."
        ),
        checker=number(_core_density, rel_tol=1e-3),
    )
)
_add(
    Exercise(
        id="01.4",
        kind="predict",
        title="the best constant prediction",
        question=(
            "A model predicts the same number of stars for every rating. Which constant has "
            "the lowest RMSE over all 100,836 ratings? Answer with the letter."
        ),
        choices=(
            "3.5 stars, the median rating",
            "3.502 stars, the mean rating",
            "4 stars, the most common rating",
        ),
        hint=(
            "Write the mean squared error of a constant c as a function of c and set its "
            "derivative to zero; then compare with what the other two constants are."
        ),
        checker=hashed("eb4dd6da195c77193f1bf9aa26e9f802494001d9b13928d41b9796710024d5bb"),
    )
)
_add(
    Exercise(
        id="01.5",
        kind="predict",
        title="time zones and New Year",
        question=(
            "A rating has the Unix timestamp 1230768000: midnight UTC on 1 January 2009. In "
            "which calendar year was it given for a user in New York (UTC−5 in winter)? "
            "Answer with the year."
        ),
        hint=(
            "Subtract five hours from midnight on 1 January; check with "
            "pd.Timestamp(1230768000, unit='s', tz='UTC').tz_convert('America/New_York')."
        ),
        checker=hashed("8ada45fbdb9994d4ecd237b6cbf387cbc1b81cf3c6f9aef597e9c4849d0a714e"),
    )
)


# ================================================================================ 02 rating matrix


def _indptr_reference(rows, n_rows):
    from helpers.matrix import csr_from_triples

    rows = np.asarray(rows, dtype=np.int64)
    zeros = np.zeros(len(rows))
    return csr_from_triples(rows, np.zeros(len(rows), np.int64), zeros, n_rows, 1).indptr


def _indptr_cases(rng: np.random.Generator) -> list[tuple]:
    cases = [(np.array([2, 0, 2, 1, 2]), 3), (np.array([], dtype=np.int64), 4), (np.array([3]), 5)]
    for _ in range(15):
        n_rows = int(rng.integers(1, 30))
        rows = rng.integers(0, n_rows, size=int(rng.integers(0, 80)))
        cases.append((rows, n_rows + int(rng.integers(0, 3))))  # sometimes empty last rows
    return cases


def _ml1m_bytes() -> int:
    from helpers.matrix import matrix_bytes

    return matrix_bytes(6_040, 3_706, 1_000_209)


@cache
def _unseen_ratings_seed1() -> int:
    from helpers.splits import random_split

    return random_split(_ratings(), 0.2, seed=1).report.unseen_ratings


_add(
    Exercise(
        id="02.1",
        kind="derive",
        title="the CSR row pointer",
        question=(
            "Write `indptr_of(rows, n_rows)`: the CSR row pointer, shape (n_rows + 1,), of "
            "ratings whose row numbers are `rows` (in any order; a row may have no rating), "
            "so that row u owns positions indptr[u] to indptr[u + 1] - 1 once the ratings "
            "are sorted by row. No loop over rows. Answer with the function."
        ),
        hint=(
            "Count the ratings of every row with np.bincount(rows, minlength=n_rows) and put "
            "the running sum (np.cumsum) after a leading 0."
        ),
        checker=same_function(_indptr_reference, _indptr_cases, rtol=0.0, atol=0.0),
    )
)
_add(
    Exercise(
        id="02.2",
        kind="predict",
        title="the memory of ml-1m",
        question=(
            "MovieLens 1M has 6,040 users, 3,706 movies and 1,000,209 ratings. How many bytes "
            "does its `RatingMatrix` hold (both id maps, the triples and both CSR groupings)? "
            "Answer with the number of bytes."
        ),
        hint=(
            "Use the notebook's formula 16 (n + m + 1) + 56 |Ω| bytes: 8 bytes per id and per "
            "indptr entry, and per rating 16 bytes of triples plus 20 in each CSR grouping."
        ),
        checker=integer(_ml1m_bytes),
    )
)
_add(
    Exercise(
        id="02.3",
        kind="measure",
        title="another seed, other unseen ratings",
        question=(
            "With `random_split(ratings, 0.2, seed=0)`, 859 test ratings involve a user or a "
            "movie that the training set never saw. How many are there with `seed=1`? "
            "Answer with the count."
        ),
        hint="The split's report counts them: look at the fields of split.report.",
        checker=integer(_unseen_ratings_seed1),
    )
)
_add(
    Exercise(
        id="02.4",
        kind="predict",
        title="no unseen users, no leakage",
        question=(
            "Which split has neither unseen test users nor per-user leakage (no test rating "
            "older than the same user's newest training rating)? Answer with the letter."
        ),
        choices=(
            "random 20%",
            "per user 20%",
            "the global temporal cut at the 80% quantile",
            "the last 5 ratings of every user",
        ),
        hint=(
            "Ask of each split what it keeps for training from every user, and whether what it "
            "tests can be older than what it trains on; the table of section 6 has both numbers."
        ),
        checker=hashed("2ebe4a331c333be0f9226f74aab8619cacd4d04a1c69b4570ce69f6bb4c85e5e"),
    )
)


# ========================================================================================== 03 SGD


def _sgd_step_reference(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    """One step of ``helpers.sgd.sgd_epoch_reference`` on one rating: (b_u, b_i, p_u, q_i)."""
    from helpers.sgd import sgd_epoch_reference

    P, Q = np.array([p_u], dtype=np.float64), np.array([q_i], dtype=np.float64)
    bu, bi = np.array([b_u], dtype=np.float64), np.array([b_i], dtype=np.float64)
    one = np.zeros(1, dtype=np.int64)
    sgd_epoch_reference(one, one, np.array([r], float), P, Q, bu, bi, mu=mu, lr=lr, reg=reg)
    return bu[0], bi[0], P[0], Q[0]


def _sgd_step_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(12):
        k = int(rng.integers(1, 6))
        cases.append(
            (
                float(rng.integers(1, 11) / 2),  # r, stars
                3.5,  # mu
                float(rng.normal(0, 0.3)),  # b_u
                float(rng.normal(0, 0.3)),  # b_i
                rng.normal(0, 0.5, k),  # p_u
                rng.normal(0, 0.5, k),  # q_i
                float(rng.choice([0.01, 0.05, 0.2])),  # lr
                float(rng.choice([0.0, 0.05, 0.5])),  # reg
            )
        )
    return cases


@cache
def _biases_only_rmse() -> float:
    from helpers.sgd import fit_sgd

    train, _ = _benchmark_split()
    return _test_rmse(fit_sgd(train, k=0, lr=0.01, reg=0.5, epochs=25, seed=0))


_add(
    Exercise(
        id="03.1",
        kind="derive",
        title="one SGD step",
        question=(
            "Write `sgd_step(r, mu, b_u, b_i, p_u, q_i, lr, reg)` that returns the new "
            "`(b_u, b_i, p_u, q_i)` after one SGD step on the rating `r` of the biased model "
            "(section 4's rule, all four parameters moved simultaneously from their old "
            "values). `p_u`, `q_i` are NumPy vectors; do not modify them in place. Answer with "
            "the function."
        ),
        hint=(
            "Compute the error e = r - (mu + b_u + b_i + p_u @ q_i) once, at the old values; "
            "then every parameter moves by lr times (e times its partner in the prediction "
            "minus reg times itself); a bias's partner is 1."
        ),
        checker=same_function(_sgd_step_reference, _sgd_step_cases),
    )
)
_add(
    Exercise(
        id="03.2",
        kind="predict",
        title="the tutorial's α and β",
        question=(
            "The 2010 tutorial runs with α = 0.0002 and β = 0.02. Which learning rate γ and "
            "penalty λ of the textbook update (quirk 1) take the same steps? Answer with the "
            "pair `(gamma, lam)`."
        ),
        hint=(
            "Write both updates of p_ik side by side and match the factor in front of "
            "e·q_kj, then the one in front of p_ik."
        ),
        checker=numbers(lambda: (2 * 0.0002, 0.02 / 2), rel_tol=1e-9),
    )
)
_add(
    Exercise(
        id="03.3",
        kind="predict",
        title="when a mini-batch overshoots",
        question=(
            "A user with c ratings in one mini-batch gets one summed bias step, which "
            "overshoots once c·γ·(1 + λ) > 2. At γ = 0.02 and λ = 0.05, from how many ratings "
            "of one user per batch on does that happen? Answer with the threshold c* as a "
            "number (not rounded)."
        ),
        hint="Solve c·γ·(1 + λ) = 2 for c.",
        checker=number(lambda: 2 / (0.02 * (1 + 0.05)), abs_tol=0.01),
    )
)
_add(
    Exercise(
        id="03.4",
        kind="measure",
        title="biases with a heavy penalty",
        question=(
            "The biases alone (`k=0`, `lr=0.01`, `reg=0.05`, 25 epochs) reach a test RMSE of "
            "0.8664. Refit them with ten times the penalty, "
            "`fit_sgd(train, k=0, lr=0.01, reg=0.5, epochs=25, seed=0)`, on "
            "`train, test, _ = random_split(ratings, 0.2, seed=0)`. What is the test RMSE? "
            "Answer with the number."
        ),
        hint=(
            "Fit exactly that model and score it with "
            "rmse(test.rating, model.predict(test.userId, test.movieId)); round to 4 decimals "
            "or more."
        ),
        checker=number(_biases_only_rmse, abs_tol=5e-4),
    )
)
_add(
    Exercise(
        id="03.5",
        kind="predict",
        title="factors that start at zero",
        question=(
            "Biased SGD starts with every user and movie factor exactly 0 (instead of small "
            "random numbers). What does it learn? Answer with the letter."
        ),
        choices=(
            "nothing: every parameter stays 0",
            "the biases only: the factors stay 0",
            "the same model as from a random start, only more slowly",
            "it diverges",
        ),
        hint=(
            "Look at the gradient of a rating's loss with respect to p_u and to q_i at p = q = 0, "
            "and at the gradient with respect to b_u."
        ),
        checker=hashed("0a8351b614dc2b7d4d284e8184aaab57ef59dfc0fba6da4ad26153e20f15b0b9"),
    )
)


# ================================================================================== 04 SVD and ALS


def _user_update_reference(Q, item_bias, mu, items, stars, reg, weighted):
    """``helpers.als.als_half_step`` on a matrix with this one user: (b_u, p_u)."""
    from helpers.als import als_half_step
    from helpers.matrix import csr_from_triples

    items = np.asarray(items, dtype=np.int64)
    csr = csr_from_triples(np.zeros(len(items), np.int64), items, stars, 1, len(Q))
    bias, factors = als_half_step(csr, Q, item_bias, mu, reg=reg, weighted=weighted, workers=1)
    return float(bias[0]), factors[0]


def _user_update_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n_ratings, weighted in [(1, True), (2, False), (3, True), (7, False), (12, True)]:
        m, k = 25, int(rng.integers(2, 6))
        items = np.sort(rng.choice(m, size=n_ratings, replace=False))
        stars = rng.integers(1, 11, size=n_ratings) / 2
        Q, item_bias = rng.normal(0, 0.5, (m, k)), rng.normal(0, 0.3, m)
        cases.append(
            (Q, item_bias, 3.5, items, stars, float(rng.choice([0.05, 0.5, 5.0])), weighted)
        )
    return cases


def _discarded_energy() -> float:
    s = np.array([6.0, 4.0, 3.0, 2.0, 1.0])
    return float(np.sqrt(np.sum(s[2:] ** 2)))


@cache
def _als_k10_rmse() -> float:
    from helpers.als import fit_als

    train, _ = _benchmark_split()
    return _test_rmse(fit_als(train, k=10, reg=0.1, iterations=10, weighted=True, seed=0))


_add(
    Exercise(
        id="04.1",
        kind="derive",
        title="one user's ALS update",
        question=(
            "Write `user_update(Q, item_bias, mu, items, stars, reg, weighted)` returning "
            "`(b_u, p_u)`: the exact minimiser of user u's part of the ALS objective with the "
            "movies fixed. `items` are the row numbers (into `Q`, `item_bias`) of the movies "
            "the user rated, `stars` their ratings; the penalty is `reg` (plain) or "
            "`reg * len(items)` (`weighted=True`, ALS-WR). Answer with the function."
        ),
        hint=(
            "Stack the design rows [1, q_i] into Z, the targets y = stars - mu - item_bias[items], "
            "and solve (Z^T Z + lambda_u I) x = Z^T y with np.linalg.solve; x[0] is b_u, "
            "x[1:] is p_u."
        ),
        checker=same_function(_user_update_reference, _user_update_cases),
    )
)
_add(
    Exercise(
        id="04.2",
        kind="predict",
        title="what a rank-2 truncation loses",
        question=(
            "A matrix A has the singular values 6, 4, 3, 2 and 1. How far, in the Frobenius "
            "norm, is A from its best rank-2 approximation A₂? Answer with ‖A − A₂‖_F."
        ),
        hint="Eckart–Young: the error is the square root of the sum of the discarded s_j².",
        checker=number(_discarded_energy, abs_tol=1e-3),
    )
)
_add(
    Exercise(
        id="04.3",
        kind="measure",
        title="ALS-WR with fewer factors",
        question=(
            "On the series' benchmark split, `train, test, _ = random_split(ratings, 0.2, "
            "seed=0)`, ALS-WR with k = 50 reaches a test RMSE of 0.8532. Fit "
            "`fit_als(train, k=10, reg=0.1, iterations=10, weighted=True, seed=0)`. What is "
            "its test RMSE? Answer with the number."
        ),
        hint=(
            "Fit exactly that model and score it with "
            "rmse(test.rating, model.predict(test.userId, test.movieId)); note the split's "
            "seed is 0 here, not the notebook's 42."
        ),
        checker=number(_als_k10_rmse, abs_tol=5e-4),
    )
)
_add(
    Exercise(
        id="04.4",
        kind="predict",
        title="whose penalty is heavier",
        question=(
            "Notebook 04 chose λ = 10 for plain ALS and λ = 0.1 for ALS-WR. Which model "
            "penalises the factors of a movie with 3 training ratings more, and which those of "
            "the busiest user (about 2,150 training ratings)? Answer with the letter."
        ),
        choices=(
            "plain ALS for both",
            "plain ALS for the movie, ALS-WR for the busiest user",
            "ALS-WR for both",
            "ALS-WR for the movie, plain ALS for the busiest user",
        ),
        hint="Compare λ_i = λ with λ_i = λ·n_i for each of the two rows.",
        checker=hashed("c88853b02d55d37b3184e8bd41ae3d84b667d7c991ec70c19b070072987b07c8"),
    )
)


#: The exponents of exercise 04.5 and the λ notebook 04 chose for each on validation.
_POWER_REGS = {0.0: 10.0, 0.5: 1.4, 1.0: 0.14}


@cache
def _gain_of_square_root() -> str:
    """04.5's letter: for e = 0 and e = 1 in turn, whether the lightest (10-19 training ratings)
    or the heaviest users (500+) gain more test RMSE from e = 1/2 (benchmark split)."""
    from helpers.als import fit_als
    from helpers.evaluation import error_by_activity

    train, test = _benchmark_split()
    by_bin = {}
    for e, reg in _POWER_REGS.items():
        model = fit_als(train, k=50, reg=reg, iterations=15, reg_exponent=e, seed=0)
        by_bin[e] = error_by_activity(model, train, test).set_index("bin")["rmse"]
    lightest = [by_bin[e]["10-19"] - by_bin[0.5]["10-19"] for e in (0.0, 1.0)]
    heaviest = [by_bin[e]["500+"] - by_bin[0.5]["500+"] for e in (0.0, 1.0)]
    over_plain, over_wr = (bool(lo > hi) for lo, hi in zip(lightest, heaviest, strict=True))
    return {(True, True): "a", (True, False): "b", (False, True): "c", (False, False): "d"}[
        over_plain, over_wr
    ]


def _check_gain_of_square_root(answer, exercise_id: str) -> str | None:
    if _canonical(answer) is None or not _canonical(answer).isalpha():
        return "answer with one letter."
    return None if _canonical(answer) == _gain_of_square_root() else ""


_add(
    Exercise(
        id="04.5",
        kind="measure",
        title="who gains from the square root",
        question=(
            "On the series' benchmark split, `train, test, _ = random_split(ratings, 0.2, "
            "seed=0)`, fit `fit_als(train, k=50, reg=reg, iterations=15, reg_exponent=e, "
            "seed=0)` for the three penalties of section 5 with the λ this notebook chose on "
            "validation: e = 0 with reg = 10, e = 0.5 with reg = 1.4, e = 1 with reg = 0.14. "
            "Score each with `helpers.evaluation.error_by_activity(model, train, test)` (test "
            "RMSE by the user's number of training ratings). The gain of e = 0.5 over another "
            "exponent is that exponent's RMSE minus e = 0.5's, bin by bin. Compare the lightest "
            "users (bin 10-19) with the heaviest (bin 500+): which of the two gain more from "
            "e = 0.5, over e = 0 and over e = 1? Answer with the letter."
        ),
        choices=(
            "the lightest, over e = 0 and over e = 1",
            "the lightest over e = 0, the heaviest over e = 1",
            "the heaviest over e = 0, the lightest over e = 1",
            "the heaviest, over e = 0 and over e = 1",
        ),
        hint=(
            "Fit the three models, put the rmse columns of error_by_activity side by side "
            "(index them by bin) and subtract; then recall which rows each end of the family "
            "holds harder than the square root."
        ),
        checker=_check_gain_of_square_root,
    )
)


# =================================================================================== 05 evaluation


def _ndcg_reference(hits, n_relevant, N):
    from helpers.metrics import ranking_metrics

    hits = np.asarray(hits, dtype=np.float64)[None, :]
    return float(ranking_metrics(hits, np.array([n_relevant]), N)["ndcg"][0])


def _ndcg_cases(rng: np.random.Generator) -> list[tuple]:
    cases = [([1, 0, 0], 1, 3), ([0, 0, 1, 1], 5, 4), ([0, 0, 0, 0, 0], 2, 5), ([1, 1, 1], 3, 3)]
    for _ in range(16):
        N = int(rng.integers(1, 12))
        hits = rng.integers(0, 2, size=N + int(rng.integers(0, 4))).tolist()
        n_relevant = max(1, int(np.sum(hits)) + int(rng.integers(0, 6)))
        cases.append((hits, n_relevant, N))
    return cases


@cache
def _popular_ndcg_at_5() -> float:
    from helpers.baselines import most_popular

    return _ndcg(most_popular(_benchmark_split()[0]), k=5)


@cache
def _biases_cv_rmse() -> float:
    from functools import partial

    from helpers.baselines import fit_biases
    from helpers.evaluation import cross_validate

    fits = {"biases": partial(fit_biases, damping=2.0, iterations=5)}
    return float(cross_validate(fits, _ratings(), n_folds=5, seed=0)["rmse"].mean())


_add(
    Exercise(
        id="05.1",
        kind="derive",
        title="NDCG of one list",
        question=(
            "Write `ndcg_at(hits, n_relevant, N)`: the NDCG@N of one user's list, where `hits` "
            "holds 1 for a relevant movie and 0 otherwise, best first (it may be longer than "
            "N), and `n_relevant` ≥ 1 is the size of the user's relevant set. Answer with the "
            "function."
        ),
        hint=(
            "DCG adds hits[j] / log2(j + 2) for the positions j = 0 … N-1; the ideal DCG puts "
            "min(N, n_relevant) hits at the top; NDCG is their ratio."
        ),
        checker=same_function(_ndcg_reference, _ndcg_cases),
    )
)
_add(
    Exercise(
        id="05.2",
        kind="predict",
        title="a damped bias",
        question=(
            "A movie has a single rating, 5 stars, μ = 3.5 and every user bias is 0. What is "
            "its item bias after one pass of the damped biases with damping β = 2? Answer "
            "with the number."
        ),
        hint=(
            "b_i = Σ (r_ui − μ − b_u) / (β + n_i): the damping acts like β extra ratings at "
            "the mean."
        ),
        checker=number(lambda: (5.0 - 3.5) / (2.0 + 1), abs_tol=1e-6),
    )
)
_add(
    Exercise(
        id="05.3",
        kind="measure",
        title="most popular, shorter lists",
        question=(
            "On the benchmark split, most popular has NDCG@10 = 0.1586. What is its NDCG@5 "
            "under the same rules (relevant = test rating ≥ 4, all unrated training movies "
            "are candidates)? Answer with the number."
        ),
        hint=(
            "ranking_report(most_popular(train), train, test, k=5) — its k is the list length "
            "N of the series' notation."
        ),
        checker=number(_popular_ndcg_at_5, abs_tol=1e-4),
    )
)
_add(
    Exercise(
        id="05.4",
        kind="predict",
        title="per-user RMSE below RMSE",
        question=(
            "ALS-WR's per-user RMSE (0.8301) is below its RMSE over all ratings (0.8532), "
            "although light users are predicted worse (per-user MAE is higher than MAE). Why? "
            "Answer with the letter."
        ),
        choices=(
            "users with many test ratings have larger errors",
            "the per-user RMSE leaves out users with a single test rating",
            "weighting users equally raises the error, but taking each user's square root "
            "before averaging lowers it by more",
            "weighting users equally lowers the error, and taking each user's square root "
            "before averaging lowers it further",
        ),
        hint=(
            "Go from one formula to the other in two steps: first weight every user equally "
            "(root of the mean of the users' mean squared errors), then move the root inside "
            "the average. Which way does each step move the number?"
        ),
        checker=hashed("171645010d4fc5ddeef2fcb919a404f3cae887e1cd21a3b02624b3426f3d644f"),
    )
)
_add(
    Exercise(
        id="05.5",
        kind="measure",
        title="biases, cross-validated",
        question=(
            "Cross-validate the damped biases with damping β = 2 and 5 iterations on F = 5 "
            "folds: `cross_validate({'biases': partial(fit_biases, damping=2.0, "
            "iterations=5)}, ratings, n_folds=5, seed=0)`. What is the mean test RMSE over "
            "the folds? Answer with the number."
        ),
        hint="The table has one row per fold; average its rmse column.",
        checker=number(_biases_cv_rmse, abs_tol=1e-4),
    )
)


# ============================================================================ 06 implicit feedback


def _ease_reference(G, lam):
    from helpers.ease import ease_weights

    return ease_weights(np.array(G, dtype=np.float64), lam)


def _ease_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(6):
        n, m = int(rng.integers(5, 40)), int(rng.integers(2, 12))
        X = (rng.random((n, m)) < 0.3).astype(float)
        cases.append((X.T @ X, float(rng.choice([0.5, 10.0, 300.0]))))
    return cases


def _bpr_reference(p_u, q_i, q_j, b_i, b_j, reg):
    """``helpers.bpr.bpr_gradients`` of one triple: (p_u, q_i, q_j, b_i, b_j)."""
    from helpers.bpr import bpr_gradients

    P, Q = np.array([p_u], float), np.array([q_i, q_j], float)
    b = np.array([b_i, b_j], float)
    grad_p, grad_q, grad_b, _ = bpr_gradients(
        P, Q, b, np.array([0]), np.array([0]), np.array([1]), reg=reg
    )
    return grad_p[0], grad_q[0], grad_q[1], float(grad_b[0]), float(grad_b[1])


def _bpr_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(12):
        k = int(rng.integers(1, 6))
        vectors = [rng.normal(0, 1.0, k) for _ in range(3)]
        cases.append(
            (*vectors, *rng.normal(0, 0.5, 2).tolist(), float(rng.choice([0.0, 0.02, 1.0])))
        )
    return cases


@cache
def _ease_min20_ndcg() -> float:
    from helpers.ease import fit_ease

    return _ndcg(fit_ease(_benchmark_split()[0], reg=300.0, min_ratings=20))


_add(
    Exercise(
        id="06.1",
        kind="derive",
        title="EASE in closed form",
        question=(
            "Write `ease_weights(G, lam)`: EASE's item-item weights for the Gram matrix "
            "G = XᵀX (m × m), B = I − P·diag(1/diag(P)) with P = (G + λI)⁻¹, so that "
            "diag(B) = 0. Do not modify `G`. Answer with the function."
        ),
        hint=(
            "Invert G + lam * I once; divide each column j of P by P[j, j], negate, and set the "
            "diagonal to 0 (B_ij = −P_ij / P_jj for i ≠ j)."
        ),
        checker=same_function(_ease_reference, _ease_cases),
    )
)
_add(
    Exercise(
        id="06.2",
        kind="derive",
        title="BPR's gradient for one triple",
        question=(
            "Write `bpr_triple_gradient(p_u, q_i, q_j, b_i, b_j, reg)`: the gradient of "
            "ℓ(u, i, j) = −log σ(x_uij) + (λ/2)(‖p_u‖² + ‖q_i‖² + ‖q_j‖² + b_i² + b_j²), "
            "x_uij = b_i − b_j + p_uᵀ(q_i − q_j), with respect to `(p_u, q_i, q_j, b_i, b_j)` "
            "(return them in that order). Answer with the function."
        ),
        hint=(
            "With g = σ(−x_uij) = 1 / (1 + exp(x_uij)), the data part of ∂ℓ/∂p_u is "
            "−g (q_i − q_j); do q_i, q_j and the two biases the same way, then add λ times "
            "each parameter."
        ),
        checker=same_function(_bpr_reference, _bpr_cases),
    )
)
_add(
    Exercise(
        id="06.3",
        kind="measure",
        title="EASE on a smaller catalogue",
        question=(
            "Refit EASE on the benchmark training split with a stricter catalogue, "
            "`fit_ease(train, reg=300.0, min_ratings=20)`. What is its test NDCG@10 under "
            "notebook 05's protocol (with `min_ratings=10` it is 0.2999)? Answer with the "
            "number."
        ),
        hint=(
            "ranking_report(model, train, test, k=10)['ndcg'] on random_split(ratings, 0.2, "
            "seed=0)."
        ),
        checker=number(_ease_min20_ndcg, abs_tol=1e-4),
    )
)
_add(
    Exercise(
        id="06.4",
        kind="predict",
        title="a random scorer among 100 negatives",
        question=(
            "In the sampled protocol each relevant test movie is ranked among itself and 100 "
            "sampled negatives. What HR@10 does a scorer get on average if its scores are "
            "random (no ties)? Answer with the number."
        ),
        hint="The relevant movie is equally likely to land at each of the 101 positions.",
        checker=number(lambda: 10 / 101, abs_tol=5e-4),
    )
)


# ============================================================================== 07 recommendations

#: The new user of exercise 07.2.
NEW_USER_07 = {"Toy Story (1995)": 5.0, "Alien (1979)": 1.0, "Notting Hill (1999)": 4.0}


@cache
def _recommender_07():
    """Notebook 07's model: ALS-WR, k = 50, λ = 0.1, 10 iterations, seed 0, on all ratings."""
    from helpers.als import fit_als

    return fit_als(_ratings(), k=50, reg=0.1, iterations=10, weighted=True, seed=0)


def _similar_reference(Q, row, n):
    """``helpers.recommend.similar_movies`` on a model whose movieIds are the rows of ``Q``."""
    from helpers.model import MFModel
    from helpers.recommend import similar_movies

    m, k = Q.shape
    ids = np.arange(m)
    model = MFModel(
        global_mean=0.0,
        user_bias=np.zeros(1),
        item_bias=np.zeros(m),
        user_factors=np.zeros((1, k)),
        item_factors=np.asarray(Q, dtype=np.float64),
        user_ids=np.array([0]),
        item_ids=ids,
    )
    counts = pd.Series(np.ones(m, dtype=np.int64), index=ids)
    return similar_movies(model, int(row), n, counts=counts, min_ratings=1)["movieId"].to_numpy()


def _similar_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(8):
        m, k = int(rng.integers(8, 40)), int(rng.integers(2, 6))
        Q = rng.normal(0, 1, (m, k))
        cases.append((Q, int(rng.integers(0, m)), int(rng.integers(1, 6))))
    Q = np.repeat(rng.normal(0, 1, (3, 2)), 3, axis=0)  # ties: equal directions
    cases.append((Q * rng.uniform(0.5, 2.0, (9, 1)), 4, 5))
    return cases


@cache
def _heavier_fold_in_norm() -> float:
    import dataclasses

    from helpers.foldin import RidgeFoldIn
    from helpers.recommend import fold_in

    model = dataclasses.replace(_recommender_07(), fold_in=RidgeFoldIn(1.0, weighted=True))
    return float(np.linalg.norm(fold_in(model, NEW_USER_07, movies=_movies()).factors))


@cache
def _top5_user_414() -> set[str]:
    from helpers.recommend import top_n

    ratings = _ratings()
    recs = top_n(
        _recommender_07(), 414, 5, exclude=ratings, movies=_movies(), counts=ratings, min_ratings=50
    )
    return set(recs["title"])


_add(
    Exercise(
        id="07.1",
        kind="derive",
        title="neighbours by cosine",
        question=(
            "Write `most_similar(Q, row, n)`: the row numbers of the n movies whose factor "
            "vectors (rows of `Q`) have the largest cosine similarity with row `row`, best "
            "first, never `row` itself, ties going to the smaller row number. Answer with the "
            "function."
        ),
        hint=(
            "Normalise the rows of Q to unit length, take one matrix–vector product with the "
            "unit row, exclude the row itself, and sort with a stable sort on the negated "
            "cosines (np.argsort(-cos, kind='stable'))."
        ),
        checker=same_function(_similar_reference, _similar_cases, rtol=0.0, atol=0.0),
    )
)
_add(
    Exercise(
        id="07.2",
        kind="measure",
        title="a heavier fold-in penalty",
        question=(
            "Fold a new user who rated Toy Story (1995) 5 stars, Alien (1979) 1 star and "
            "Notting Hill (1999) 4 stars into the notebook's rating model, `rating_model` "
            "(`fit_als(ratings, k=50, reg=0.1, iterations=10, weighted=True, seed=0)`), with "
            "ten times its penalty: `RidgeFoldIn(1.0, weighted=True)` as the model's "
            "`fold_in` rule. What is the length ‖p_u‖ of the new user's factors? Answer with "
            "the number."
        ),
        hint=(
            "As in section 5, with the rating model: dataclasses.replace(rating_model, "
            "fold_in=rule), then fold_in(..., movies=movies) and np.linalg.norm of the result's "
            "factors."
        ),
        checker=number(_heavier_fold_in_norm, abs_tol=1e-3),
    )
)
_add(
    Exercise(
        id="07.3",
        kind="measure",
        title="the busiest user's list",
        question=(
            "User 414 rated 2,698 movies, more than anyone. With the notebook's rating model "
            "(`rating_model`, ALS-WR fitted on all ratings), which 5 movies does `top_n` "
            "recommend to this user among movies "
            "with at least 50 ratings (excluding what the user rated)? Answer with the list of "
            "their titles."
        ),
        hint=(
            "top_n(rating_model, 414, 5, exclude=ratings, movies=movies, counts=ratings, "
            "min_ratings=50), then its title column as a list."
        ),
        checker=titles(_top5_user_414),
    )
)
_add(
    Exercise(
        id="07.4",
        kind="predict",
        title="why single ratings top the list",
        question=(
            "Without a guard, ALS-WR's top-10 lists are full of movies with one or two "
            "ratings. Why? Answer with the letter."
        ),
        choices=(
            "ALS-WR's penalty λ·n_i is smallest for them, so b_i and q_i can fit their one "
            "enthusiastic rating",
            "they have the highest mean rating in the data set",
            "ties between scores are broken by movieId",
            "the scores are clipped to 5 stars",
        ),
        hint=(
            "Write λ_i for a movie with n_i = 1 under ALS-WR and ask how far its bias may move "
            "towards that one rating."
        ),
        checker=hashed("af8b9142ac3e9200984efef1314744e852e598d655712ecec1ee14607c0f2900"),
    )
)


# ========================================================================================== 08 NMF


def _mu_update_reference(T, mask, P, Q, reg, eps):
    """``helpers.nmf.mu_half_step`` for the users of the masked dense ``T``: the new P (n, k)."""
    from helpers.matrix import from_dense
    from helpers.nmf import mu_half_step, penalty_weights

    matrix = from_dense(np.where(mask, T, np.nan))
    csr = matrix.by_user
    lam = penalty_weights(csr.counts(), reg, True)
    return mu_half_step(csr, P.T.copy(), Q.T.copy(), csr.values, lam, eps=eps).T


def _mu_update_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(6):
        n, m, k = int(rng.integers(3, 9)), int(rng.integers(3, 9)), int(rng.integers(1, 4))
        T = rng.uniform(0.0, 5.0, (n, m))
        mask = rng.random((n, m)) < 0.6
        mask[np.arange(max(n, m)) % n, np.arange(max(n, m)) % m] = True  # every row and column
        P, Q = rng.uniform(0.1, 1.0, (n, k)), rng.uniform(0.1, 1.0, (m, k))
        cases.append((T, mask, P, Q, float(rng.choice([0.0, 0.1, 1.0])), 1e-12))
    return cases


@cache
def _nmf_k10_rmse() -> float:
    from helpers.nmf import fit_nmf

    train, _ = _benchmark_split()
    return _test_rmse(fit_nmf(train, k=10, iterations=20, reg=0.1, shift=0.5, seed=0))


@cache
def _clipped_share() -> float:
    from helpers.baselines import fit_biases

    matrix = _benchmark_matrix()
    baseline = fit_biases(matrix, damping=2.0, iterations=5)
    residual = matrix.values - baseline.predict_index(matrix.users, matrix.items, clip=False)
    return float(np.mean(residual < -0.75))


_add(
    Exercise(
        id="08.1",
        kind="derive",
        title="one multiplicative update",
        question=(
            "Write `mu_update_P(T, mask, P, Q, reg, eps)`: one masked multiplicative update of "
            "the user factors on dense arrays (the boxed formula of section 1), with "
            "λ_u = reg·n_u (n_u: observed cells in row u) and ε both above and below the line; "
            "`mask` is True on the observed cells and the other cells of `T` must not be "
            "read. Return the new P. Answer with the function."
        ),
        hint=(
            "W = mask as floats; numerator (W∘T) Q + eps; denominator (W∘(P Qᵀ)) Q + λ_u P + "
            "eps, with λ_u = reg * W.sum(axis=1) as a column; multiply P by their ratio."
        ),
        checker=same_function(_mu_update_reference, _mu_update_cases),
    )
)
_add(
    Exercise(
        id="08.2",
        kind="predict",
        title="rotating non-negative factors",
        question=(
            "Replace an NMF model's factors by P·O and Q·O for a random orthogonal k × k "
            "matrix O. What happens? Answer with the letter."
        ),
        choices=(
            "the predictions change",
            "predictions and objective stay the same, but the factors are no longer all "
            "non-negative",
            "nothing changes: the rotated factors are an equally valid NMF",
            "the objective drops",
        ),
        hint="Compute (PO)(QO)ᵀ, and think about the signs of the entries of a random rotation.",
        checker=hashed("2c00c11a31ccce77391a95e5e311412734ff3cf093d640bd9b17fda39a06864d"),
    )
)
_add(
    Exercise(
        id="08.3",
        kind="measure",
        title="NMF with ten parts",
        question=(
            "On the benchmark split, fit `fit_nmf(train, k=10, iterations=20, reg=0.1, "
            "shift=0.5, seed=0)` (HALS, fixed biases). What is its test RMSE? (k = 20 with "
            "30 iterations: 0.8524.) Answer with the number."
        ),
        hint=(
            "Fit exactly that model on random_split(ratings, 0.2, seed=0) and score it with "
            "rmse(test.rating, model.predict(test.userId, test.movieId))."
        ),
        checker=number(_nmf_k10_rmse, abs_tol=5e-4),
    )
)
_add(
    Exercise(
        id="08.4",
        kind="measure",
        title="what a shift of 0.75 clips",
        question=(
            "Section 3 counts the residuals of the damped biases that a shift clips: 22.9% for "
            "s = 0.5. What share of the training residuals does s = 0.75 clip (residual "
            "< −0.75; biases with damping 2 and 5 iterations on the benchmark training "
            "split)? Answer with a fraction, not a percentage."
        ),
        hint=(
            "residual = R.values − baseline.predict_index(R.users, R.items, clip=False), then "
            "the mean of residual < -0.75."
        ),
        checker=number(_clipped_share, abs_tol=5e-4),
    )
)


# ======================================================================================= 09 neural


def _gmf_reference(h, P):
    return np.asarray(P, dtype=np.float64) * np.asarray(h, dtype=np.float64)[None, :]


def _gmf_cases(rng: np.random.Generator) -> list[tuple]:
    return [
        (rng.normal(0, 1, k), rng.normal(0, 1, (n, k)))
        for n, k in [(1, 1), (5, 3), (12, 8), (3, 32)]
    ]


@cache
def _embedding_net_size() -> int:
    import jax

    from helpers.neural_nets import count_weights, init_net

    matrix = _benchmark_matrix()
    weights = init_net(
        jax.random.key(0), n_users=matrix.n_users, n_items=matrix.n_items, mlp_dim=50, hidden=(100,)
    )
    return count_weights(weights)


def _mf_grad_reference(P, Q, user_bias, item_bias, users, items, ratings, mu, reg):
    """∂L/∂P of ``helpers.neural.mf_loss`` by ``jax.grad``, in float64."""
    import jax

    from helpers.neural import mf_loss

    params = {"P": P, "Q": Q, "user_bias": user_bias, "item_bias": item_bias}
    with jax.enable_x64(True):
        grad = jax.grad(mf_loss)(params, users, items, ratings, mu=mu, reg=reg)
        return np.asarray(grad["P"], dtype=np.float64)


def _mf_grad_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    n, m, k, nnz = 8, 10, 3, 30  # one shape: JAX compiles its operations once per shape
    for _ in range(4):
        cells = rng.choice(n * m, size=nnz, replace=False)
        users, items = cells // m, cells % m
        cases.append(
            (
                rng.normal(0, 0.5, (n, k)),
                rng.normal(0, 0.5, (m, k)),
                rng.normal(0, 0.3, n),
                rng.normal(0, 0.3, m),
                users,
                items,
                rng.integers(1, 11, size=nnz) / 2,
                3.5,
                float(rng.choice([0.0, 0.05, 0.5])),
            )
        )
    return cases


_add(
    Exercise(
        id="09.1",
        kind="derive",
        title="GMF is a dot product",
        question=(
            "GMF scores hᵀ(p_u ⊙ q_i). Write `gmf_user_factors(h, P)`: the user factors U "
            "(n × k) of an ordinary dot-product model with the same scores, U·Qᵀ = GMF's "
            "scores for every user and movie (the movie factors stay Q). Answer with the "
            "function."
        ),
        hint="hᵀ(p ⊙ q) = Σ_a h_a p_a q_a: group h_a with p_a.",
        checker=same_function(_gmf_reference, _gmf_cases),
    )
)
_add(
    Exercise(
        id="09.2",
        kind="predict",
        title="how many weights an embedding net has",
        question=(
            "fastai's embedding net of section 5 has user and movie embeddings of 50, one "
            "hidden ReLU layer of 100 fed by both embeddings, and one output. How many "
            "trainable numbers does it have on the benchmark training split (610 users, 8,942 "
            "movies), biases of the layers included? Answer with the count."
        ),
        hint=(
            "Embeddings: (users + movies) × 50; the hidden layer: a (2·50) × 100 weight "
            "matrix and 100 biases; the output: 100 weights and one bias."
        ),
        checker=integer(_embedding_net_size),
    )
)
_add(
    Exercise(
        id="09.3",
        kind="derive",
        title="the gradient autodiff gives",
        question=(
            "Write `mf_grad_P(P, Q, user_bias, item_bias, users, items, ratings, mu, reg)`: the "
            "gradient ∂L/∂P (n × k) of notebook 03's loss "
            "L = Σ ½[e² + λ(b_u² + b_i² + ‖p_u‖² + ‖q_i‖²)] over the ratings "
            "(`users`, `items`: row numbers; `ratings`: stars). It is checked against "
            "`jax.grad(helpers.neural.mf_loss)`. Answer with the function."
        ),
        hint=(
            "Each rating adds −e_ui q_i + λ p_u to row u; sum those rows per user with "
            "np.add.at (a user rated several movies)."
        ),
        checker=same_function(_mf_grad_reference, _mf_grad_cases),
    )
)


# ==================================================================================== 10 scale out


def _expected_blocks_reference(counts, B):
    from benchmarks.spark_scale import expected_blocks

    return expected_blocks(np.asarray(counts), B)


def _expected_blocks_cases(rng: np.random.Generator) -> list[tuple]:
    cases = [(np.array([0, 1, 2, 50]), 1), (np.array([1]), 16), (np.array([0, 0]), 4)]
    for B in (2, 3, 8, 64):
        cases.append((rng.integers(0, 300, size=int(rng.integers(1, 50))), B))
    return cases


@cache
def _shipped_b4() -> int:
    from helpers.spark import shipped_vectors

    return int(sum(v.sum() for v in shipped_vectors(_benchmark_matrix(), 4).values()))


_add(
    Exercise(
        id="10.1",
        kind="derive",
        title="blocks a row reaches, on average",
        question=(
            "Write `expected_blocks(counts, B)`: the expected number of (row, block) pairs when "
            "each row's n ratings fall into B blocks uniformly at random, "
            "Σ_rows B·(1 − (1 − 1/B)^n), for an array `counts` of n per row. Answer with the "
            "function."
        ),
        hint=(
            "A block receives none of a row's n ratings with probability (1 − 1/B)^n; sum "
            "B·(1 − that) over the rows (a row with n = 0 reaches no block)."
        ),
        checker=same_function(_expected_blocks_reference, _expected_blocks_cases),
    )
)
_add(
    Exercise(
        id="10.2",
        kind="measure",
        title="vectors shipped with four blocks",
        question=(
            "With B = 3 blocks per side one iteration of Spark's blocked ALS ships 19,182 "
            "factor vectors on the benchmark training split. How many with B = 4? No Spark "
            "needed: count them with `helpers.spark.shipped_vectors`. Answer with the count."
        ),
        hint=(
            "shipped_vectors(build_matrix(train), 4) returns two tables (users to movie "
            "blocks, movies to user blocks); add up both."
        ),
        checker=integer(_shipped_b4),
    )
)
_add(
    Exercise(
        id="10.3",
        kind="predict",
        title="megabytes per iteration",
        question=(
            "Spark keeps factors as 32-bit floats. At k = 100 factors, how many MB (2²⁰ bytes) "
            "do the vectors of exercise 10.2 (B = 4) weigh per iteration? Answer with the "
            "number."
        ),
        hint="vectors × k × 4 bytes, divided by 2**20.",
        checker=number(lambda: _shipped_b4() * 100 * 4 / 2**20, abs_tol=5e-3),
    )
)
_add(
    Exercise(
        id="10.4",
        kind="predict",
        title="Spark's regParam in the series' terms",
        question=(
            "`pyspark.ml.recommendation.ALS(regParam=0.1)` puts the same penalty on a user's "
            "factors as which fit of the series? Answer with the letter."
        ),
        choices=(
            "fit_als(reg=0.1, weighted=True)",
            "fit_als(reg=0.1, weighted=False)",
            "fit_biases(damping=0.1)",
            "fit_implicit_als(reg=0.1)",
        ),
        hint="Spark's solver calls solve(ls, numExplicits * regParam): what is numExplicits?",
        checker=hashed("b8247520fd08aaf0908ab12e3abe4faae05f900b19896f76d8fbbcb0766b5660"),
    )
)
