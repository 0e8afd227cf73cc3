PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint fmt bench golden docs screenshots clean

# Two stamps: `make demo` needs only the bot (+ uvloop); `make test` adds the dev tools.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[fast]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

demo: $(VENV)/.installed-run  ## one full iteration against the bundled sample target
	$(BIN)/golden-path demo $(ARGS)

# Two workers by default (the suite is mostly waiting on loopback servers); WORKERS=0 runs it
# in one process.
WORKERS ?= 2

test: $(VENV)/.installed-dev  ## the whole test suite
	$(BIN)/python -m pytest -n $(WORKERS) $(ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-dev  ## every benchmark; each prints its ratio against a baseline
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

golden: $(VENV)/.installed-dev  ## regenerate the golden files on purpose, then review the diff
	GOLDEN_PATH_REGEN=1 $(BIN)/python -m pytest tests/test_render.py -q

docs: $(VENV)/.installed-dev  ## regenerate the README's configuration reference
	$(BIN)/python -m bot.docs

screenshots: $(VENV)/.installed-dev  ## redraw docs/*.png from the demo (needs chromium and npm)
	$(BIN)/python -m tools.screenshots

clean:
	rm -rf $(VENV) .golden-path .cache build dist *.egg-info
