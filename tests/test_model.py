"""Tests of helpers.model.MFModel: hand-computed predictions, clipping, unseen policy, shapes."""

import numpy as np
import pandas as pd
import pytest

from helpers.model import MFModel, empty_factors


def small_model(**changes) -> MFModel:
    """Two users (ids 10, 20), three movies (ids 1, 2, 3), k = 2, mu = 3."""
    fields = dict(
        global_mean=3.0,
        user_bias=np.array([0.5, -0.5]),
        item_bias=np.array([0.25, 0.0, -1.0]),
        user_factors=np.array([[1.0, 0.0], [0.5, 2.0]]),
        item_factors=np.array([[0.2, 0.1], [-1.0, 1.0], [0.0, 0.5]]),
        user_ids=np.array([10, 20]),
        item_ids=np.array([1, 2, 3]),
        name="hand",
    )
    fields.update(changes)
    return MFModel(**fields)


def test_hand_computed_predictions():
    model = small_model()
    # user 10, movie 1: 3 + 0.5 + 0.25 + (1*0.2 + 0*0.1) = 3.95
    # user 20, movie 2: 3 - 0.5 + 0 + (0.5*-1 + 2*1) = 4.0
    # user 20, movie 3: 3 - 0.5 - 1 + (0 + 2*0.5) = 2.5
    got = model.predict([10, 20, 20], [1, 2, 3])
    np.testing.assert_allclose(got, [3.95, 4.0, 2.5])
    np.testing.assert_allclose(model.predict_index([0, 1, 1], [0, 1, 2]), [3.95, 4.0, 2.5])


def test_predictions_are_clipped_to_the_rating_scale():
    model = small_model(user_bias=np.array([5.0, -9.0]))
    raw = model.predict([10, 20], [1, 2], clip=False)
    np.testing.assert_allclose(raw, [3 + 5 + 0.25 + 0.2, 3 - 9 + 0 + 1.5])
    np.testing.assert_allclose(model.predict([10, 20], [1, 2]), [5.0, 0.5])


def test_unseen_policy():
    model = small_model()
    users = [99, 10, 99, 20]  # 99 is unknown
    items = [1, 77, 88, 3]  # 77 and 88 are unknown
    expected = [
        3.0 + 0.25,  # unseen user -> mu + b_i
        3.0 + 0.5,  # unseen movie -> mu + b_u
        3.0,  # both unseen -> mu
        2.5,  # both known: the full model
    ]
    np.testing.assert_allclose(model.predict(users, items), expected)
    np.testing.assert_allclose(model.predict_index([-1, 0, -1], [0, -1, -1]), expected[:3])


def test_unseen_policy_result_is_clipped_too():
    model = small_model(global_mean=4.0, item_bias=np.array([3.0, 0.0, 0.0]))
    assert model.predict([99], [1])[0] == 5.0


def test_score_rows_of_all_items_by_hand():
    model = small_model()
    np.testing.assert_allclose(model.score_rows([1])[0], [2.75 + 0.3, 2.5 + 1.5, 1.5 + 1.0])


def test_model_without_factors():
    model = small_model(user_factors=empty_factors(2), item_factors=empty_factors(3))
    assert model.k == 0
    np.testing.assert_allclose(model.predict([10, 20], [1, 3]), [3.75, 1.5])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"user_bias": np.zeros(3)}, r"user_bias has leading shape \(3,\), expected \(2,\)"),
        ({"item_bias": np.zeros(2)}, r"item_bias has leading shape \(2,\), expected \(3,\)"),
        ({"user_factors": np.zeros((3, 2))}, "user_factors has leading shape"),
        ({"item_factors": np.zeros((3, 4))}, "user_factors has k=2 but item_factors has k=4"),
    ],
)
def test_shape_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        small_model(**changes)


def test_predict_needs_pairs_of_equal_shape():
    with pytest.raises(ValueError, match="users and items must have the same shape"):
        small_model().predict([10, 20], [1])


def test_repr_is_short_and_stable():
    assert repr(small_model()) == (
        "MFModel(name='hand', users=2, items=3, k=2, global_mean=3.0000)"
    )


def test_predict_in_chunks_equals_one_gather(monkeypatch):
    rng = np.random.default_rng(3)
    model = small_model(user_factors=rng.normal(size=(2, 2)), item_factors=rng.normal(size=(3, 2)))
    users = rng.choice([10, 20, 99], size=(7, 5))  # 99: unseen user
    items = rng.choice([1, 2, 3, 42], size=(7, 5))  # 42: unseen movie
    u, i = model.user_index(users), model.item_index(items)
    seen = (u >= 0) & (i >= 0)
    expected = (
        model.global_mean
        + np.where(u >= 0, model.user_bias[u], 0.0)
        + np.where(i >= 0, model.item_bias[i], 0.0)
        + np.where(seen, np.sum(model.user_factors[u] * model.item_factors[i], axis=-1), 0.0)
    )
    monkeypatch.setattr("helpers.model.PREDICT_CHUNK", 3)
    got = model.predict(users, items, clip=False)
    assert got.shape == users.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_equality_is_identity_not_an_array_comparison():
    # dataclass == on array fields used to raise "truth value of an array is ambiguous"
    from helpers.matrix import build_matrix

    a, b = small_model(), small_model()
    assert a == a and a != b
    frame = pd.DataFrame({"userId": [1, 2], "movieId": [5, 5], "rating": [3.0, 4.0]})
    m1, m2 = build_matrix(frame), build_matrix(frame)
    assert m1 != m2 and m1.by_user != m2.by_user and m1 == m1


def test_score_rows_applies_the_unseen_policy_like_predict():
    model = small_model()
    scores = model.score_rows([0, -1], [2, -1, 0])
    want = model.predict([10, 99], [3, 3], clip=False)
    np.testing.assert_allclose(scores[:, 0], want)
    np.testing.assert_allclose(scores[:, 1], [3.0 + 0.5, 3.0])  # unseen movie: mu + b_u
    np.testing.assert_allclose(model.score([10, 99], [3, 77, 1]), scores)


def test_a_ranking_model_refuses_to_predict_stars():
    model = small_model(predicts_stars=False)
    with pytest.raises(TypeError, match="fitted to rank movies, not to predict stars"):
        model.predict([10], [1])
    assert model.score([10], [1]).shape == (1, 1)
