"""A common look for the series' figures, and figures that several notebooks draw."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

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


def use_style() -> None:
    """Apply the series' figure style (fixed sizes, light grid) to matplotlib."""
    mpl.rcParams.update(STYLE)


def plot_history(
    history: dict[str, list[float]],
    *,
    ax: plt.Axes | None = None,
    x: str = "epoch",
    label: str = "",
    title: str = "",
) -> plt.Axes:
    """Learning curves: every ``*_rmse`` series of a model's ``history`` against ``x``."""
    if ax is None:
        _, ax = plt.subplots()
    xs = history[x]
    for key, ys in history.items():
        if key.endswith("_rmse"):
            name = key.removesuffix("_rmse")
            ax.plot(xs, ys, marker="o", markersize=3, label=f"{label} {name}".strip())
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel("RMSE (stars)")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax
