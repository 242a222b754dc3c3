"""One history format for every fit, and the small monitor that writes it.

A fitted model's ``history`` is a dict of equal-length lists, one entry per pass over the data:

* ``"iteration"``: 1, 2, … (an SGD epoch, an ALS iteration, a bias pass: one full pass);
* ``"objective"``: the fit's own loss after the pass, when the algorithm has one it reports;
* ``"train_rmse"`` / ``"valid_rmse"``: stars, clipped predictions (rating models);
* ``"valid_ndcg"``: NDCG@10 on ``valid`` (ranking models);
* any algorithm-specific series (e.g. soft-impute's ``"change"``).

:func:`helpers.plots.plot_history` draws any of them against ``"iteration"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from helpers.checks import check_optional_ratings
from helpers.matrix import RatingMatrix
from helpers.schema import ITEM, RATING, USER

X = "iteration"


def rmse_of(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error of two equal-length arrays (stars); the kernel of
    :func:`helpers.metrics.rmse`, which validates its inputs first."""
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


class Monitor:
    """Collects a fit's history. Create it at the fit's boundary (it checks ``valid``), call
    :meth:`record` after every pass, and hand :attr:`history` to the model.

    ``valid``: ``None`` or a ratings table (userId, movieId, rating); with one, every record adds
    ``valid_rmse`` (rating models) or, with ``ranking=True``, ``valid_ndcg`` at 10 under the rules
    of :mod:`helpers.metrics`, for which ``train`` (the fit's training table or RatingMatrix,
    turned into a table once, and only when there is a ``valid``) is needed.
    """

    def __init__(
        self,
        valid: pd.DataFrame | None = None,
        *,
        objective: bool = False,
        train_rmse: bool = True,
        ranking: bool = False,
        train: pd.DataFrame | RatingMatrix | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.valid = check_optional_ratings("valid", valid)
        self.ranking = ranking
        needs_train = ranking and self.valid is not None
        self.train = train.to_frame() if needs_train and isinstance(train, RatingMatrix) else train
        keys = [X]
        if objective:
            keys.append("objective")
        if train_rmse and not ranking:
            keys.append("train_rmse")
        if self.valid is not None:
            keys.append("valid_ndcg" if ranking else "valid_rmse")
            if ranking and train is None:
                raise ValueError("a ranking monitor with valid= needs train= for its candidates")
        keys.extend(extra)
        self.history: dict[str, list[float]] = {key: [] for key in keys}
        if self.valid is not None and not ranking:
            self._vu = self.valid[USER].to_numpy()
            self._vi = self.valid[ITEM].to_numpy()
            self._vr = self.valid[RATING].to_numpy(dtype=np.float64)

    def record(
        self,
        model: Any,
        *,
        objective: float | None = None,
        train_true: np.ndarray | None = None,
        train_pred: np.ndarray | None = None,
        train_rmse: float | None = None,
        **extra: float,
    ) -> None:
        """Append one pass: ``objective`` if the monitor tracks it, train RMSE from
        ``train_true``/``train_pred`` (clipped stars of the training ratings) or as the value
        ``train_rmse`` a kernel computed itself, the validation metric of ``model``, and the
        ``extra`` values named when the monitor was made."""
        h = self.history
        h[X].append(len(h[X]) + 1)
        if "objective" in h:
            h["objective"].append(float(objective))
        if "train_rmse" in h:
            if train_rmse is None:
                train_rmse = rmse_of(train_true, train_pred)
            h["train_rmse"].append(float(train_rmse))
        if "valid_rmse" in h:
            h["valid_rmse"].append(rmse_of(self._vr, model.predict(self._vu, self._vi)))
        if "valid_ndcg" in h:
            from helpers.metrics import ranking_report  # ranking models only

            h["valid_ndcg"].append(ranking_report(model, self.train, self.valid, 10)["ndcg"])
        for key, value in extra.items():
            h[key].append(float(value))
