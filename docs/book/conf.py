"""Sphinx configuration of the series' book (built by ``python tools/book.py``, ``make book``).

The book renders the committed, executed notebooks with their stored outputs: myst-nb reads them
and executes nothing (``nb_execution_mode = "off"``). ``tools/book.py`` stages the pages in a
folder that mirrors the repository (``index.md`` at its root, ``notebooks/*.ipynb``,
``README.md``, ``docs/…``), so that the relative links of README.md resolve as they do on the
repository's web page, and runs Sphinx with ``-c docs/book`` (this folder) and ``-W``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jupyter_server_mathjax

project = "Recommender systems by matrix factorization"
author = "The mf-movielens authors"
copyright = "2026, The mf-movielens authors"

extensions = ["myst_nb"]  # myst_nb brings myst_parser (Markdown) with it

root_doc = "index"
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
# Every warning fails the build (-W): no category is suppressed.

# --- notebooks: stored outputs only --------------------------------------------------------
nb_execution_mode = "off"  # never run a notebook: the committed outputs are the book
nb_merge_streams = True  # one block per cell for printed text split across stream chunks
myst_enable_extensions = ["dollarmath", "amsmath"]  # $...$, $$...$$ and LaTeX environments
myst_heading_anchors = 3  # "#section" links to headings down to ###

# --- math: MathJax 2.7 from the pinned jupyter-server-mathjax wheel, copied into the book, so
# that formulas render without any download (setup() below copies it to _static/mathjax/).
MATHJAX_DIR = Path(jupyter_server_mathjax.__file__).parent / "static"
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"  # relative to _static/
mathjax2_config = {
    # myst-parser marks each page "tex2jax_ignore" and its formulas "math": typeset only those
    # (what Sphinx configures for MathJax 2 by default), with the \(...\) and \[...\] it writes
    "tex2jax": {
        "processClass": "math|output_area",
        "ignoreClass": "tex2jax_ignore|mathjax_ignore|document",
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
    },
    # the wheel ships the STIX-Web fonts only (as Jupyter's classic notebook configured it)
    "HTML-CSS": {
        "availableFonts": [],
        "preferredFont": None,
        "webFont": "STIX-Web",
        "imageFont": None,
    },
    "messageStyle": "none",
}
myst_update_mathjax = False  # myst-parser would add a MathJax 3/4 configuration: not ours

# --- theme ---------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "Recommender systems by matrix factorization"
html_theme_options = {
    "show_toc_level": 2,  # the page's sections in the right-hand column
    "use_download_button": True,  # each page offers its source (.ipynb / .md)
    "home_page_in_toc": True,
}
html_last_updated_fmt = None
html_copy_source = True
html_show_sourcelink = False


def _copy_mathjax(app, exception) -> None:
    """Copy MathJax into the built book (``_static/mathjax``) once the HTML is written."""
    if exception is None and app.builder.format == "html":
        shutil.copytree(MATHJAX_DIR, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def setup(app) -> dict:
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
