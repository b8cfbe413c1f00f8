# The two commands a newcomer needs (see README.md):
#   make run    install, then run the example suites (GLM endpoint if configured, else a local model)
#   make test   install, then run the harness's own tests (what .ci/run does)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install install-local install-browser run test check

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

install-local: install
	PYTHON=$(PY) scripts/install-local-model

install-browser:
	scripts/install-browser

# scripts/run prints the command it runs and exits with pytest's code; make itself can only
# exit 0 or 2, so CI that needs pytest's code (1 regression, 4 usage, 6 API errors) runs
# scripts/run (or .venv/bin/pytest --glm-suite) directly.
run: install
	@scripts/run $(ARGS)

test: install-local install-browser
	$(VENV)/bin/pytest $(ARGS)

check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
