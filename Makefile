# Set-up on a fresh machine with only Python and pip: `make demo`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tfhist-installed

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,demo]"
	touch $(STAMP)

## Run notebooks/quickstart.ipynb headless; writes out/quickstart.ipynb and out/quickstart.html.
demo: $(STAMP)
	$(BIN)/python tools/run_notebook.py notebooks/quickstart.ipynb --out out

## The whole test suite (unit tests, magics in a real shell, notebooks in a real kernel).
test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/python -m pytest -q

## The benchmark: watched vs plain training, side by side (minutes).
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[bench]"
	TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) out .pytest_cache
