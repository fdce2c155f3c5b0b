# The two commands a fresh clone needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint format typecheck migrate demo bench bench-profile bench-import clean messages compilemessages screenshots

# These recipes are for development: the service itself defaults to DEBUG off.
export DEBUG ?= True
# `make run PORT=8001` serves elsewhere; BASE_URL follows, since the IdP redirect URI
# (<BASE_URL>/oidc/callback/) and the device's verification_uri are built from it.
PORT ?= 8000
export BASE_URL ?= http://127.0.0.1:$(PORT)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) compilemessages

# German and English (docs/i18n.md): the catalogues are compiled by every build (the .mo
# files are not committed); gettext's msgfmt does it, xgettext extracts.
compilemessages: $(STAMP)
	@command -v msgfmt >/dev/null || apt-get install -y -qq gettext || \
		{ echo "GNU gettext is needed (apt-get install gettext)"; exit 1; }
	$(BIN)/python manage.py compilemessages --ignore '.*' --verbosity 0

# After marking strings: extract them into locale/de/LC_MESSAGES/django.po, then translate
# the new entries (the test suite fails while any is untranslated or fuzzy).
messages: $(STAMP)
	$(BIN)/python manage.py makemessages --locale de

# The German screenshots of docs/i18n.md, taken again in Debian's chromium (a browser test
# that is skipped unless SCREENSHOTS_DIR is set).
screenshots: install
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -p no:cacheprovider -q tests/browser/test_screenshots_in_german.py

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo

# The import worker (run_jobs) runs beside the server, as in production, and stops with it.
run: demo compilemessages
	$(BIN)/python manage.py run_jobs & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy tenants domains identity certificates onboarding operations common config

test: lint typecheck compilemessages
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

# The device path against PostgreSQL + Redis (docs/benchmarks.md); wrk is Debian's package.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/obs
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/5
bench: install
	@command -v wrk >/dev/null || apt-get install -y -qq wrk
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python bench/device_bench.py $(BENCH_ARGS)

# The same endpoints called in this process, CPU per request and a profile: bench/profile_device.py.
bench-profile: install
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python bench/profile_device.py $(BENCH_ARGS)

bench-import: install
	$(BIN)/python bench/import_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
