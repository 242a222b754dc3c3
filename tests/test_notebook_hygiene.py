"""Every committed notebook is executed cleanly and free of volatile or machine-specific text,
so that strict ``pytest --nbval`` re-runs reproduce it and a reader sees what the code does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/(?:work|tmp|root|home|Users|private|var)/|[A-Za-z]:\\\\)")
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]{6,}")
VOLATILE_CELL_METADATA = {"execution", "ExecuteTime"}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def output_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        text = out.get("text", "")
        parts.append(text if isinstance(text, str) else "".join(text))
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/"):
                parts.append(value if isinstance(value, str) else "".join(value))
    return "".join(parts)


def test_the_series_has_its_notebooks():
    names = [p.name[:2] for p in NOTEBOOKS]
    assert names == sorted(set(names)), f"notebook numbers repeat: {names}"
    assert names[:1] == ["01"], "the series starts with notebook 01"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom(path: Path):
    cells = code_cells(load(path))
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"execution counts {counts}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_errors_warnings_or_progress_bars(path: Path):
    for n, cell in enumerate(code_cells(load(path)), start=1):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"cell {n} raised {out.get('ename')}"
            if out.get("name") == "stderr":
                text = "".join(out.get("text", ""))
                raise AssertionError(f"cell {n} wrote to stderr: {text[:200]!r}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_and_clean_metadata(path: Path):
    nb = load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for n, cell in enumerate(nb["cells"], start=1):
        stale = VOLATILE_CELL_METADATA & set(cell.get("metadata", {}))
        assert not stale, f"cell {n} carries per-run metadata {sorted(stale)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_machine_paths_or_addresses(path: Path):
    for n, cell in enumerate(load(path)["cells"], start=1):
        source = "".join(cell["source"])
        text = source + output_text(cell)
        assert not ABSOLUTE_PATH.search(text), f"cell {n} has an absolute path"
        assert not ADDRESS.search(text), f"cell {n} shows a memory address"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_listed_in_readme(path: Path):
    assert path.name in (ROOT / "README.md").read_text(encoding="utf-8")


#: Numbers the prose may quote that no cell prints: the series' accuracy target.
QUOTED_CONSTANTS = {"0.850"}
PRECISE_NUMBER = re.compile(r"(?<![\w.])\d+\.\d{3,}")
URL = re.compile(r"https?://[^\s)>]+")  # DOIs such as 10.1145/... are not quoted results


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_precise_numbers_in_prose_are_printed_by_the_notebook(path: Path):
    """A number with three or more decimals in the text must appear in some output, so the
    prose cannot drift from what the code computes when a notebook is re-executed."""
    nb = load(path)
    printed = "\n".join(output_text(c) for c in code_cells(nb))
    stale = {
        number
        for cell in nb["cells"]
        if cell["cell_type"] == "markdown"
        for number in PRECISE_NUMBER.findall(URL.sub("", "".join(cell["source"])))
        if number not in printed and number not in QUOTED_CONSTANTS
    }
    assert not stale, f"numbers quoted in the text but printed by no cell: {sorted(stale)}"
