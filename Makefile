# stayhub: two commands on a fresh machine.
#   make run    install, migrate, load demo data, serve on http://127.0.0.1:8000
#   make test   install (with test tools) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
WORKERS ?= auto

.PHONY: install install-dev run serve demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e .

install-dev: $(PY)
	$(PY) -m pip install -q -e '.[dev]'

demo: install
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py collectstatic --noinput -v0
	DEBUG=$${DEBUG:-1} $(PY) manage.py seed_demo --url http://$(HOST):$(PORT)/

run: demo serve

# The server and, beside it, the background worker (emails, expiry); both stop together.
serve:
	@echo "stayhub on http://$(HOST):$(PORT)/  (API docs: http://$(HOST):$(PORT)/api/docs)"
	@DEBUG=$${DEBUG:-1} $(PY) manage.py worker & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	DEBUG=$${DEBUG:-1} $(PY) -m uvicorn config.asgi:application --host $(HOST) --port $(PORT) --timeout-graceful-shutdown 5

# The whole suite on SQLite; then, where STAYHUB_TEST_PG_URL names a PostgreSQL
# server (.ci/run sets it), everything but the browser tests again on PostgreSQL.
test: install-dev
	$(PY) -m ruff check .
	$(PY) -m pytest -n $(WORKERS) $(PYTEST_ARGS)
	@if [ -n "$$STAYHUB_TEST_PG_URL" ]; then \
	  echo "== the suite again on PostgreSQL ($$STAYHUB_TEST_PG_URL), browser tests aside =="; \
	  DATABASE_URL="$$STAYHUB_TEST_PG_URL" $(PY) -m pytest -n $(WORKERS) -m "not browser" $(PYTEST_ARGS); \
	fi

# Numbers, not tests: server CPU per request, inbox streams, resume (bench/README.md).
bench: install-dev
	$(PY) bench/request_cost.py
	$(PY) bench/inbox_fanout.py
	$(PY) bench/resume_replay.py

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) db.sqlite3 .test-db.sqlite3* media staticfiles
