"""The models a benchmark can run, by name, with their hyper-parameters.

:data:`PARAMS` is the one place where the benchmark's hyper-parameters live. They are the choices
of the evaluation notebook (``05_evaluation.ipynb``), made there on training data only:

* damped biases: damping 2 (the minimum of its validation curve), 5 alternating passes;
* biased SGD: k = 50, learning rate 0.01, reg 0.05, 20 epochs (the defaults of ``fit_sgd``);
* SVD-impute: rank k = 20, unknown cells imputed by the damped baseline;
* ALS: ALS-WR (``weighted=True``), k = 50, reg 0.1 — the setting every outer fold of the nested
  cross-validation chose — and 10 iterations (its validation RMSE is flat after that).

Change them here, and the table says which values were used (its ``params`` column).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from helpers.matrix import RatingMatrix
from helpers.model import MFModel


@dataclass(frozen=True)
class ModelSpec:
    """A benchmarked model: its label in the table, the fit function (``module:function`` in
    ``helpers``, imported when first used) and a one-line description."""

    label: str
    target: str
    description: str

    def fit_function(self) -> Callable[..., MFModel]:
        module, function = self.target.split(":")
        try:
            return getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError) as exc:
            raise RuntimeError(
                f"{self.label} needs {module}.{function}, which is unavailable: {exc}"
            ) from exc


MODELS: dict[str, ModelSpec] = {
    "global_mean": ModelSpec(
        "global mean", "helpers.baselines:fit_global_mean", "the mean training rating for all"
    ),
    "biases": ModelSpec(
        "damped biases", "helpers.baselines:fit_biases", "mu + b_u + b_i, damped (ridge) biases"
    ),
    "sgd": ModelSpec(
        "biased SGD", "helpers.sgd:fit_sgd", "biased MF by shuffled mini-batch SGD (fast kernel)"
    ),
    "svd_impute": ModelSpec(
        "SVD-impute", "helpers.svd:fit_svd_impute", "truncated SVD of the baseline-imputed matrix"
    ),
    "als": ModelSpec(
        "ALS-WR", "helpers.als:fit_als", "biased MF by alternating least squares (ALS-WR)"
    ),
}

#: Hyper-parameters of each model, passed as keyword arguments to its fit function.
PARAMS: dict[str, dict[str, Any]] = {
    "global_mean": {},
    "biases": {"damping": 2.0, "iterations": 5},
    "sgd": {"k": 50, "lr": 0.01, "reg": 0.05, "epochs": 20, "seed": 0},
    "svd_impute": {"k": 20, "impute": "baseline", "damping": 5.0},
    "als": {"k": 50, "reg": 0.1, "iterations": 10, "weighted": True, "seed": 0},
}

#: Models measured by ``--scale`` and the parameter that counts their passes over the data.
SCALE_MODELS: dict[str, str] = {"als": "iterations", "sgd": "epochs"}


def parse_model_names(names: list[str] | None, known: dict | None = None) -> list[str]:
    """Validate model names (also accepts comma-separated lists); ``None`` means all of ``known``
    (default :data:`MODELS`). Raises ``ValueError`` naming unknown names and the known ones."""
    known = MODELS if known is None else known
    if names is None:
        return list(known)
    flat = [part.strip() for name in names for part in str(name).split(",") if part.strip()]
    if not flat:
        raise ValueError(f"no model named; choose from {', '.join(known)}")
    unknown = [name for name in flat if name not in known]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(known)}")
    return list(dict.fromkeys(flat))  # drop repeats, keep order


def format_params(params: dict[str, Any]) -> str:
    """``k=50, reg=0.1`` — the table's params column (``-`` when there are none)."""
    if not params:
        return "-"
    return ", ".join(
        f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in params.items()
    )


def fit(
    name: str, train: pd.DataFrame | RatingMatrix, params: dict[str, Any] | None = None
) -> MFModel:
    """Fit model ``name`` on ``train`` with ``params`` (default :data:`PARAMS`)."""
    spec = MODELS[name]
    kwargs = PARAMS[name] if params is None else params
    return spec.fit_function()(train, **kwargs)
