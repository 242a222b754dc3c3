"""Loaders for every MovieLens file format (on small files written here), cleaning, validation,
and the pinned copy of ml-latest-small in data/."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import download
from helpers.data import (
    load_links,
    load_movies,
    load_ratings,
    load_tags,
    to_datetime,
    validate_ratings,
)
from helpers.download import fetch_movielens
from helpers.schema import parse_year, split_genres

REPO = Path(download.__file__).resolve().parents[1]
PINNED = REPO / "data" / "ml-latest-small"
RATING_DTYPES = {
    "userId": "int32",
    "movieId": "int32",
    "rating": "float64",
    "timestamp": "datetime64[s, UTC]",
}


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {col: str(dtype) for col, dtype in df.dtypes.items()}


# ----------------------------------------------------------------------------- the pinned copy


def test_pinned_copy_matches_the_sha256_list():
    expected = download.REGISTRY["ml-latest-small"].files
    assert sorted(expected) == ["README.txt", "links.csv", "movies.csv", "ratings.csv", "tags.csv"]
    for name, digest in expected.items():
        assert download.sha256_file(PINNED / name) == digest, name
    assert download.is_verified(PINNED, expected)


def test_data_readme_lists_the_same_sha256():
    text = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    listed = dict((n, d) for d, n in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, re.MULTILINE))
    assert listed == dict(download.REGISTRY["ml-latest-small"].files)


def test_pinned_copy_is_used_without_network(monkeypatch):
    monkeypatch.delenv(download.DATA_DIR_ENV, raising=False)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was contacted")

    monkeypatch.setattr(download.requests, "get", no_network)
    assert fetch_movielens(force=False) == PINNED
    assert len(load_ratings()) == 100836


def test_pinned_ratings_and_movies():
    ratings = load_ratings()
    assert dtypes(ratings) == RATING_DTYPES
    assert ratings.shape == (100836, 4)
    assert (ratings.userId.nunique(), ratings.movieId.nunique()) == (610, 9724)
    assert ratings.timestamp.min() == utc("1996-03-29 18:36:55")
    assert ratings.timestamp.max() == utc("2018-09-24 14:27:30")
    movies = load_movies()
    assert movies.shape == (9742, 4)
    assert movies.movieId.is_unique
    assert not movies.title.str.endswith(" ").any()  # 11 raw titles end with a space
    assert movies.year.isna().sum() == 12
    assert movies.genres.map(len).eq(0).sum() == 34
    assert set(ratings.movieId) <= set(movies.movieId)


def test_pinned_tags_and_links():
    tags = load_tags()
    assert tags.shape == (3683, 4)
    assert str(tags.timestamp.dtype) == "datetime64[s, UTC]"
    links = load_links()
    assert dtypes(links) == {"movieId": "int32", "imdbId": "int32", "tmdbId": "Int32"}
    assert links.tmdbId.isna().sum() == 8
    assert links.loc[links.movieId == 1, "imdbId"].item() == 114709  # Toy Story, tt0114709


# ----------------------------------------------------------------------------- cleaning


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("Toy Story (1995)", 1995),
        ("Runaway Brain (1995) ", 1995),  # trailing space, as in the real file
        ("2001: A Space Odyssey (1968)", 1968),
        ("(500) Days of Summer (2009)", 2009),
        ("Assembly (Ji jie hao) (2007) ", 2007),
        ("Death Note: Desu nôto (2006–2007)", 2006),  # a range: first year
        ("Babylon 5", None),
        ("Big (1988) extended cut", None),
    ],
)
def test_parse_year(title, year):
    got = parse_year(pd.Series([title]))
    assert str(got.dtype) == "Int16"
    assert (pd.isna(got[0]) and year is None) or got[0] == year


def test_split_genres():
    got = split_genres(pd.Series(["Adventure|Animation|Children", "Drama", "(no genres listed)"]))
    assert got.tolist() == [["Adventure", "Animation", "Children"], ["Drama"], []]


def test_to_datetime_is_utc_seconds():
    got = to_datetime(pd.Series([0, 964982703], dtype="int64"))
    assert str(got.dtype) == "datetime64[s, UTC]"
    assert got.tolist() == [utc("1970-01-01 00:00:00"), utc("2000-07-30 18:45:03")]


def ratings_frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating"])


def test_validate_accepts_the_half_star_grid():
    grid = np.arange(0.5, 5.01, 0.5)
    validate_ratings(ratings_frame([(1, i, r) for i, r in enumerate(grid)]))


@pytest.mark.parametrize(
    ("bad", "shown"), [(5.5, "5.5"), (0.0, "0"), (3.25, "3.25"), (-1.0, "-1"), (np.nan, "nan")]
)
def test_validate_rejects_ratings_off_the_scale_or_grid(bad, shown):
    df = ratings_frame([(1, 1, 4.0), (1, 2, 3.5), (2, 1, bad)])
    with pytest.raises(
        ValueError, match=rf"1 rating\(s\) outside 0\.5–5 .* at rows 2 \(row: rating = 2: {shown}\)"
    ):
        validate_ratings(df)


def test_validate_rejects_duplicate_pairs_naming_their_rows():
    df = ratings_frame([(1, 1, 4.0), (1, 2, 3.5), (2, 1, 5.0), (1, 2, 1.0), (2, 1, 2.0)])
    msg = (
        r"2 duplicate \(userId, movieId\) pair\(s\): "
        r"userId=1, movieId=2 at rows 1, 3; userId=2, movieId=1 at rows 2, 4"
    )
    with pytest.raises(ValueError, match=msg):
        validate_ratings(df)


def test_validate_lists_at_most_five_rows():
    df = ratings_frame([(1, i, 7.0) for i in range(8)])
    with pytest.raises(ValueError, match=r"8 rating\(s\) .* at rows 0, 1, 2, 3, 4 and 3 more"):
        validate_ratings(df)


def test_validate_needs_a_table_with_the_columns():
    with pytest.raises(ValueError, match=r"ratings lacks column\(s\) \['movieId'\]"):
        validate_ratings(pd.DataFrame({"userId": [1], "rating": [4.0]}))
    with pytest.raises(TypeError, match=r"ratings must be a DataFrame with columns"):
        validate_ratings([(1, 1, 4.0)])
    validate_ratings(ratings_frame([]))  # an empty table has nothing wrong with it


# ----------------------------------------------------------------------------- file formats


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))


CSV_RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,0.5,0\n2,1,5.0,1537799250\n"
CSV_MOVIES = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
    '3,"Misérables, Les (1995) ",(no genres listed)\n'
    "7,NA,Drama\n"
)


@pytest.mark.parametrize("variant", ["ml-latest-small", "ml-20m", "ml-25m"])
def test_csv_variants(tmp_path, variant):
    write(tmp_path, "ratings.csv", CSV_RATINGS)
    write(tmp_path, "movies.csv", CSV_MOVIES)
    write(tmp_path, "tags.csv", "userId,movieId,tag,timestamp\n2,1,funny,1445714994\n2,3,NA,0\n")
    write(tmp_path, "links.csv", "movieId,imdbId,tmdbId\n1,0114709,862\n3,0113497,\n")

    ratings = load_ratings(variant, folder=tmp_path)
    assert dtypes(ratings) == RATING_DTYPES
    assert ratings.rating.tolist() == [4.0, 0.5, 5.0]
    assert ratings.timestamp.tolist() == [
        utc("2000-07-30 18:45:03"),
        utc("1970-01-01"),
        utc("2018-09-24 14:27:30"),
    ]

    movies = load_movies(variant, folder=tmp_path)
    assert movies.movieId.tolist() == [1, 3, 7]
    assert movies.title.tolist() == ["Toy Story (1995)", "Misérables, Les (1995)", "NA"]
    assert movies.year.tolist() == [1995, 1995, pd.NA]
    assert movies.genres.tolist() == [
        ["Adventure", "Animation", "Children", "Comedy", "Fantasy"],
        [],
        ["Drama"],
    ]

    tags = load_tags(variant, folder=tmp_path)
    assert tags.tag.tolist() == ["funny", "NA"]  # a tag "NA" is text, not a missing value
    assert tags.timestamp.tolist() == [utc("2015-10-24 19:29:54"), utc("1970-01-01")]

    links = load_links(variant, folder=tmp_path)
    assert links.imdbId.tolist() == [114709, 113497]
    assert links.tmdbId.tolist() == [862, pd.NA]


def test_ml100k_format(tmp_path):
    write(tmp_path, "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t0\n")
    flags = "|".join(["0"] * 19)
    kids_comedy = "|".join(["0", "0", "0", "1", "1", "1"] + ["0"] * 13)
    unknown_only = "|".join(["1"] + ["0"] * 18)
    item = (
        f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|{kids_comedy}\n"
        f"267|unknown||||{unknown_only}\n"
        f"1300|Ménage (Tenue de soirée) (1986)|01-Jan-1986||http://x|{flags}\n"
    )
    write(tmp_path, "u.item", item, encoding="latin-1")
    ratings = load_ratings("ml-100k", folder=tmp_path)
    assert dtypes(ratings) == RATING_DTYPES
    assert ratings[["userId", "movieId", "rating"]].values.tolist() == [
        [196, 242, 3],
        [186, 302, 3],
        [22, 377, 1],
    ]
    assert ratings.timestamp[0] == utc("1997-12-04 15:55:49")
    movies = load_movies("ml-100k", folder=tmp_path)
    assert movies.title.tolist() == [
        "Toy Story (1995)",
        "unknown",
        "Ménage (Tenue de soirée) (1986)",
    ]
    assert movies.year.tolist() == [1995, pd.NA, 1986]
    assert movies.genres.tolist() == [["Animation", "Children's", "Comedy"], [], []]


def test_ml1m_format_is_latin1(tmp_path):
    write(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n")
    movies_dat = (
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "1002::Ed's Next Move (1996)::Comedy\n"
        "2::Star Wars: Episode IV - A New Hope (1977)::Action|Adventure|Sci-Fi\n"
        "3::Misérables, Les (1935)::Drama\n"
    )
    write(tmp_path, "movies.dat", movies_dat, encoding="latin-1")
    ratings = load_ratings("ml-1m", folder=tmp_path)
    assert dtypes(ratings) == RATING_DTYPES
    assert ratings[["userId", "movieId", "rating"]].values.tolist() == [[1, 1193, 5], [1, 661, 3]]
    assert ratings.timestamp[0] == utc("2000-12-31 22:12:40")
    movies = load_movies("ml-1m", folder=tmp_path)
    assert str(movies.movieId.dtype) == "int32"
    assert movies.title.tolist()[2:] == [
        "Star Wars: Episode IV - A New Hope (1977)",
        "Misérables, Les (1935)",
    ]
    assert movies.year.tolist() == [1995, 1996, 1977, 1935]
    assert movies.genres[0] == ["Animation", "Children's", "Comedy"]


def test_ml10m_format_with_half_stars(tmp_path):
    write(tmp_path, "ratings.dat", "1::122::5::838985046\n2::185::3.5::868245777\n")
    write(
        tmp_path,
        "movies.dat",
        "8::Tom and Huck (1995)::Adventure|Children\n9::Amélie (2001)::(no genres listed)\n",
    )
    ratings = load_ratings("ml-10m", folder=tmp_path)
    assert ratings.rating.tolist() == [5.0, 3.5]
    movies = load_movies("ml-10m", folder=tmp_path)
    assert movies.title.tolist() == ["Tom and Huck (1995)", "Amélie (2001)"]
    assert movies.genres.tolist() == [["Adventure", "Children"], []]


# ----------------------------------------------------------------------------- loader errors


def test_load_ratings_validates_by_default(tmp_path):
    write(tmp_path, "ratings.csv", CSV_RATINGS + "1,1,3.0,5\n2,9,4.7,6\n")
    with pytest.raises(ValueError, match=r"at rows 4 \(row: rating = 4: 4\.7\)"):
        load_ratings(folder=tmp_path)
    write(tmp_path, "ratings.csv", CSV_RATINGS + "1,1,3.0,5\n")
    with pytest.raises(ValueError, match=r"userId=1, movieId=1 at rows 0, 3"):
        load_ratings(folder=tmp_path)
    assert len(load_ratings(folder=tmp_path, validate=False)) == 4


def test_duplicate_movie_ids_are_an_error(tmp_path):
    write(tmp_path, "movies.csv", CSV_MOVIES + "1,Toy Story again (1995),Comedy\n")
    with pytest.raises(ValueError, match=r"duplicate movieId at rows 0, 3"):
        load_movies(folder=tmp_path)


def test_unexpected_columns_are_an_error(tmp_path):
    write(tmp_path, "ratings.csv", "user,movieId,rating,timestamp\n1,1,4.0,0\n")
    with pytest.raises(
        ValueError, match=r"ratings\.csv: columns \['user', 'movieId', 'rating', 'timestamp'\]"
    ):
        load_ratings(folder=tmp_path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ratings\.csv not found in"):
        load_ratings(folder=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no such folder"):
        load_movies(folder=tmp_path / "nowhere")


def test_unsupported_variants(tmp_path):
    with pytest.raises(
        ValueError, match=r"variant must be one of \[.*'ml-latest-small'.*\], got 'ml-5m'"
    ):
        load_ratings("ml-5m", folder=tmp_path)
    with pytest.raises(ValueError, match=r"variant must be one of \[.*\], got 'ml-5m'"):
        load_movies("ml-5m", folder=tmp_path)
    with pytest.raises(TypeError, match=r"variant must be a string, one of"):
        load_ratings(None, folder=tmp_path)
    with pytest.raises(ValueError, match=r"variant must be one of \['ml-20m', .*\], got 'ml-1m'"):
        load_tags("ml-1m", folder=tmp_path)
    with pytest.raises(ValueError, match=r"variant must be one of \['ml-20m', .*\], got 'ml-100k'"):
        load_links("ml-100k", folder=tmp_path)
    with pytest.raises(TypeError, match=r"validate must be True or False, got str 'no'"):
        load_ratings(folder=tmp_path, validate="no")
    with pytest.raises(ValueError, match=r"ml-10m is not downloadable here; pass folder="):
        load_ratings("ml-10m")


def test_loader_years_agree_with_the_title_split_on_every_pinned_title():
    """load_movies (vectorised parse_year) and title search (split_title per title) read the same
    year from each of the 9,742 titles."""
    from helpers.schema import split_title

    raw = pd.read_csv(PINNED / "movies.csv", dtype=str, na_filter=False)
    split = pd.array([split_title(t)[1] for t in raw["title"]], dtype="Int16")
    assert len(raw) == 9742
    pd.testing.assert_series_equal(
        load_movies()["year"], pd.Series(split, name="year"), check_index=False
    )
