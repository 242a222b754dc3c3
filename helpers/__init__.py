"""Shared NumPy kernels of the matrix factorization series, one module per job.

Foundations: ``schema`` (column names, rating scale, title/year rules), ``checks`` (argument
checks at the public boundary), ``threads`` (how many threads kernels use), ``history`` (the one
learning-curve format and its monitor), ``model`` (``MFModel`` and the ``Scorer`` protocol),
``foldin`` (how a new user is solved under a model's own objective).

Data: ``download`` (verified download of MovieLens), ``data`` (load and clean), ``matrix`` (index
maps and sparse rating matrix), ``splits`` (train/test splits).

Algorithms: ``baselines`` (global mean, damped biases, most popular), ``sgd``, ``svd``, ``als``
(rating models); ``implicit_als``, ``bpr``, ``ease`` (ranking models); ``nmf``; ``neural``
(JAX); ``spark`` (Apache Spark MLlib ALS).

Using models: ``metrics`` (rating and ranking metrics), ``evaluation`` (cross-validation, honest
tuning), ``titles`` (title search), ``recommend`` (top-N, similar movies, fold-in,
explanations), ``plots``, ``exercises`` (self-check exercises: ``check("03.2", answer)``).
"""

__version__ = "0.2.0"
