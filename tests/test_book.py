"""The book (``python tools/book.py``): every notebook gets a page from its stored outputs, with no
re-execution; every internal link resolves; search and math are there; the build prints no
warning. One build of the real notebooks (plus one that must never run) into a temporary folder."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NEVER_RUN = "99_never_run"  # executing this notebook would fail the build
STORED = "this output was stored, not computed"


def _book_module():
    spec = importlib.util.spec_from_file_location("book", ROOT / "tools" / "book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _never_run_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {  # what tools/notebooks.py writes into the series' notebooks
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python", "pygments_lexer": "ipython3"},
    }
    code = nbformat.v4.new_code_cell('raise SystemExit("this notebook was executed")')
    code.execution_count = 1
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text=STORED + "\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · A notebook that must not run"), code]
    return nb


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """(the built book, the finished build). The notebooks are copied first, and the tests
    compare the pages with these copies (others may be re-executing the tracked ones)."""
    tmp = tmp_path_factory.mktemp("book")
    notebooks = tmp / "notebooks"
    notebooks.mkdir()
    for path in NOTEBOOKS:
        (notebooks / path.name).write_bytes(path.read_bytes())
    nbformat.write(_never_run_notebook(), notebooks / f"{NEVER_RUN}.ipynb")
    out = tmp / "html"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "book.py"), "--out", str(out),
         "--notebooks", str(notebooks)],
        capture_output=True, text=True, cwd=ROOT, timeout=600, check=False,
    )  # fmt: skip
    return out, done


def test_the_build_prints_no_warning(book):
    out, done = book
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed
    assert "WARNING" not in printed and "ERROR" not in printed, printed
    assert printed.strip() == f"book: {out / 'index.html'}"


def _title(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = "".join(cells[0]["source"]).splitlines()
    first = next(line for line in lines if line.startswith("# "))  # after the navigation line
    return first.removeprefix("# ").strip()


def test_every_notebook_has_a_page_with_its_stored_outputs(book):
    out, _ = book
    index = (out / "index.html").read_text(encoding="utf-8")
    for path in sorted((out.parent / "notebooks").glob("*.ipynb")):
        page = out / "notebooks" / f"{path.stem}.html"
        assert page.exists(), path.name
        html = page.read_text(encoding="utf-8")
        title = _title(path).replace("&", "&amp;")
        assert f"<title>{title}" in html, path.name
        assert f'href="notebooks/{path.stem}.html"' in index, path.name  # in the navigation
        stored = [  # printed lines that HTML shows unescaped
            line.strip()
            for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
            for o in c.get("outputs", [])
            if o["output_type"] == "stream"
            for line in "".join(o["text"]).splitlines()
            if len(line.strip()) > 15 and re.fullmatch(r"[\w .,:%()=-]+", line.strip())
        ]
        if stored:  # what the notebook printed is on its page
            assert any(line in html for line in stored[:5]), path.name


def test_nothing_is_executed(book):
    out, _ = book
    html = (out / "notebooks" / f"{NEVER_RUN}.html").read_text(encoding="utf-8")
    assert STORED in html
    assert "this notebook was executed" in html  # as code, never as an output
    assert not list(out.parent.rglob("*.sqlite")) and not list(out.parent.rglob("jupyter_cache*"))


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.targets.append(value)
            if name == "id" and value:
                self.ids.add(value)


def test_internal_links_and_anchors_resolve(book):
    out, _ = book
    pages = {}
    for page in out.rglob("*.html"):
        if "_static" in page.parts:
            continue
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        pages[page.resolve()] = parser
    broken = []
    for page, parser in pages.items():
        for target in parser.targets:
            url = urlsplit(target)
            if url.scheme or url.netloc or target.startswith(("mailto:", "data:", "javascript:")):
                continue
            file = (page.parent / unquote(url.path)).resolve() if url.path else page
            if not file.exists():
                broken.append(f"{page.relative_to(out.resolve())}: {target}")
            elif url.fragment and file.suffix == ".html" and file in pages:
                if url.fragment not in pages[file].ids:
                    broken.append(f"{page.relative_to(out.resolve())}: {target} (no such anchor)")
    assert not broken, "\n".join(broken[:20])
    readme = (out / "README.html").read_text(encoding="utf-8")
    for path in NOTEBOOKS:  # README's table links the pages, not the .ipynb files
        assert f'href="notebooks/{path.stem}.html"' in readme


def test_search_and_math_are_in_the_book(book):
    out, _ = book
    index = (out / "searchindex.js").read_text(encoding="utf-8")
    assert index.startswith("Search.setIndex(")
    assert "alternating" in index and "notation" in index  # words of the pages are indexed
    assert (out / "search.html").exists()
    assert (out / "_static" / "mathjax" / "MathJax.js").exists()  # offline, no download
    page = (out / "notebooks" / "04_svd_and_als.html").read_text(encoding="utf-8")
    assert "_static/mathjax/MathJax.js?config=" in page
    assert re.search(r'<span class="math notranslate nohighlight">\\\(', page)
    assert re.search(r'<div class="math notranslate nohighlight">\s*\\\[', page)  # display math


def test_the_exercises_have_a_page(book):
    from helpers.exercises import EXERCISES

    out, _ = book
    html = (out / "exercises.html").read_text(encoding="utf-8")
    assert all(f"Exercise {exercise_id} (" in html for exercise_id in EXERCISES)


def test_staging_refuses_a_folder_it_did_not_make(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not the book's", encoding="utf-8")
    with pytest.raises(SystemExit, match="refusing"):
        _book_module().stage(foreign, ROOT / "notebooks")
    assert (foreign / "keep.txt").exists()
