"""Solutions of notebook 07's exercises (recommendations)."""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np

from helpers.als import fit_als
from helpers.data import load_movies, load_ratings
from helpers.foldin import RidgeFoldIn
from helpers.recommend import fold_in, top_n


@cache
def notebook_model():
    return fit_als(load_ratings(), k=50, reg=0.1, iterations=10, weighted=True, seed=0)


def most_similar(Q, row, n):
    unit = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    cosine = unit @ unit[row]
    cosine[row] = -np.inf  # never the movie itself
    return np.argsort(-cosine, kind="stable")[:n]


def ex_07_1():
    return most_similar


def ex_07_2() -> float:
    model = dataclasses.replace(notebook_model(), fold_in=RidgeFoldIn(1.0, weighted=True))
    ratings = {"Toy Story (1995)": 5, "Alien (1979)": 1, "Notting Hill (1999)": 4}
    return float(np.linalg.norm(fold_in(model, ratings, movies=load_movies()).factors))


def ex_07_3() -> list[str]:
    ratings = load_ratings()
    recs = top_n(
        notebook_model(),
        414,
        5,
        exclude=ratings,
        movies=load_movies(),
        counts=ratings,
        min_ratings=50,
    )
    return recs["title"].tolist()


def ex_07_4() -> str:
    return "a"  # lambda * n_i is 0.1 for a movie with one rating: almost no shrinkage
