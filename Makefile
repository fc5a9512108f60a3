# The two commands a newcomer needs: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test test-fast lint up down status clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## Bring up the local stack and run the operator's main job on the bundled real trace.
run: $(STAMP)
	$(BIN)/shardcast demo

## The whole suite: lint, types, layering, fast tests and the tests against the real local stack.
test: $(STAMP) lint
	$(BIN)/pytest

## Only the pure tests (no stack needed).
test-fast: $(STAMP)
	$(BIN)/pytest -m 'not stack'

lint: $(STAMP)
	$(BIN)/ruff check operator tests bench examples
	$(BIN)/mypy
	$(BIN)/mypy --strict examples/dataplane/shardkv
	$(BIN)/lint-imports

up: $(STAMP)
	$(BIN)/shardcast devstack up

down: $(STAMP)
	$(BIN)/shardcast devstack down

status: $(STAMP)
	$(BIN)/shardcast devstack status

clean:
	rm -rf $(VENV)
