"""How the cost of ALS and SGD grows with the number of ratings, on synthetic data.

For every size and model a fresh process (:mod:`benchmarks.worker`) generates the synthetic
ratings (:mod:`benchmarks.synthetic`), builds the sparse matrix and fits. Reported: seconds per
iteration (ALS) or epoch (SGD) = median fit time / passes, with the matrix already built; the
tracemalloc peak of a one-pass fit (the memory the fit itself needs on top of its input); and the
process's peak resident set size (everything: interpreter, data generation, matrix, fits).

The slope of log(time) against log(ratings), fitted by least squares, is the exponent of the
growth: 1 means the cost is linear in the number of ratings.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import models
from benchmarks.measure import describe_machine, machine
from benchmarks.report import fmt_mb, fmt_seconds, markdown_table, write_outputs

#: Default passes per timed fit at every size (the time per pass hardly depends on them).
DEFAULT_PASSES = {"iterations": 3, "epochs": 2}

#: From this many ratings on, a fit is timed once whatever ``repeats`` says (one fit lasts
#: minutes; its time per pass is already an average over several passes).
LARGE = 5_000_000

#: Default address-space cap of each measuring process, GB.
DEFAULT_MEMORY_LIMIT_GB = 8.0

#: Targets of the series for ALS on synthetic data (2 cores, k = 50):
#: (ratings, iterations, seconds bound, process memory bound in GB).
ALS_TARGETS = ((5_000_000, 20, 30.0, 0.5), (25_000_000, None, None, 8.0))

#: The scale models the ALS targets apply to.
ALS_MODELS = ("als", "als_f32")

SCALE_COLUMNS = (
    "ratings",
    "users × movies",
    "model",
    "s / pass",
    "CPU s / pass",
    "fit s (passes × runs)",
    "build s",
    "fit peak MB",
    "process peak MB",
)


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Least-squares slope of log10(y) against log10(x); None with fewer than two points."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if np.count_nonzero(ok) < 2 or len(np.unique(x[ok])) < 2:
        return None
    slope, _ = np.polyfit(np.log10(x[ok]), np.log10(y[ok]), 1)
    return float(slope)


def run_job(job: dict[str, Any], log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run one :mod:`benchmarks.worker` job in a fresh Python process and return its result,
    or ``{"error": ...}`` if the process failed (e.g. out of memory)."""
    command = [sys.executable, "-m", "benchmarks.worker", json.dumps(job)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        log(f"  failed: {tail[0]}")
        return {**job, "error": tail[0], "returncode": done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def slopes(results: Sequence[dict[str, Any]], key: str) -> dict[str, float | None]:
    """Per model, the log–log slope of ``key`` against the number of ratings."""
    out = {}
    for model in dict.fromkeys(r["model"] for r in results):
        ok = [r for r in results if r["model"] == model and "error" not in r]
        out[model] = loglog_slope([r["n_ratings"] for r in ok], [r[key] for r in ok])
    return out


def scale_table(results: Sequence[dict[str, Any]]) -> str:
    """The markdown table of the scaling measurements (:data:`SCALE_COLUMNS`)."""
    rows = []
    for r in results:
        if "error" in r:
            rows.append(
                {c: "" for c in SCALE_COLUMNS}
                | {
                    "ratings": f"{r['n_ratings']:,}",
                    "model": r["model"],
                    "s / pass": f"failed: {r['error']}",
                }
            )
            continue
        rows.append(
            {
                "ratings": f"{r['n_ratings']:,}",
                "users × movies": f"{r['n_users']:,} × {r['n_items']:,}",
                "model": r["label"],
                "s / pass": f"{fmt_seconds(r['seconds_per_pass'])} per {r['unit']}",
                "CPU s / pass": fmt_seconds(r["cpu_seconds_per_pass"]),
                "fit s (passes × runs)": f"{fmt_seconds(r['fit_s'])} "
                f"({r['passes']} × {r['repeats']})",
                "build s": fmt_seconds(r["build_s"]),
                "fit peak MB": fmt_mb(r["fit_peak_mb"]),
                "process peak MB": fmt_mb(r["process_peak_mb"]),
            }
        )
    right = set(SCALE_COLUMNS) - {"model", "users × movies"}
    return markdown_table(rows, SCALE_COLUMNS, right)


def plot_scaling(results: Sequence[dict[str, Any]], path: Path) -> Path:
    """Log–log figure: time per pass (left; wall clock solid, CPU time hollow) and peak memory
    (right) against ratings, with the fitted slopes in the legends. Saved as PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    ok = [r for r in results if "error" not in r]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 5))
    series = (  # (axis, key, legend text, line style, marker face)
        (ax_t, "seconds_per_pass", "wall s per {unit}", "-", None),
        (ax_t, "cpu_seconds_per_pass", "CPU s per {unit}", "--", "none"),
        (ax_m, "fit_peak_mb", "fit peak", "-", None),
        (ax_m, "process_peak_mb", "whole process (RSS)", ":", "none"),
    )
    models_seen = list(dict.fromkeys(r["model"] for r in ok))
    for model, color in zip(models_seen, ("C0", "C1", "C2", "C3"), strict=False):
        rows = sorted((r for r in ok if r["model"] == model), key=lambda r: r["n_ratings"])
        n = np.array([r["n_ratings"] for r in rows], dtype=np.float64)
        label, unit = rows[0]["label"], rows[0]["unit"]
        for ax, key, what, style, face in series:
            if any(key not in r for r in rows):
                continue
            y = np.array([r[key] for r in rows], dtype=np.float64)
            slope = loglog_slope(n, y)
            text = f"{label}, {what.format(unit=unit)}"
            text += "" if slope is None else f" (slope {slope:.2f})"
            ax.plot(n, y, style, marker="o", color=color, markerfacecolor=face, label=text)
    if ok:  # a slope-1 reference through the smallest point: what linear growth looks like
        first = min(ok, key=lambda r: (r["n_ratings"], r["seconds_per_pass"]))
        n_all = np.array(sorted({r["n_ratings"] for r in ok}), dtype=np.float64)
        ref = first["seconds_per_pass"] * n_all / first["n_ratings"]
        ax_t.plot(n_all, ref, ":", color="grey", label="linear growth (slope 1)")
    for ax in (ax_t, ax_m):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
        ax.set_xlabel("number of ratings (log scale)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    ax_t.set_ylabel("seconds per iteration (ALS) / epoch (SGD), log scale")
    ax_t.set_title("Time per pass over the ratings")
    ax_m.set_ylabel("peak memory, MB (log scale)")
    ax_m.set_title("Peak memory")
    fig.suptitle("Cost against data size: synthetic ratings, k = 50 (slopes: least squares)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def targets_text(results: Sequence[dict[str, Any]]) -> list[str]:
    """Lines comparing the ALS measurements (float64 and float32) with :data:`ALS_TARGETS`
    (sizes that were run)."""
    lines = []
    for (n, iterations, seconds, gigabytes), name in itertools.product(ALS_TARGETS, ALS_MODELS):
        r = next((r for r in results if r["model"] == name and r["n_ratings"] == n), None)
        if r is None:
            continue
        if "error" in r:
            label = models.MODELS[name].label
            lines.append(f"- {label}, {n:,} ratings: failed ({r['error']}): target not met")
            continue
        if seconds is not None:
            value = iterations * r["seconds_per_pass"]
            verdict = "met" if value <= seconds else "not met"
            lines.append(
                f"- {r['label']}, {n:,} ratings, {iterations} iterations: {fmt_seconds(value)} s "
                f"({iterations} × {fmt_seconds(r['seconds_per_pass'])} s per iteration; "
                f"target ≤ {seconds:g} s: {verdict})"
            )
        peak = r["process_peak_mb"]
        verdict = "met" if peak <= gigabytes * 1024 else "not met"
        lines.append(
            f"- {r['label']}, {n:,} ratings, peak memory of the whole process: {fmt_mb(peak)} MB "
            f"(target ≤ {gigabytes:g} GB: {verdict})"
        )
    return lines


def render(results: Sequence[dict[str, Any]], info: dict[str, Any], when: str) -> str:
    """The markdown report of a scaling run."""
    ok = [r for r in results if "error" not in r]
    lines = [
        "# Scaling: cost against the number of ratings",
        "",
        "Synthetic explicit ratings (low-rank structure plus noise, half stars 0.5–5, Zipf-like "
        "activity of users and popularity of movies; `benchmarks/synthetic.py`), k = 50, "
        "float64 unless the model says float32.",
        "",
        scale_table(results),
        "",
        "*s / pass*: median wall time of *runs* fits divided by the iterations (ALS) or epochs "
        "(SGD) of a fit, the matrix prebuilt (*build s*: building it from the ratings table); "
        "*CPU s / pass*: the same in CPU time of the process (all threads; less sensitive to other "
        "programs on a shared machine); *fit peak MB*: tracemalloc peak of a one-pass fit on top "
        "of its input; *process peak MB*: peak resident set size of the measuring process "
        "(generation, matrix and fits together).",
        "",
        "Log–log slopes against the number of ratings (1 = linear):",
        "",
    ]
    for model in dict.fromkeys(r["model"] for r in ok):
        rows = [r for r in ok if r["model"] == model]
        n = [r["n_ratings"] for r in rows]
        parts = []
        for key, what in (
            ("seconds_per_pass", f"wall time per {rows[0]['unit']}"),
            ("cpu_seconds_per_pass", "CPU time"),
            ("fit_peak_mb", "fit peak memory"),
        ):
            slope = loglog_slope(n, [r.get(key, float("nan")) for r in rows])
            parts.append(f"{what} {'n/a' if slope is None else f'{slope:.2f}'}")
        lines.append(f"- {rows[0]['label']}: " + "; ".join(parts))
    target_lines = targets_text(results)
    if target_lines:
        lines += ["", "Targets of the series (2 cores, k = 50):", "", *target_lines]
    lines += [
        "",
        "![scaling](scaling.png)",
        "",
        f"Machine: {describe_machine(info)}",
        "",
        f"Measured {when} with `python -m benchmarks --scale`.",
    ]
    return "\n".join(lines)


def rerender(json_path: Path) -> list[Path]:
    """Rewrite ``scaling.md`` and ``scaling.png`` from a ``scaling.json`` of :func:`run_scale`."""
    json_path = Path(json_path)
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    markdown = render(payload["results"], payload["machine"], payload["measured"])
    md = json_path.with_suffix(".md")
    md.write_text(markdown + "\n", encoding="utf-8")
    return [md, plot_scaling(payload["results"], json_path.with_suffix(".png"))]


def run_scale(
    sizes: Sequence[int],
    names: Sequence[str],
    *,
    passes: dict[str, int],
    repeats: int,
    seed: int,
    threads: int | None,
    memory_limit_gb: float | None = DEFAULT_MEMORY_LIMIT_GB,
    out_dir: Path,
    log: Callable[[str], None] = print,
) -> tuple[str, list[Path]]:
    """Measure every (size, model) in its own process (capped at ``memory_limit_gb`` of address
    space; sizes from :data:`LARGE` on are timed once), write ``scaling.md``, ``scaling.json``
    and ``scaling.png`` under ``out_dir``; return the markdown and the written paths."""
    results = []
    for n in sizes:
        for name in names:
            log(f"scaling: {name} on {n:,} synthetic ratings ...")
            job = {
                "n_ratings": int(n),
                "model": name,
                "passes": passes[name],
                "repeats": repeats if n < LARGE else 1,
                "seed": seed,
                "threads": threads,
                "memory_limit_gb": memory_limit_gb,
            }
            results.append(run_job(job, log))
            r = results[-1]
            if "error" not in r:
                log(
                    f"  {fmt_seconds(r['seconds_per_pass'])} s per {r['unit']}, "
                    f"process peak {fmt_mb(r['process_peak_mb'])} MB"
                )
    info = machine()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    markdown = render(results, info, when)
    ok = [r for r in results if "error" not in r]
    payload = {
        "measured": when,
        "machine": info,
        "slopes_time": slopes(ok, "seconds_per_pass"),
        "slopes_cpu_time": slopes(ok, "cpu_seconds_per_pass"),
        "slopes_fit_peak": slopes(ok, "fit_peak_mb"),
        "results": results,
    }
    paths = write_outputs(out_dir, "scaling", markdown, payload)
    if ok:
        paths.append(plot_scaling(results, out_dir / "scaling.png"))
    return markdown, paths
