# Two commands on a fresh machine:  `make run` (the bot)  and  `make test` (the checks).
# Both create .venv with the machine's python3 and install what they need into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run console test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

## run: install and start the bot (console mode when TELEGRAM_BOT_TOKEN is not set)
run: $(VENV)/.installed
	$(BIN)/focus-companion

## console: chat with the bot in this terminal, even when a token is set
console: $(VENV)/.installed
	$(BIN)/focus-companion console

## test: install the dev tools, then lint, type-check and run every test
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
