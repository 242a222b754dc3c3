"""Execute the series' notebooks headlessly.

    python tools/notebooks.py execute [NOTEBOOK ...]   re-execute tracked notebooks in place
    python tools/notebooks.py build [NOTEBOOK ...]     executed copies and HTML into build/

Execution is top to bottom in a fresh kernel from the notebooks/ folder, so execution counts run
1..n. Volatile metadata (per-cell timings, the interpreter's patch version) is dropped, and a
notebook is rewritten only when its content changed, so re-running on unchanged code leaves git
clean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop metadata that changes from run to run or machine to machine, and merge consecutive
    stream outputs (the kernel splits printed text into chunks differently from run to run)."""
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    nb.metadata = nbformat.from_dict(
        {
            "kernelspec": KERNELSPEC,
            "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        }
    )
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    return nb


def execute(path: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Run ``path`` top to bottom in a fresh python3 kernel of this environment."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return clean(nb)


def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_if_changed(nb: nbformat.NotebookNode, path: Path) -> bool:
    text = nbformat.writes(nb) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["execute", "build"])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="build folder")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    for path in paths:
        print(f"executing {shown(path)} ...", flush=True)
        nb = execute(path)
        if args.mode == "execute":
            changed = write_if_changed(nb, path)
            print(f"  {'updated' if changed else 'unchanged'}: {shown(path)}")
        else:
            out_dir = args.out / "notebooks"
            out_dir.mkdir(parents=True, exist_ok=True)
            write_if_changed(nb, out_dir / path.name)
            html, _ = HTMLExporter().from_notebook_node(nb)
            (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    if args.mode == "build":
        print(f"\nExecuted notebooks and HTML are in {shown(args.out.resolve())}/notebooks/")
        print("Open them in JupyterLab with: .venv/bin/jupyter lab build/notebooks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
