# relmask — `make demo` (set up + quick reproduction) and `make test` (set up + default test tier).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2
export TF_ENABLE_ONEDNN_OPTS ?= 0
export PYTHONHASHSEED ?= 0

.PHONY: setup demo test test-slow test-all benchmarks notebooks lab clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,jax]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (relmask)" >/dev/null
	touch $@

demo: setup                 ## the main job: reproduce both papers on the embedded synthetic data
	$(BIN)/relmask reproduce --config quick

test: setup                 ## default tier (< 15 min on 2 cores): slow and gpu tests deselected
	$(BIN)/python -m pytest -q

test-slow: setup            ## the slow tier: full quick notebooks, kill-and-resume of real runs
	$(BIN)/python -m pytest -q -m slow

test-all: setup
	$(BIN)/python -m pytest -q -m "not gpu"

benchmarks: setup           ## speed targets, measured side by side (prints ratios)
	$(BIN)/python benchmarks/relevance.py
	$(BIN)/python benchmarks/spectrogram.py
	$(BIN)/python benchmarks/fer_relevance.py

notebooks: setup            ## regenerate the notebooks from notebooks/_build/*.py
	for f in notebooks/_build/[a-z]*.py; do [ "$$(basename $$f)" = nbgen.py ] || $(BIN)/python $$f; done

lab: setup                  ## JupyterLab with the relmask kernel (installs the `lab` extra)
	$(BIN)/python -m pip install --quiet -e ".[lab]"
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf runs .relmask-cache
