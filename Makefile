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

.PHONY: install install-dev run serve demo test lint bench cluster clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e .

install-dev: $(PY)
	$(PY) -m pip install -q -e '.[dev]'

# Local runs: DEBUG off (the branded 404/500 pages, as users see them) with the
# development SECRET_KEY allowed. `DEBUG=1 make run` brings Django's debug pages back.
LOCAL_ENV = STAYHUB_ALLOW_DEV_SECRET=$${STAYHUB_ALLOW_DEV_SECRET:-1} DEBUG=$${DEBUG:-0}

demo: install
	$(LOCAL_ENV) $(PY) manage.py migrate --noinput
	$(LOCAL_ENV) $(PY) manage.py collectstatic --noinput -v0
	$(LOCAL_ENV) $(PY) manage.py seed_demo --force --url http://$(HOST):$(PORT)/

run: demo serve

# The server and, beside it, the background worker (emails, expiry); both stop together,
# quietly and with status 0, on Ctrl-C (core/server/run.py). uvicorn's proxy headers are
# off: X-Forwarded-For/-Proto count only from TRUSTED_PROXIES.
serve:
	@echo "stayhub on http://$(HOST):$(PORT)/  (API docs: http://$(HOST):$(PORT)/api/docs)"
	@$(LOCAL_ENV) $(PY) -m core.server.run --host $(HOST) --port $(PORT)

# The set-up meant for growth, on this machine: PostgreSQL and Redis (private ones in
# .cluster/ unless DATABASE_URL / REDIS_URL name others), two uvicorn workers, the
# background worker, Pushpin in front on PORT. Ctrl-C or SIGTERM stops them all.
cluster: install
	exec $(PY) deploy/cluster.py --port $(PORT)

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
	rm -rf $(VENV) .cluster db.sqlite3 .test-db.sqlite3* media staticfiles
