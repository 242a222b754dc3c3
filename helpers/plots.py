"""A common look for the series' figures, and figures that several notebooks draw."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

from helpers.history import X

STYLE = {
    "figure.figsize": (7.0, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.frameon": False,
    "image.cmap": "viridis",
}

#: Metric suffixes plot_history draws, with their y-axis labels.
_METRICS = {"_rmse": "RMSE (stars)", "_ndcg": "NDCG@10", "objective": "objective (the fit's loss)"}


def use_style() -> None:
    """Apply the series' figure style (fixed sizes, light grid) to matplotlib."""
    mpl.rcParams.update(STYLE)


def plot_history(
    history: dict[str, list[float]],
    *,
    ax: plt.Axes | None = None,
    metric: str | None = None,
    label: str = "",
    title: str = "",
) -> plt.Axes:
    """Learning curves of a model's ``history`` (:mod:`helpers.history`): every ``*_rmse``, every
    ``*_ndcg`` series, or the ``objective`` (``metric="rmse"`` / ``"ndcg"`` / ``"objective"``;
    default: the first of these it has) against the iteration. Raises ``ValueError`` for a
    history with no such series."""
    if X not in history:
        raise ValueError(f"history has no {X!r} series; it has {list(history)}")
    suffixes = ([metric] if metric == "objective" else [f"_{metric}"]) if metric else list(_METRICS)
    suffix = next((s for s in suffixes if any(k.endswith(s) for k in history)), None)
    if suffix is None or suffix not in _METRICS:
        raise ValueError(
            f"history has no series ending in {' or '.join(suffixes)}; it has {list(history)}"
        )
    if ax is None:
        _, ax = plt.subplots()
    xs = history[X]
    for key, ys in history.items():
        if key.endswith(suffix):
            name = key.removesuffix(suffix) if key != suffix else ""
            ax.plot(xs, ys, marker="o", markersize=3, label=f"{label} {name}".strip() or None)
    ax.set_xlabel(X)
    ax.set_ylabel(_METRICS[suffix])
    if title:
        ax.set_title(title)
    if any(line.get_label() and not line.get_label().startswith("_") for line in ax.get_lines()):
        ax.legend()
    return ax
