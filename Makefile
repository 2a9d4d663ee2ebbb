# The two commands of the README: `make run` and `make test`. Everything else is their parts.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)

# The production-shape test run uses these; CI starts the services when they are installed but stopped.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/inbox
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_REDIS_CACHE_URL ?= redis://127.0.0.1:6379/14

.PHONY: setup run test lint test-embedded test-production services system-packages bench clean

$(STAMP): pyproject.toml
	@echo "  Installing the Python packages into $(VENV) (the first time takes about a minute)…"
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || { echo "!!! python3 -m venv failed: on Debian, apt-get install python3-venv"; exit 1; }
	@$(BIN)/pip install -q --upgrade pip
	@# setuptools warns that an editable install may be shadowed by folders of the same name: ours are the package.
	@PYTHONWARNINGS=ignore $(BIN)/pip install -q -e '.[test,bench]'
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

## Set up and start the site on the embedded default (SQLite, in-memory layer, tasks in-process).
EMBEDDED := env -u DATABASE_URL -u REDIS_URL DEBUG=true EMBEDDED_BEAT=true
run: setup
	@$(EMBEDDED) $(BIN)/python manage.py migrate --noinput -v0
	@$(EMBEDDED) $(BIN)/python manage.py collectstatic --noinput -v0
	@$(EMBEDDED) $(BIN)/python manage.py demo
	@echo "$(PUBLIC_BASE_URL)" > .site-url
	@echo "  Serving on $(PUBLIC_BASE_URL)/ (Ctrl+C stops)"
	@$(EMBEDDED) $(BIN)/daphne -b $(HOST) -p $(PORT) inbox.asgi:application

## Set up and run the whole suite: on the embedded default, then on PostgreSQL + Redis.
test: setup system-packages services lint test-embedded test-production

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test-embedded:
	@echo "=== tests on the embedded default: SQLite, in-memory channel layer ==="
	env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest

test-production:
	@if $(BIN)/python -c "import psycopg, redis; psycopg.connect('$(TEST_DATABASE_URL)'.rsplit('/', 1)[0] + '/postgres').close(); redis.Redis.from_url('$(TEST_REDIS_URL)').ping()" 2>/dev/null; then \
		echo "=== tests on PostgreSQL + Redis ==="; \
		DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) REDIS_CACHE_URL=$(TEST_REDIS_CACHE_URL) \
			$(BIN)/pytest; \
	elif [ -n "$$CI" ]; then \
		echo "PostgreSQL or Redis is not reachable: CI must run the suite on them" >&2; exit 1; \
	else \
		echo "!!! SKIPPED the PostgreSQL + Redis run: the services are not reachable on localhost !!!"; \
	fi

## Start PostgreSQL and Redis when they are installed but stopped.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || { command -v pg_ctlcluster >/dev/null && \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start; } || true
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { command -v redis-server >/dev/null && \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no; } || true

## Debian's packages the tests drive: Chromium for the browser tests (Playwright drives it; it never
## downloads a browser) and dovecot for the IMAP tests (the fixtures start their own on a free port);
## the emoji font, so that the screenshots show the composer's and the widget's emoji.
SYSTEM_PACKAGES := $(if $(shell command -v chromium),,chromium) $(if $(wildcard /usr/sbin/dovecot),,dovecot-imapd) \
	$(if $(wildcard /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf),,fonts-noto-color-emoji)
system-packages:
	@[ -z "$(strip $(SYSTEM_PACKAGES))" ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; } || \
		echo "!!! could not install $(SYSTEM_PACKAGES): the tests that need them will be SKIPPED !!!"

## Benchmarks against PostgreSQL, Redis and the production server: the realtime path, email ingest, then the
## 12-month Reports page over 100,000 conversations (its database is seeded once and kept).
bench: setup services
	$(BIN)/python bench/run.py
	$(BIN)/python bench/email_ingest.py
	$(BIN)/python bench/reports.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
