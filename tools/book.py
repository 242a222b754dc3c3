"""Build the series' book: one HTML site of every notebook, with navigation, math and search.

    python tools/book.py                      the book in build/book/ (open build/book/index.html)
    python tools/book.py --out DIR            somewhere else
    python tools/book.py --notebooks DIR      render the notebooks of DIR (e.g. build/notebooks)

The notebooks are rendered from their stored outputs: nothing is executed (myst-nb with
``nb_execution_mode = "off"``, docs/book/conf.py). The pages are first staged in a folder that
mirrors the repository — ``index.md`` (from docs/book/) at its root, ``README.md``,
``notebooks/*.ipynb``, ``docs/notation.md``, the files they link to, and ``exercises.md``
written from ``helpers.exercises`` — so that the relative
links of README.md resolve as they do on the repository's web page; then Sphinx builds it with
``-W --keep-going``: any warning fails the build, after all of them have been printed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "docs" / "book"
#: Pages and linked files of the book besides the notebooks: staged path -> repository path.
PAGES = {
    "index.md": "docs/book/index.md",
    "README.md": "README.md",
    "docs/notation.md": "docs/notation.md",
    "docs/benchmarks/results.md": "docs/benchmarks/results.md",
    "data/README.md": "data/README.md",
}
LINKED = {  # files the pages link to or show (images, the licence texts)
    "docs/benchmarks/scaling.png": "docs/benchmarks/scaling.png",
    "LICENSE": "LICENSE",
    "data/ml-latest-small/README.txt": "data/ml-latest-small/README.txt",
}
MARKER = ".book-staging"  # marks a staging folder this script may empty


def exercises_page() -> str:
    """The self-check exercises of every notebook (``helpers.exercises``), as one Markdown page."""
    from helpers.exercises import EXERCISES, describe, exercises_for

    notebooks = sorted({e.notebook for e in EXERCISES.values()})
    lines = [
        "# Self-check exercises",
        "",
        "Every exercise below can be checked from a notebook without revealing its answer:",
        '`from helpers.exercises import check`, then `check("03.2", answer)` prints',
        "`✓ right` or `✗ not yet` with a hint. *predict*: answer before running anything;",
        "*measure*: change a setting, re-run and report the number; *derive*: write the",
        "function (it is compared with the helpers on random inputs). Teachers: how to add one",
        "is in the docstring of `helpers/exercises.py`; solutions are in `solutions/`.",
    ]
    for notebook in notebooks:
        lines += ["", f"## Notebook {notebook}"]
        for exercise in exercises_for(notebook):
            lines += ["", describe(exercise.id)]
    return "\n".join(lines) + "\n"


def stage(source: Path, notebooks: Path) -> list[Path]:
    """Copy the book's pages and ``notebooks``' ``*.ipynb`` into ``source`` (emptied first if
    this script made it; refused if it is another non-empty folder). Returns the notebooks."""
    if source.exists() and any(source.iterdir()) and not (source / MARKER).exists():
        raise SystemExit(f"{source} is not empty and was not made by tools/book.py: refusing")
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    (source / MARKER).touch()
    for staged, original in {**PAGES, **LINKED}.items():
        target = source / staged
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / original, target)
    (source / "exercises.md").write_text(exercises_page(), encoding="utf-8")
    found = sorted(notebooks.glob("*.ipynb"))
    if not found:
        raise SystemExit(f"no notebooks (*.ipynb) in {notebooks}")
    (source / "notebooks").mkdir()
    for notebook in found:
        shutil.copy2(notebook, source / "notebooks" / notebook.name)
    return found


def build(out: Path, notebooks: Path, *, source: Path | None = None, jobs: int = 1) -> int:
    """Stage and build the book into ``out``; Sphinx's exit status (0: no warning)."""
    from sphinx.cmd.build import build_main

    source = out.parent / f"{out.name}-source" if source is None else source
    stage(source, notebooks)
    args = ["-b", "html", "-c", str(CONF_DIR), "-d", str(source / ".doctrees")]
    args += ["-E", "-a", "-W", "--keep-going", "-q", "-j", str(jobs), str(source), str(out)]
    return build_main(args)


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    parser.add_argument("--jobs", type=int, default=1, help="Sphinx processes (default 1)")
    args = parser.parse_args(argv)
    out, notebooks = args.out.resolve(), args.notebooks.resolve()
    status = build(out, notebooks, jobs=args.jobs)
    if status == 0:
        print(f"book: {shown(out / 'index.html')}")
    else:
        print("book: the build printed warnings (above); fix them", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
