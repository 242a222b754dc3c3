"""Shared NumPy kernels of the matrix factorization series.

Modules: ``data`` (download, load, clean MovieLens), ``matrix`` (index maps and sparse rating
matrix), ``splits`` (train/test splits), ``model`` (the model object every algorithm returns),
``baselines`` (global mean, damped biases, most popular), ``sgd``, ``svd``, ``als`` (the
algorithms), ``metrics`` (rating and ranking metrics), ``evaluation`` (cross-validation, honest
tuning), ``recommend`` (top-N, similar movies, fold-in, explanations), ``plots``.
"""

__version__ = "0.1.0"
