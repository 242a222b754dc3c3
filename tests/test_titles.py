"""Tests of helpers.titles: title matching, the movies table, and ratings dicts resolved to ids."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from helpers.titles import (
    TitleError,
    find_movie,
    find_titles,
    movie_table,
    parse_ratings,
    title_of,
    with_titles,
)

# A few real-looking titles for the matching rules; the rest are "Movie j (2000)".
TITLES = {
    10: "Toy Story (1995)",
    11: "Toy Story 2 (1999)",
    12: "Matrix, The (1999)",
    13: "Emma (1996)",
    14: "Emma (1996)",  # MovieLens lists two different movies under this exact title
    15: "Emma (2009)",
    16: "Hamlet (1948)",
    17: "Hamlet (1996)",
    18: "Babylon 5",  # no year
    19: "Star Wars: Episode IV - A New Hope (1977)",
    20: "Spirited Away (Sen to Chihiro no kamikakushi) (2001)",
    21: "Seven (a.k.a. Se7en) (1995)",
    22: "Death Note: Desu nôto (2006–2007)",  # a range: the first year counts
}


@pytest.fixture(scope="module")
def movies() -> pd.DataFrame:
    ids = np.arange(10, 40)
    titles = [TITLES.get(int(j), f"Movie {j} (2000)") for j in ids]
    genres = ["Adventure|Animation", "(no genres listed)"] + ["Drama"] * (len(ids) - 2)
    return pd.DataFrame({"movieId": ids, "title": titles, "genres": genres})


# --------------------------------------------------------------------------------------------
# find_movie and find_titles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "movie_id"),
    [
        ("Toy Story (1995)", 10),
        ("toy story", 10),
        ("  TOY   story  ", 10),
        ("Toy Story 2", 11),
        ("Matrix, The (1999)", 12),
        ("the matrix", 12),
        ("The Matrix (1999)", 12),
        ("Emma (2009)", 15),
        ("Hamlet (1996)", 17),
        ("babylon 5", 18),
        ("Spirited Away", 20),
        ("sen to chihiro no kamikakushi (2001)", 20),
        ("Se7en", 21),
        ("seven (1995)", 21),
        ("death note: desu nôto (2006)", 22),
        ("Death Note: Desu nôto", 22),
        (14, 14),
        (np.int64(14), 14),
    ],
)
def test_find_movie_matches_case_year_and_article(movies, query, movie_id):
    assert find_movie(query, movies) == movie_id


def test_find_movie_ambiguous_title_lists_the_candidates(movies):
    with pytest.raises(TitleError, match="'Hamlet' is ambiguous: it matches 2 movies") as err:
        find_movie("Hamlet", movies)
    assert "'Hamlet (1948)' (movieId 16)" in str(err.value)
    assert "'Hamlet (1996)' (movieId 17)" in str(err.value)
    # the same title and year twice: only the movieId tells them apart
    with pytest.raises(
        ValueError,
        match=r"matches 2 movies: 'Emma \(1996\)' \(movieId 13\), "
        r"'Emma \(1996\)' \(movieId 14\)\. Add the year, or give the movieId",
    ):
        find_movie("emma (1996)", movies)


def test_find_movie_close_misses_get_suggestions(movies):
    with pytest.raises(
        TitleError,
        match=r"no movie is titled 'Toy Stroy'\. Did you mean: "
        r"'Toy Story \(1995\)' \(movieId 10\)",
    ):
        find_movie("Toy Stroy", movies)
    with pytest.raises(TitleError, match=r"Did you mean: 'Star Wars: Episode IV"):
        find_movie("star wars", movies)
    with pytest.raises(TitleError, match="no title is close; search with find_titles"):
        find_movie("qwertyuiop zzz", movies)


def test_find_movie_bad_queries(movies):
    with pytest.raises(TitleError, match="the title is empty"):
        find_movie("   ", movies)
    with pytest.raises(TitleError, match="there is no movie with movieId 12345"):
        find_movie(12345, movies)
    with pytest.raises(TypeError, match=r"title \(str\) or movieId \(int\), got float 1\.5"):
        find_movie(1.5, movies)
    with pytest.raises(TypeError, match=r"title \(str\) or movieId \(int\), got bool True"):
        find_movie(True, movies)
    with pytest.raises(ValueError, match=r"movies lacks column\(s\) \['title'\]"):
        find_movie("Toy Story", movies[["movieId"]])
    with pytest.raises(TypeError, match=r"movies must be a DataFrame with columns"):
        find_movie("Toy Story", {"movieId": [1]})


def test_find_titles_searches_substrings_then_near_spellings(movies):
    found = find_titles("toy", movies)
    assert found["movieId"].tolist() == [10, 11]
    assert found["title"].tolist() == ["Toy Story (1995)", "Toy Story 2 (1999)"]
    assert list(found.columns) == ["movieId", "title", "year", "genres"]
    assert find_titles("hamlet (1984)", movies)["movieId"].tolist()[0] == 16  # no substring hit
    assert len(find_titles("movie", movies, n=3)) == 3


def test_find_titles_bad_arguments(movies):
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        find_titles("toy", movies, n=0)
    with pytest.raises(TypeError, match=r"n must be an integer, got float 2\.5"):
        find_titles("toy", movies, n=2.5)
    with pytest.raises(TypeError, match="text must be a string, got int"):
        find_titles(10, movies)


# --------------------------------------------------------------------------------------------
# movie_table, with_titles, title_of
# --------------------------------------------------------------------------------------------


def test_movie_table_from_the_raw_table(movies):
    table = movie_table(movies)
    assert table.index.name == "movieId"
    assert table.loc[10].tolist() == ["Toy Story (1995)", 1995, "Adventure, Animation"]
    assert table.loc[11, "genres"] == ""  # "(no genres listed)" shows as nothing
    assert pd.isna(table.loc[18, "year"])
    assert table.loc[22, "year"] == 2006
    assert str(table["year"].dtype) == "Int64"


def test_movie_table_accepts_a_loader_style_table(movies):
    """Genres as lists, titles without their year and a year column, as a loader may give."""
    loaded = movies.assign(
        genres=movies["genres"].str.split("|"),
        year=pd.array([1995, *([pd.NA] * (len(movies) - 1))], dtype="Int16"),
    )
    loaded.loc[0, "title"] = "Toy Story"
    table = movie_table(loaded)
    assert table.loc[10, "genres"] == "Adventure, Animation"
    assert table.loc[10, "year"] == 1995
    assert table.loc[10, "title"] == "Toy Story (1995)"  # the year written back, as movies.csv


def test_with_titles_and_title_of(movies):
    frame = pd.DataFrame({"movieId": [12, 999], "score": [4.5, 3.0]})
    out = with_titles(frame, movies)
    assert list(out.columns) == ["movieId", "title", "year", "genres", "score"]
    assert out.loc[0, "title"] == "Matrix, The (1999)"
    assert pd.isna(out.loc[1, "title"])  # not in the table: a left join
    assert with_titles(frame, None) is frame
    assert title_of(12, movies) == "Matrix, The (1999)"
    assert title_of(999, movies) == "movieId 999"


# --------------------------------------------------------------------------------------------
# parse_ratings
# --------------------------------------------------------------------------------------------


def test_parse_ratings_resolves_titles_in_dict_order(movies):
    table = parse_ratings({"the matrix": 4.5, 10: 5, "Emma (2009)": np.float64(1)}, movies)
    assert table["movieId"].tolist() == [12, 10, 15]
    assert table["title"].tolist() == ["Matrix, The (1999)", "Toy Story (1995)", "Emma (2009)"]
    assert table["rating"].tolist() == [4.5, 5.0, 1.0]
    assert str(table["rating"].dtype) == "float64"


@pytest.mark.parametrize(
    ("ratings", "error", "message"),
    [
        ({}, ValueError, "ratings is empty: rate at least one movie"),
        ([("Toy Story", 5)], TypeError, "ratings must be a dict of title (or movieId) -> stars"),
        (
            {"Toy Stroy": 4},
            ValueError,
            "no movie is titled 'Toy Stroy'. Did you mean: 'Toy Story (1995)'",
        ),
        ({"Nothing Like Any Title At All": 4}, ValueError, "no title is close"),
        ({"Hamlet": 4}, ValueError, "'Hamlet' is ambiguous: it matches 2 movies"),
        ({"Toy Story": 6}, ValueError, "'Toy Story': 6.0 is outside 0.5–5.0 stars"),
        ({"Toy Story": 0}, ValueError, "'Toy Story': 0.0 is outside 0.5–5.0 stars"),
        ({"Toy Story": 3.3}, ValueError, "'Toy Story': 3.3 is not on the half-star grid"),
        ({"Toy Story": float("nan")}, ValueError, "'Toy Story': nan is not a number of stars"),
        ({"Toy Story": "4"}, TypeError, "the rating of 'Toy Story' is '4' (str); give a number"),
        ({"Toy Story": True}, TypeError, "the rating of 'Toy Story' is True (bool)"),
        ({"Toy Story": None}, TypeError, "the rating of 'Toy Story' is None (NoneType)"),
        (
            {1.5: 4},
            TypeError,
            "1.5 is a float; a movie must be given by its title (str) or movieId",
        ),
        ({("Toy Story",): 4}, TypeError, "is a tuple; a movie must be given by its title"),
        (
            {"Toy Story": 4, "toy story (1995)": 5},
            ValueError,
            "'toy story (1995)' and 'Toy Story' are the same movie (Toy Story (1995)); "
            "rate it once",
        ),
        ({12345: 4}, ValueError, "there is no movie with movieId 12345"),
    ],
)
def test_parse_ratings_bad_input_raises_a_clear_error(movies, ratings, error, message):
    with pytest.raises(error, match=re.escape(message)):
        parse_ratings(ratings, movies)


def test_parse_ratings_lists_every_problem_at_once(movies):
    with pytest.raises(ValueError, match=r"^4 problem\(s\) with the ratings:\n  - ") as err:
        parse_ratings({"Toy Story": 6, "Hamlet": 4, "Matrix": 4.25, "Emma (2009)": 2}, movies)
    lines = str(err.value).splitlines()[1:]
    assert len(lines) == 4 and all(line.startswith("  - ") for line in lines)
    assert "6.0 is outside" in lines[0] and "'Hamlet' is ambiguous" in lines[1]
    assert "4.25 is not on the half-star grid" in lines[2]
    assert "no movie is titled 'Matrix'. Did you mean: 'Matrix, The (1999)'" in lines[3]


def test_parse_ratings_known_ids_leave_out_movies_a_model_lacks(movies):
    ok = parse_ratings({"Toy Story": 4}, movies, known_ids=np.array([10, 12]))
    assert ok["movieId"].tolist() == [10]
    with pytest.raises(
        ValueError, match=re.escape("'Hamlet (1948)' has no ratings in the model's training data")
    ):
        parse_ratings({"Toy Story": 4, "Hamlet (1948)": 3}, movies, known_ids=np.array([10, 12]))
