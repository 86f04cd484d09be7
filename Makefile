# The two commands: `make demo` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv migrate bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

## make demo: embedded Postgres and Redis unless DATABASE_URL/REDIS_URL are set; seeds, simulates, serves :8000
demo: $(STAMP)
	$(PY) -m demo.launcher

## make test: lint, then the whole suite against real PostgreSQL and Redis
test: $(STAMP)
	$(PY) scripts/check_services.py
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

migrate: $(STAMP)
	$(PY) manage.py migrate

bench: $(STAMP)
	$(PY) bench/ingest.py --seconds 60
	$(PY) bench/dashboard.py
	$(PY) bench/evals.py

clean:
	rm -rf $(VENV) staticfiles
