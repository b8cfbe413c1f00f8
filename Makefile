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

run: install
	@if [ -n "$$GLM_BASE_URL" ]; then \
		echo "running the suites against $$GLM_BASE_URL"; \
		$(VENV)/bin/pytest --glm-suite $(ARGS); \
	else \
		$(MAKE) --no-print-directory install-local || exit $$?; \
		echo "GLM_BASE_URL is not set: running the suites against the local model"; \
		$(VENV)/bin/pytest --glm-suite --glm-local $(ARGS) || { status=$$?; \
		echo "(the tiny local model fails many checks: that is expected; see the report above)"; \
		exit $$status; }; \
	fi

test: install-local install-browser
	$(VENV)/bin/pytest $(ARGS)

check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
