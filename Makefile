# Vigie: `make demo` runs the whole room on one machine, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test system-deps bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/vigie demo

# Debian packages the tests use: Chromium for browser tests, PostgreSQL for the store tests.
system-deps:
	@bash .ci/system-deps

test: install system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(VENV)/bin/vigie bench all

clean:
	rm -rf $(VENV) data test-artifacts .pytest_cache
