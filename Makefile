# Two commands: `make run` executes the series, `make test` runs every test.
# Both create .venv and install the pinned requirements first when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NB ?=

.PHONY: setup run test notebooks bench bench-peers lint lab clean book

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements.txt
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --no-deps -e .
	touch $(STAMP)

## Execute every notebook into build/ (executed copies + HTML) and build the book from them;
## the tracked notebooks stay as they are.
run: setup
	$(BIN)/python tools/notebooks.py build $(NB)
	$(BIN)/python tools/book.py $(if $(NB),,--notebooks build/notebooks)

## The book: every notebook as one HTML site (navigation, math, search) in build/book/, from the
## stored outputs (nothing is re-executed).
book: setup
	$(BIN)/python tools/book.py

## Lint, unit tests and strict nbval of every notebook, on two worker processes (one notebook
## stays on one worker: --dist loadfile).
test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile --nbval --nbval-current-env --nbval-cell-timeout=900 tests notebooks

## For authors: re-execute the tracked notebooks in place (NB=notebooks/03_....ipynb for one).
notebooks: setup
	$(BIN)/python tools/notebooks.py execute $(NB)

## Speed, memory and accuracy of every model (not part of the tests).
bench: setup
	$(BIN)/python -m benchmarks $(ARGS)

## The benchmark with the peer libraries (Surprise, implicit, Spark ALS); installs the bench extra.
bench-peers: setup
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks --peers $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check helpers tests benchmarks tools

lab: setup
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf build .pytest_cache .ruff_cache
