# Transformers from scratch. Two commands do all the set-up on a fresh machine:
#   make lab    install into .venv (if needed) and open the course in JupyterLab
#   make test   install into .venv (if needed) and run every check
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-from-pyproject
RUNS   := $(CURDIR)/runs
PORT   ?= 8888

# Tests and notebook runs keep every config and cache inside runs/, never in $HOME.
TEST_ENV := MPLBACKEND=Agg MPLCONFIGDIR=$(RUNS)/home/matplotlib \
	JUPYTER_CONFIG_DIR=$(RUNS)/home/jupyter-config JUPYTER_DATA_DIR=$(RUNS)/home/jupyter-data \
	JUPYTER_RUNTIME_DIR=$(RUNS)/home/jupyter-runtime IPYTHONDIR=$(RUNS)/home/ipython \
	JUPYTER_PLATFORM_DIRS=1 PYDEVD_DISABLE_FILE_VALIDATION=1
# two notebooks at a time; --dist loadfile keeps each notebook's cells on one worker, in order
NBVAL_FLAGS := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600 -n 2 --dist loadfile

.PHONY: help install lab test lint unit nbval test-browser notebooks train sample checkpoints bench clean

help:
	@echo "make lab           install (first time) and open the course in JupyterLab"
	@echo "make test          install (first time) and run every check: lint, unit tests, nbval, browser"
	@echo "make notebooks     re-execute every notebook in place (do this after changing one)"
	@echo "make train|sample  train a GPT / sample from it on the command line"
	@echo "make checkpoints   re-train episode 06's reference checkpoints (about 25 minutes)"
	@echo "make bench         benchmarks (not part of make test)"

# The venv is reused; the project is reinstalled only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

test: $(STAMP)
	$(MAKE) --no-print-directory lint unit nbval test-browser

lint: $(STAMP)
	$(BIN)/ruff check $(wildcard helpers tests bench)

unit: $(STAMP)
	@mkdir -p $(RUNS)
	$(TEST_ENV) $(BIN)/pytest tests -m "not browser" -q

nbval: $(STAMP)
	@mkdir -p $(RUNS)
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
		$(TEST_ENV) $(BIN)/pytest $(NBVAL_FLAGS) notebooks -q; \
	else echo "nbval: no notebooks yet, nothing to compare"; fi

test-browser: $(STAMP)
	@mkdir -p $(RUNS)
	@if [ -f tests/browser/test_widgets_in_browser.py ]; then \
		bash tests/browser/ensure_chromium.sh && \
		$(TEST_ENV) $(BIN)/pytest tests/browser -m browser -q; \
	else echo "test-browser: no browser test yet"; fi

# Re-run notebooks top to bottom on a fresh kernel and store their outputs (NB=path for one).
NB ?= notebooks/*.ipynb
notebooks: $(STAMP)
	@mkdir -p $(RUNS)
	for nb in $(NB); do \
		$(TEST_ENV) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=900 "$$nb" || exit 1; \
	done

ARGS ?=
train: $(STAMP)
	$(BIN)/python -m helpers.train $(ARGS)

sample: $(STAMP)
	$(BIN)/python -m helpers.sample $(ARGS)

checkpoints: $(STAMP)
	$(BIN)/python -m helpers.train --preset reference --threads 2 --no-progress --out-dir runs/reference --ship-to data/checkpoints $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/bench.py $(ARGS)

clean:
	rm -rf runs .pytest_cache .ruff_cache
