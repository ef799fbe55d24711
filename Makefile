# Two commands matter: `make run` (server on embedded defaults) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# The translations (locale/*/LC_MESSAGES): their compiled .mo files are committed, so a
# machine without GNU gettext runs as is; with msgfmt `make run` compiles them afresh
# (`make test` does not: tests/unit/test_locale_catalogues.py checks the committed ones).
COMPILE_MESSAGES = if command -v msgfmt >/dev/null; then \
	DEBUG=1 $(BIN)/python manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0; fi

.PHONY: run test fuzz lint bench screenshots migrate superuser clean certs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The server needs requirements.txt only; tests and benchmarks add requirements-dev.txt.
$(BIN)/.installed-run: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(BIN)/.installed-run

## Install, migrate and serve on http://127.0.0.1:8000 (SQLite, in-memory layer, demo model):
## a development setup. The address to open is printed last, once the server answers
## (chatsite/devready.py); Ctrl-C stops the server.
run: $(BIN)/.installed-run
	@$(COMPILE_MESSAGES)
	@DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput -v 0
	@echo "Database migrated; starting the development server..."
	@export DEBUG=$${DEBUG:-1}; ($(BIN)/python -m chatsite.devready "$(HOST)" "$(PORT)" $$$$ &); \
	exec $(BIN)/daphne -b $(HOST) -p $(PORT) chatsite.asgi:application

## Install and run the whole test suite (ruff, mypy, then pytest on TEST_WORKERS
## processes, one test module each at a time, in the collection's order: the browser
## tests last, as tests/e2e/conftest.py orders them (Playwright leaves an event loop
## running). tests/support/workers.py keeps the workers' databases and channel layers
## apart; TEST_WORKERS=0 runs it in this process).
TEST_WORKERS ?= 3
test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

## The fuzzers with FUZZ_EXAMPLES examples each (CI runs 2,000): random and malformed
## frames at a chat socket (real Redis and database: set DATABASE_URL and REDIS_URL as
## for `make test`) and any body at /v1's parser; every one must get an answer or a
## clear refusal, never a server error. Several minutes.
FUZZ_EXAMPLES ?= 10000
fuzz: $(BIN)/.installed
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest --durations=5 \
		tests/integration/test_fuzz_frames.py tests/unit/transports/openai/test_api_fuzz.py

## Benchmarks: N users streaming at once over real WebSockets into real Daphne servers,
## this checkout against BEFORE_REF (default f59f16e: the flat chat/ before the layered
## app; each side runs from its own tree) in the same run (figures and plot to
## docs/performance.md and .png; BENCH_ARGS for more options, e.g. --users 1,10,50),
## the admin review pages at 1,000 vs 100,000 messages (BENCH_DATABASE_URL for
## PostgreSQL), the conversation search at 100,000 messages (PostgreSQL only:
## BENCH_DATABASE_URL or DATABASE_URL names the server; skipped without one), and the
## latency SSE and /v1 add to the WebSocket's (bench/api_bench.py; API_BENCH_ARGS), and
## the time to first audio per chunk mode (bench/voice_bench.py to docs/voice.md;
## VOICE_BENCH_ARGS), and the message -> model request time by door (WebSocket, SSE,
## /v1) at N = 1, 10, 50, 100, 200 against DOORS_BEFORE_REF (default 45d447a: the code
## before issue #26) with the knee and CPU per 1,000 tokens (bench/doors_bench.py;
## DOORS_BENCH_ARGS).
BEFORE_REF ?= f59f16e
DOORS_BEFORE_REF ?= 45d447a
bench: $(BIN)/.installed
	$(BIN)/python bench/load_bench.py $(if $(BEFORE_REF),--before-ref $(BEFORE_REF)) $(BENCH_ARGS)
	$(BIN)/python bench/admin_bench.py
	@if [ -n "$${BENCH_DATABASE_URL:-$$DATABASE_URL}" ]; then $(BIN)/python bench/search.py; \
	else echo "bench/search.py skipped: set BENCH_DATABASE_URL (PostgreSQL)"; fi
	$(BIN)/python bench/api_bench.py $(API_BENCH_ARGS)
	$(BIN)/python bench/voice_bench.py $(VOICE_BENCH_ARGS)
	$(BIN)/python bench/doors_bench.py $(if $(DOORS_BEFORE_REF),--before-ref $(DOORS_BEFORE_REF)) \
		$(DOORS_BENCH_ARGS)

## Retake docs/screenshots/*.png of the chat page (needs Chromium and fonts-noto-cjk).
screenshots: $(BIN)/.installed
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/e2e/test_screenshots.py

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

migrate: $(BIN)/.installed-run
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput

superuser: $(BIN)/.installed-run
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py createsuperuser

## A self-signed certificate for nginx's TLS server in deploy/certs/ (a trial only; in
## production put your CA's fullchain.pem and privkey.pem there). CERT_HOST=<name>.
certs:
	mkdir -p deploy/certs
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	    -subj "/CN=$${CERT_HOST:-localhost}" -addext "subjectAltName=DNS:$${CERT_HOST:-localhost}" \
	    -keyout deploy/certs/privkey.pem -out deploy/certs/fullchain.pem

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .hypothesis
