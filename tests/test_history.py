"""helpers.history.Monitor: one history format, train RMSE from arrays or as a value."""

import numpy as np
import pandas as pd
import pytest

from helpers.history import Monitor


def test_train_rmse_from_arrays_or_as_a_value_is_the_same_entry():
    truth, pred = np.array([4.0, 3.0, 5.0]), np.array([3.5, 3.0, 4.0])
    expected = np.sqrt((0.25 + 0.0 + 1.0) / 3)
    by_arrays, by_value = Monitor(objective=True), Monitor(objective=True)
    by_arrays.record(None, objective=2.0, train_true=truth, train_pred=pred)
    by_value.record(None, objective=2.0, train_rmse=expected)
    assert by_arrays.history == by_value.history
    assert by_value.history == {"iteration": [1], "objective": [2.0], "train_rmse": [expected]}
    assert isinstance(by_value.history["train_rmse"][0], float)


def test_a_monitor_without_train_rmse_ignores_it():
    monitor = Monitor(objective=True, train_rmse=False)
    monitor.record(None, objective=1.0, train_rmse=0.5)
    monitor.record(None, objective=0.5)
    assert monitor.history == {"iteration": [1, 2], "objective": [1.0, 0.5]}


def test_a_ranking_monitor_with_valid_needs_train():
    valid = {"userId": [1], "movieId": [2], "rating": [4.0]}
    with pytest.raises(ValueError, match="needs train="):
        Monitor(pd.DataFrame(valid), ranking=True)
