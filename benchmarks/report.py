"""Markdown and JSON output of the benchmarks."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Columns of the main table, in order.
COLUMNS = ("model", "params", "RMSE", "MAE", "fit s", "predict s", "peak MB")
_RIGHT = {"RMSE", "MAE", "fit s", "predict s", "peak MB"}


def fmt_seconds(seconds: float) -> str:
    """Seconds with three significant digits and no exponent: 0.000412, 0.0213, 0.100, 1.52, 123."""
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if seconds >= 100:
        return f"{seconds:.0f}"
    if seconds >= 0.1:
        return f"{seconds:#.3g}"
    if seconds == 0:
        return "0"
    digits = 2 - math.floor(math.log10(seconds))
    return f"{seconds:.{digits}f}"


def fmt_mb(mb: float) -> str:
    """Megabytes, one decimal below 100 MB, whole above."""
    if mb is None or not math.isfinite(mb):
        return "n/a"
    return f"{mb:.1f}" if mb < 100 else f"{mb:.0f}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], right: set[str] = frozenset()
) -> str:
    """A GitHub markdown table of preformatted string ``rows`` (dicts keyed by ``columns``);
    ``right`` columns are right-aligned."""
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---:" if c in right else "---" for c in columns) + "|"
    body = ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def results_table(results: Sequence[dict[str, Any]]) -> str:
    """The main table (:data:`COLUMNS`) of per-model results as produced by
    :func:`benchmarks.run.benchmark_model`."""
    failed = dict.fromkeys(COLUMNS[2:], "failed")
    rows = [
        {"model": r["label"], "params": r["params_text"]} | failed
        if "error" in r
        else {
            "model": r["label"],
            "params": r["params_text"],
            "RMSE": f"{r['rmse']:.4f}",
            "MAE": f"{r['mae']:.4f}",
            "fit s": fmt_seconds(r["fit_s"]),
            "predict s": fmt_seconds(r["predict_s"]),
            "peak MB": fmt_mb(r["peak_mb"]),
        }
        for r in results
    ]
    return markdown_table(rows, COLUMNS, _RIGHT)


#: Columns of the ranking table, in order, and the result keys they show.
RANKING_COLUMNS = ("model", "params", "NDCG@10", "P@10", "R@10", "HR@10", "coverage", "fit s")
_RANKING_KEYS = {
    "NDCG@10": "ndcg",
    "P@10": "precision",
    "R@10": "recall",
    "HR@10": "hit_rate",
    "coverage": "coverage",
}


def _metric(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def ranking_table(results: Sequence[dict[str, Any]]) -> str:
    """The ranking table (:data:`RANKING_COLUMNS`): one row per model, rating models included."""
    rows = []
    for r in results:
        row = {"model": r["label"], "params": r["params_text"]}
        if "error" in r:
            row |= dict.fromkeys(RANKING_COLUMNS[2:], "failed")
        else:
            row |= {col: _metric(r.get(key)) for col, key in _RANKING_KEYS.items()}
            row["fit s"] = fmt_seconds(r["fit_s"])
        rows.append(row)
    return markdown_table(rows, RANKING_COLUMNS, set(RANKING_COLUMNS[2:]))


def write_outputs(out_dir: Path, stem: str, markdown: str, payload: dict[str, Any]) -> list[Path]:
    """Write ``<stem>.md`` and ``<stem>.json`` under ``out_dir`` (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / f"{stem}.md", out_dir / f"{stem}.json"
    md.write_text(markdown.rstrip() + "\n", encoding="utf-8")
    js.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return [md, js]


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
