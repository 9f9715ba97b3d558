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

.PHONY: help install lab test lint unit nbval nbval-native nbval-generic test-seeds test-browser notebooks train sample checkpoints lr-sweep larger-run bench clean

help:
	@echo "make lab           install (first time) and open the course in JupyterLab"
	@echo "make test          install (first time) and run every check: lint, unit tests, nbval (twice), browser"
	@echo "make test-seeds    run every notebook's asserts with three other random starts (not in make test)"
	@echo "make notebooks     re-execute every notebook in place (do this after changing one)"
	@echo "make train|sample  train a GPT / sample from it on the command line"
	@echo "make checkpoints   re-train episode 06's reference checkpoints (about 25 minutes)"
	@echo "make lr-sweep      the learning-rate sweep behind their peak rate (about 15 minutes)"
	@echo "make larger-run    episode 06's model three times the reference's size: its loss history"
	@echo "make bench         benchmarks (not part of make test)"

# The venv is reused; the project is reinstalled only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,pretrained]'
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

# Strict nbval twice: on this machine's own kernels, then on ATen's generic (non-vector)
# kernels, which sum in another order. What the notebooks print must not depend on either,
# so a learner or CI on another CPU (AVX-512, Apple Silicon, ...) sees the same outputs.
nbval: $(STAMP)
	$(MAKE) --no-print-directory nbval-native nbval-generic

nbval-native: $(STAMP)
	@mkdir -p $(RUNS)
	$(TEST_ENV) $(BIN)/pytest $(NBVAL_FLAGS) notebooks -q

nbval-generic: $(STAMP)
	@mkdir -p $(RUNS)
	$(TEST_ENV) ATEN_CPU_CAPABILITY=default $(BIN)/pytest $(NBVAL_FLAGS) notebooks -q

# Every assert in every notebook with three other random starts (set_seed adds the offset
# to each seed). Lax: outputs are not compared, since other seeds print other numbers.
SEED_OFFSETS ?= 1 2 3
test-seeds: $(STAMP)
	@mkdir -p $(RUNS)
	@for offset in $(SEED_OFFSETS); do \
		echo "== HELPERS_SEED_OFFSET=$$offset"; \
		$(TEST_ENV) HELPERS_SEED_OFFSET=$$offset $(BIN)/pytest $(subst --nbval ,--nbval-lax ,$(NBVAL_FLAGS)) notebooks -q || exit 1; \
	done

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

lr-sweep: $(STAMP)
	$(BIN)/python -m helpers.train.sweep --threads 2 --out data/checkpoints/lr_sweep.json $(ARGS)

larger-run: $(STAMP)
	$(BIN)/python -m helpers.train --preset larger --threads 2 --no-progress --out-dir runs/larger \
		--ship-to data/checkpoints/larger --ship-history-only $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/bench.py $(ARGS)

clean:
	rm -rf runs .pytest_cache .ruff_cache
