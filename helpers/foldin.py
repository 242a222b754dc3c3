"""How a new user is solved under a model's own objective: the fold-in rules of the algorithms.

A fit records one of these in ``MFModel.fold_in``; :func:`helpers.recommend.fold_in` asks it to
solve for the bias and factors of a user it has never seen, with every item parameter fixed.
Each rule is the user half of its algorithm's objective, so folding a training user back in
gives (up to the algorithm's own convergence) the row the fit found.

* :class:`RidgeFoldIn` — squared error with a ridge penalty: ALS (plain, ``weighted=False``),
  ALS-WR and biased SGD (``weighted=True``: SGD's per-rating penalty sums to ``reg · n_u``), the
  damped biases (``k = 0``, penalty = damping).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RidgeFoldIn:
    """Solve :math:`\\min_{b_u, p_u} \\sum_{i \\in I_u} (r_{ui} - \\mu - b_i - b_u -
    p_u^\\top q_i)^2 + \\lambda_u (b_u^2 + \\lVert p_u \\rVert^2)` with :math:`\\lambda_u =`
    ``reg`` (``weighted=False``) or ``reg · |I_u|`` (``weighted=True``). Without ``bias`` the
    user bias stays 0 (models fitted without biases)."""

    reg: float
    weighted: bool
    bias: bool = True

    def solve(self, model, item_rows: np.ndarray, ratings: np.ndarray) -> tuple[float, np.ndarray]:
        """(bias, factors (k,)) of a user who gave ``ratings`` (stars) to ``item_rows``."""
        q = model.item_factors[item_rows]
        design = np.hstack([np.ones((len(item_rows), 1)), q]) if self.bias else q
        targets = ratings - model.global_mean - model.item_bias[item_rows]
        lam = self.reg * len(item_rows) if self.weighted else self.reg
        gram = design.T @ design + lam * np.eye(design.shape[1])
        x = np.linalg.solve(gram, design.T @ targets)
        return (float(x[0]), x[1:]) if self.bias else (0.0, x)

    def describe(self) -> str:
        """One line for notebooks: what the new user's problem is."""
        lam = f"{self.reg:g}·n_u" if self.weighted else f"{self.reg:g}"
        return f"ridge regression on the user's ratings, penalty λ_u = {lam}"
