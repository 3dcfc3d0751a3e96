# relmask — `make demo` (set up + quick reproduction) and `make test` (set up + default test tier).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2
export TF_ENABLE_ONEDNN_OPTS ?= 0
export PYTHONHASHSEED ?= 0

.PHONY: help setup demo lint test test-slow test-real test-all test-browser benchmarks notebooks lab lab-setup clean

help:                       ## this list: every target with what it does
	@awk -F ':.*## ' '/^[a-z-]+:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed   ## create .venv and install relmask with its test and JAX extras

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,jax]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (relmask)" >/dev/null
	touch $@

demo: setup                 ## the main job: reproduce both papers on the embedded synthetic data
	$(BIN)/relmask reproduce --config quick

lint: setup                 ## ruff and mypy (both configured in pyproject.toml): style, likely bugs, the types of relmask/
	$(BIN)/ruff check .
	$(BIN)/mypy

test: setup                 ## default tier (< 15 min on 2 cores): slow and gpu tests deselected
	$(BIN)/python -m pytest -q

test-slow: setup            ## the slow tier: full quick notebooks, kill-and-resume of real runs
	$(BIN)/python -m pytest -q -m "slow and not real"

# the real development data (research-use, never in the repository); CI sets it to ../shared/data
RELMASK_REAL_DATA ?= ../shared/data
export RELMASK_REAL_DATA

test-real: setup            ## the real-data tier: reproduce --config real (whale, fer) vs docs/results-real.md
	$(BIN)/python -m pytest -q -m real

test-all: setup             ## every tier except the GPU tests (slow, real-data, default)
	$(BIN)/python -m pytest -q -m "not gpu"

benchmarks: setup           ## speed targets, measured side by side (prints ratios; students.py: grouped training)
	$(BIN)/python benchmarks/relevance.py
	$(BIN)/python benchmarks/spectrogram.py
	$(BIN)/python benchmarks/fer_relevance.py
	$(BIN)/python benchmarks/students.py
	$(BIN)/python benchmarks/stats_coverage.py

notebooks: setup            ## rewrite every .ipynb from its Jupytext .py source (experiments' notebooks, hello, tests)
	$(BIN)/relmask notebooks
	$(BIN)/relmask notebooks notebooks/hello_relmask.py tests/notebooks/tiny.py

lab-setup: setup            ## install the `lab` extra and relmask's Jupyter server settings
	$(BIN)/python -m pip install --quiet -e ".[lab]"
	$(BIN)/python -c "import relmask.running.jupyter as j; j.install_server_config()"

# root in a container is the usual case, and Jupyter refuses to start as root without --allow-root
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: lab-setup              ## JupyterLab at the repository root with the relmask kernel (installs the `lab` extra)
	$(BIN)/jupyter lab --ServerApp.root_dir=. --ContentsManager.preferred_dir=notebooks $(ALLOW_ROOT)

test-browser: lab-setup     ## browser tier: the notebooks run in JupyterLab in headless Chromium (installs it)
	$(BIN)/python -m pip install --quiet -e ".[browser]"
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	$(BIN)/python -m pytest -q -m browser

clean:                      ## remove runs/ and the default relevance cache
	rm -rf runs .relmask-cache
