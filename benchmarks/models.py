"""The models a benchmark can run, by name, with their hyper-parameters.

:data:`PARAMS` is the one place where the benchmark's hyper-parameters live. They are the choices
of the evaluation notebook (``05_evaluation.ipynb``), made there on training data only, except the
two ALS rows, chosen on the benchmark split's own training table (below):

* damped biases: damping 2 (the minimum of its validation curve), 5 alternating passes;
* biased SGD: k = 50, learning rate 0.01, reg 0.05, 20 epochs (the defaults of ``fit_sgd``);
* SVD-impute: rank k = 20, unknown cells imputed by the damped baseline;
* ALS: ALS-WR (``weighted=True``), k = 50, 10 iterations (the validation RMSE of notebook 05 is
  flat after that), and reg 0.125: the best of ``helpers.evaluation.grid_search`` on a validation
  split (20 %, seed 0) of the benchmark's training table, validation RMSE 0.8770 / 0.8674 /
  0.8630 / **0.8615** / 0.8618 for reg 0.05 / 0.075 / 0.1 / 0.125 / 0.15 (notebook 05's nested
  cross-validation over all ratings had picked 0.1);
* ALS-WR, float32: the ALS-WR row with ``dtype="float32"`` (the same fit in single precision);
* ALS, λ·√n: ``fit_als(reg_exponent=0.5)``, each row penalised by reg times the square root of its
  number of ratings (between plain ALS and ALS-WR), 20 iterations; k and reg chosen the same way
  from k ∈ {50, 100} × reg ∈ {1, 1.25, 1.5, 2}: validation RMSE 0.8576 / 0.8553 / 0.8555 /
  0.8621 (k = 50) and 0.8568 / **0.8550** / 0.8554 / 0.8621 (k = 100): k = 100, reg 1.25;
* NMF (notebook 08): k = 20, 30 HALS iterations, reg 0.1 on the residual of the damped biases
  shifted by 0.5, chosen on a validation split of the training part;
* implicit ALS, BPR, EASE (notebook 06): tuned by NDCG@10 on a validation split of the training
  part, four settings each;
* the neural models (notebook 09): biased MF in JAX with biased SGD's settings; the embedding
  net's weight decay and epochs and the NCF models' epochs as notebook 09 chose them on a
  validation split of the training part (the genre/year hybrid needs the movies table and is
  measured in the notebook only);
* most popular: no parameters; it ranks but predicts no stars, so it appears in the ranking
  table only (every model appears there).

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
    "most_popular": ModelSpec(
        "most popular",
        "helpers.baselines:most_popular",
        "ranks movies by their number of training ratings (ranking only)",
    ),
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
    "als_f32": ModelSpec(
        "ALS-WR, float32",
        "helpers.als:fit_als",
        "ALS-WR computed in single precision (dtype='float32'): its speed and accuracy cost",
    ),
    "als_sqrt": ModelSpec(
        "ALS, λ·√n",
        "helpers.als:fit_als",
        "biased MF by ALS, each row penalised by reg · sqrt(its number of ratings)",
    ),
    "nmf": ModelSpec(
        "NMF (HALS)",
        "helpers.nmf:fit_nmf",
        "non-negative MF of the shifted damped-bias residual, HALS (notebook 08)",
    ),
    "implicit_als": ModelSpec(
        "implicit ALS",
        "helpers.implicit_als:fit_implicit_als",
        "Hu-Koren-Volinsky implicit ALS, CG half-steps (ranking only, notebook 06)",
    ),
    "bpr": ModelSpec(
        "BPR", "helpers.bpr:fit_bpr", "Bayesian personalized ranking, mini-batch SGD (ranking only)"
    ),
    "jax_mf": ModelSpec(
        "biased MF (JAX)",
        "helpers.neural:fit_jax_mf",
        "biased MF as a JAX loss, jitted mini-batch SGD (notebook 09)",
    ),
    "embedding_nn": ModelSpec(
        "embedding net",
        "helpers.neural_rating:fit_embedding_nn",
        "user and movie embeddings through an MLP, trained for stars (notebook 09)",
    ),
    "gmf": ModelSpec(
        "GMF", "helpers.neural_ranking:fit_gmf", "generalized MF, logistic loss (ranking only)"
    ),
    "ncf_mlp": ModelSpec(
        "NCF MLP", "helpers.neural_ranking:fit_mlp", "NCF's MLP, logistic loss (ranking only)"
    ),
    "neumf": ModelSpec(
        "NeuMF", "helpers.neural_ranking:fit_neumf", "GMF + MLP fused (ranking only)"
    ),
    "ease": ModelSpec(
        "EASE", "helpers.ease:fit_ease", "closed-form item-item model of Steck 2019 (ranking only)"
    ),
}

#: Hyper-parameters of each model, passed as keyword arguments to its fit function.
PARAMS: dict[str, dict[str, Any]] = {
    "most_popular": {},
    "global_mean": {},
    "biases": {"damping": 2.0, "iterations": 5},
    "sgd": {"k": 50, "lr": 0.01, "reg": 0.05, "epochs": 20, "seed": 0},
    "svd_impute": {"k": 20, "impute": "baseline", "damping": 5.0},
    "als": {"k": 50, "reg": 0.125, "iterations": 10, "weighted": True, "seed": 0},
    "als_sqrt": {"k": 100, "reg": 1.25, "iterations": 20, "reg_exponent": 0.5, "seed": 0},
    "nmf": {
        "k": 20,
        "iterations": 30,
        "reg": 0.1,
        "shift": 0.5,
        "damping": 2.0,
        "solver": "hals",
        "biases": "fixed",
        "seed": 0,
    },
    "implicit_als": {
        "k": 64,
        "reg": 30.0,
        "alpha": 0.5,
        "confidence": "rating",
        "iterations": 15,
        "solver": "cg",
        "cg_steps": 3,
        "seed": 0,
    },
    "bpr": {"k": 64, "lr": 0.05, "reg": 0.02, "epochs": 20, "batch_size": 1024, "seed": 0},
    "ease": {"reg": 300.0, "min_ratings": 10},
    "jax_mf": {"k": 50, "lr": 0.01, "reg": 0.05, "epochs": 20, "batch_size": 256, "seed": 0},
    "embedding_nn": {
        "k": 50,
        "hidden": (100,),
        "lr": 0.005,
        "batch_size": 512,
        "weight_decay": 0.01,
        "epochs": 2,
        "seed": 0,
    },
    "gmf": {"k": 32, "lr": 0.005, "batch_size": 1024, "n_negatives": 4, "epochs": 3, "seed": 0},
    "ncf_mlp": {
        "k": 32,
        "hidden": (32, 16, 8),
        "lr": 0.005,
        "batch_size": 1024,
        "n_negatives": 4,
        "epochs": 6,
        "seed": 0,
    },
    "neumf": {
        "k_gmf": 8,
        "k_mlp": 32,
        "hidden": (32, 16, 8),
        "lr": 0.005,
        "batch_size": 1024,
        "n_negatives": 4,
        "epochs": 2,
        "seed": 0,
    },
}

PARAMS["als_f32"] = PARAMS["als"] | {"dtype": "float32"}  # the same fit in single precision

#: Models measured by ``--scale`` and the parameter that counts their passes over the data.
SCALE_MODELS: dict[str, str] = {"als": "iterations", "als_f32": "iterations", "sgd": "epochs"}


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
