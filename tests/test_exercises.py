"""The self-check exercises: every solution passes, a wrong answer fails with the hint, and no
message shows the expected answer. Checkers that need data fit small models (cached per run)."""

from __future__ import annotations

import importlib
import re
import sys
from functools import cache

import numpy as np
import pytest

from helpers import exercises as ex

# ----------------------------------------------------------------------------- wrong answers


def _year_without_strip(title):  # misses the titles with a trailing space
    match = re.search(r"\((\d{4})(?:[-–]\d{0,4})?\)$", title)
    return int(match.group(1)) if match else None


def _indptr_without_zero(rows, n_rows):  # right shape, but the running sum is shifted
    counts = np.bincount(np.asarray(rows, dtype=np.int64), minlength=n_rows)
    return np.r_[np.cumsum(counts), len(rows)]


def _sgd_step_2010_order(r, mu, b_u, b_i, p_u, q_i, lr, reg):  # quirk 1: q_i sees the new p_u
    e = r - (mu + b_u + b_i + p_u @ q_i)
    p_new = p_u + lr * (e * q_i - reg * p_u)
    return (
        b_u + lr * (e - reg * b_u),
        b_i + lr * (e - reg * b_i),
        p_new,
        q_i + lr * (e * p_new - reg * q_i),
    )


def _user_update_plain(Q, item_bias, mu, items, stars, reg, weighted):  # ignores `weighted`
    Z = np.column_stack([np.ones(len(items)), Q[items]])
    x = np.linalg.solve(Z.T @ Z + reg * np.eye(Z.shape[1]), Z.T @ (stars - mu - item_bias[items]))
    return x[0], x[1:]


def _ndcg_ideal_too_long(hits, n_relevant, N):  # the ideal list is not cut at N
    dcg = np.asarray(hits[:N], float) @ (1 / np.log2(np.arange(2, N + 2)))
    return float(dcg / np.sum(1 / np.log2(np.arange(2, n_relevant + 2))))


def _ease_with_diagonal(G, lam):  # forgets diag(B) = 0
    P = np.linalg.inv(G + lam * np.eye(len(G)))
    return -P / np.diag(P)[None, :]


def _bpr_sign_error(p_u, q_i, q_j, b_i, b_j, reg):
    g = 1 / (1 + np.exp(b_i - b_j + p_u @ (q_i - q_j)))
    grad_p = -g * (q_i - q_j) + reg * p_u
    return grad_p, -g * p_u + reg * q_i, -g * p_u + reg * q_j, -g + reg * b_i, g + reg * b_j


def _similar_with_itself(Q, row, n):  # lists the movie itself first
    unit = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    return np.argsort(-(unit @ unit[row]), kind="stable")[:n]


def _mu_update_unweighted(T, mask, P, Q, reg, eps):  # λ instead of λ·n_u
    W = mask.astype(float)
    T = np.where(mask, T, 0.0)
    return P * (T @ Q + eps) / ((W * (P @ Q.T)) @ Q + reg * P + eps)


def _mf_grad_without_penalty(P, Q, user_bias, item_bias, users, items, ratings, mu, reg):
    e = ratings - (mu + user_bias[users] + item_bias[items] + np.sum(P[users] * Q[items], axis=1))
    grad = np.zeros_like(P)
    np.add.at(grad, users, -e[:, None] * Q[items])
    return grad


WRONG = {
    "01.1": 3446,  # every movie rated once
    "01.2": _year_without_strip,
    "01.3": 0.0170,  # the density of the whole matrix
    "01.4": "a",
    "01.5": 2009,
    "02.1": _indptr_without_zero,
    "02.2": 56 * 1_000_209,  # forgets the id maps and indptr
    "02.3": 859,  # the count of seed 0
    "02.4": "c",
    "03.1": _sgd_step_2010_order,
    "03.2": (0.0002, 0.02),
    "03.3": 100.0,  # forgets the (1 + λ)
    "03.4": 0.8664,  # the notebook's reg = 0.05
    "03.5": "a",
    "04.1": _user_update_plain,
    "04.2": 6.0,  # sum of the discarded values instead of the root of their squares
    "04.3": 0.8532,  # k = 50
    "04.4": "a",
    "04.5": "a",  # the lightest users gain most in both comparisons
    "05.1": _ndcg_ideal_too_long,
    "05.2": 1.5,  # without damping
    "05.3": 0.1586,  # NDCG@10
    "05.4": "a",
    "05.5": 0.8652,  # one split instead of five folds
    "06.1": _ease_with_diagonal,
    "06.2": _bpr_sign_error,
    "06.3": 0.2999,  # min_ratings = 10
    "06.4": 0.1,  # 10 / 100
    "07.1": _similar_with_itself,
    "07.2": 2.026,  # the notebook's user with the model's own penalty
    "07.3": [
        "Forrest Gump (1994)",
        "Shawshank Redemption, The (1994)",
        "Pulp Fiction (1994)",
        "Silence of the Lambs, The (1991)",
        "Matrix, The (1999)",
    ],
    "07.4": "c",
    "08.1": _mu_update_unweighted,
    "08.2": "c",
    "08.3": 0.8524,  # k = 20, 30 iterations
    "08.4": 0.229,  # the share for s = 0.5
    "09.1": lambda h, P: P,  # forgets h
    "09.2": (610 + 8_942) * 50,  # the embeddings only
    "09.3": _mf_grad_without_penalty,
    "10.1": lambda counts, B: float(np.minimum(counts, B).sum()),  # the upper bound
    "10.2": 19_182,  # B = 3
    "10.3": 22_800 * 100 * 8 / 2**20,  # float64 instead of float32
    "10.4": "b",
}

REMARKS = (  # the only remarks a wrong answer may get besides the hint
    r"your function differs from the helper on \d+ of \d+ inputs\.",
    r"your function is wrong on [\d,]+ of [\d,]+ titles\.",
    r"your function returned shape \(.*\), expected shape \(.*\)\.",
    r"your function raised \w+(: .*)?\.",
    r"your function must return .*\.",
)


@cache
def solution(exercise_id: str):
    notebook, k = exercise_id.split(".")
    module = importlib.import_module(f"solutions.s{notebook}")
    return getattr(module, f"ex_{notebook}_{k}")()


def _forms(value) -> set[str]:
    """Ways the expected ``value`` could appear in a message."""
    if isinstance(value, str):
        return {value} if len(value) > 1 else {f"({value})", f"'{value}'", f"answer is {value}"}
    if isinstance(value, list | tuple | set):
        return set().union(*(_forms(v) for v in value))
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return set()
    v = float(value)
    if v.is_integer():
        return {str(int(v)), f"{int(v):,}"}
    fixed = {f"{v:.{d}f}" for d in range(2, 7)}
    significant = {f for f in fixed if len(f.lstrip("-0.").replace(".", "")) >= 3}
    return {repr(v)} | significant | {f"{v:.{d}g}" for d in range(3, 8)}


IDS = list(ex.EXERCISES)
VALUE_IDS = [i for i in IDS if not callable(WRONG[i])]
FUNCTION_IDS = [i for i in IDS if callable(WRONG[i])]


# ----------------------------------------------------------------------------- the registry


def test_every_notebook_has_three_to_five_exercises_with_solution_and_wrong_answer():
    for notebook in range(1, 11):
        assert 3 <= len(ex.exercises_for(notebook)) <= 5, notebook
    assert set(WRONG) == set(ex.EXERCISES)
    for exercise_id, exercise in ex.EXERCISES.items():
        assert re.fullmatch(r"\d\d\.\d", exercise_id)
        assert exercise.kind in ex.KINDS and exercise.hint and exercise.question
        notebook, k = exercise_id.split(".")
        assert hasattr(importlib.import_module(f"solutions.s{notebook}"), f"ex_{notebook}_{k}")
    kinds = {e.kind for e in ex.EXERCISES.values()}
    assert kinds == set(ex.KINDS)


def test_unknown_exercise_names_the_notebooks_exercises():
    with pytest.raises(KeyError, match=r"03\.1, 03\.2"):
        ex.check("03.9", 1.0)
    with pytest.raises(TypeError, match="exercise_id"):
        ex.check(3.2, 1.0)


def test_digest_ignores_case_brackets_and_the_type_of_a_whole_number():
    assert ex.answer_digest("01.4", "B") == ex.answer_digest("01.4", " (b) ")
    assert ex.answer_digest("01.5", 2008) == ex.answer_digest("01.5", "2008")
    assert ex.answer_digest("01.5", 2008) == ex.answer_digest("01.5", np.float64(2008.0))
    assert ex.answer_digest("01.4", "b") != ex.answer_digest("02.4", "b")  # salted by the id
    with pytest.raises(ValueError, match="one letter or an integer"):
        ex.answer_digest("01.4", "bc")


def test_describe_gives_question_and_lettered_choices():
    text = ex.describe("01.4")
    assert text.startswith("**Exercise 01.4 (predict): the best constant prediction.**")
    assert "- (a) 3.5 stars, the median rating" in text and "- (c)" in text


# ----------------------------------------------------------------------------- right and wrong


@pytest.mark.parametrize("exercise_id", IDS)
def test_solution_is_right(exercise_id, capsys):
    answer = solution(exercise_id)
    result = ex.verify(exercise_id, answer)
    assert result.passed, result.message
    assert ex.check(exercise_id, answer) is None
    printed = capsys.readouterr().out
    assert printed == f"✓ right: {exercise_id} {ex.get(exercise_id).title}\n"
    if exercise_id in VALUE_IDS:  # the right answer is not repeated either
        assert not any(form in printed for form in _forms(answer))


@pytest.mark.parametrize("exercise_id", IDS)
def test_wrong_answer_gets_the_hint_and_not_the_answer(exercise_id, capsys):
    exercise = ex.get(exercise_id)
    result = ex.verify(exercise_id, WRONG[exercise_id])
    assert not result.passed
    assert result.message.startswith("✗ not yet: ") and result.message.endswith(exercise.hint)
    ex.check(exercise_id, WRONG[exercise_id])
    assert capsys.readouterr().out == result.message + "\n"
    remark = result.message.removeprefix("✗ not yet: ").removesuffix(exercise.hint).strip()
    if exercise_id in FUNCTION_IDS:
        assert any(re.fullmatch(pattern, remark) for pattern in REMARKS), remark
    else:
        assert remark == "", remark  # the right form: only the hint
        expected = solution(exercise_id)
        shown = [result.message, exercise.title, exercise.question]
        leaks = {form for form in _forms(expected) if any(form in text for text in shown)}
        assert not leaks, leaks


@pytest.mark.parametrize("exercise_id", [i for i in IDS if ex.get(i).choices])
def test_every_wrong_choice_gets_the_same_message(exercise_id):
    letters = "abcdefgh"[: len(ex.get(exercise_id).choices)]
    right = solution(exercise_id)
    assert right in letters
    messages = {ex.verify(exercise_id, x).message for x in letters if x != right}
    assert len(messages) == 1


def test_no_answer_yet_is_said_with_the_hint():
    for answer in (None, ...):
        result = ex.verify("03.4", answer)
        assert not result.passed
        assert (
            result.message
            == f"✗ not yet: there is no answer yet (answer is None or ...). {ex.get('03.4').hint}"
        )


def test_answers_of_the_wrong_form_are_named_without_the_value():
    cases = [
        ("03.4", "0.88", "the answer must be one number, got str."),
        ("03.4", float("nan"), "the answer must be a finite number."),
        ("01.1", 2.5, "the answer must be a whole number."),
        ("03.2", 0.0004, "the answer must be 2 numbers, e.g. a tuple."),
        ("03.2", (0.0004,), "the answer must be 2 numbers, got 1."),
        ("07.3", "Toy Story (1995)", "the answer must be a list of 5 titles."),
        ("07.3", ["Toy Story (1995)"], "the answer must list 5 titles, got 1."),
        ("07.3", [1, 2, 3, 4, 5], "every entry must be a title (a string)."),
        ("01.4", "bc", "answer with one letter (for a choice) or a whole number."),
        ("04.1", 0.5, "the answer must be a function, got float."),
        ("01.2", lambda title: "1995", "your function must return an int (the year) or None."),
        (
            "05.1",
            lambda hits, n, N: 1 / 0,
            "your function raised ZeroDivisionError: division by zero.",
        ),
        ("06.2", lambda *args: (1.0, 2.0), "your function must return 5 values, it returned 2."),
        ("06.1", lambda G, lam: G[:1], None),  # a shape remark; shapes vary by case
    ]
    for exercise_id, answer, remark in cases:
        result = ex.verify(exercise_id, answer)
        assert not result.passed
        if remark is None:
            assert "your function returned shape (1, " in result.message
        else:
            assert result.message == f"✗ not yet: {remark} {ex.get(exercise_id).hint}"


def test_a_function_answer_gets_copies_of_the_inputs():
    def sgd_step_in_place(r, mu, b_u, b_i, p_u, q_i, lr, reg):  # right, but mutates its inputs
        e = r - (mu + b_u + b_i + p_u @ q_i)
        p_old = p_u.copy()
        p_u += lr * (e * q_i - reg * p_u)
        q_i += lr * (e * p_old - reg * q_i)
        return b_u + lr * (e - reg * b_u), b_i + lr * (e - reg * b_i), p_u, q_i

    assert ex.verify("03.1", sgd_step_in_place).passed


def test_number_tolerance_is_the_registered_one():
    right = solution("03.3")
    assert ex.verify("03.3", right + 0.009).passed
    assert not ex.verify("03.3", right + 0.011).passed
    assert ex.verify("07.3", [t.upper() + " " for t in solution("07.3")]).passed


def test_the_spark_exercises_start_no_spark():
    for exercise_id in ("10.1", "10.2", "10.3", "10.4"):
        assert ex.verify(exercise_id, solution(exercise_id)).passed
    if "pyspark" in sys.modules:
        from pyspark import SparkContext

        assert SparkContext._active_spark_context is None
