# Each target creates the virtual environment it needs when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run demo test test-postgres lint format relay-venv browser

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(PY) tools/dev_server.py

demo: $(VENV)/.installed
	$(PY) tools/dev_server.py --demo

test: browser relay-venv $(VENV)/.installed
	$(PY) -m pytest

# The browser tests add nothing on PostgreSQL: the pages are the same.
test-postgres: relay-venv $(VENV)/.installed
	bash tools/postgres.sh $(PY) -m pytest -m "not browser"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Debian's chromium for the browser tests (Playwright cannot download its own browsers
# here). Installed with apt-get when running as root; otherwise, or if that fails, this
# only warns: the browser tests are then skipped (CI sets SATMACHINEADMIN_REQUIRE_BROWSER=1
# and fails them instead).
CHROMIUM ?= /usr/bin/chromium

browser:
	@if test -x $(CHROMIUM); then \
		:; \
	elif test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium >/dev/null 2>&1 \
			|| { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
			|| echo "WARNING: could not install chromium; the browser tests will be" \
				"skipped" >&2; \
	else \
		echo "WARNING: no $(CHROMIUM), and installing it needs root and apt-get;" \
			"the browser tests will be skipped" >&2; \
	fi

# nostr-relay (PyPI), a second relay implementation for the integration tests. It gets
# a venv of its own because its dependencies clash with LNbits'. If it cannot be
# installed, this only warns: the tests that need it are skipped.
RELAY_VENV ?= .venv-relay
NOSTR_RELAY_PIN ?= nostr-relay==1.14 uvicorn<0.55

relay-venv: $(RELAY_VENV)/.installed

$(RELAY_VENV)/.installed:
	@if { test -x $(RELAY_VENV)/bin/python || $(PYTHON) -m venv $(RELAY_VENV); } \
		&& $(RELAY_VENV)/bin/python -m pip install --quiet --retries 2 \
			$(foreach req,$(NOSTR_RELAY_PIN),'$(req)'); then \
		touch $@; \
	else \
		echo "WARNING: could not install $(NOSTR_RELAY_PIN) into $(RELAY_VENV);" \
			"the nostr-relay tests will be skipped" >&2; \
	fi

# Benchmarks (bench/README.md): goals reported as PASS/FAIL, exit code 0 regardless.
# SQLite, and PostgreSQL on databases of the benchmark's own when tools/postgres.sh
# can provide a server; otherwise those rows say why they were skipped.
.PHONY: bench
bench: $(VENV)/.installed relay-venv
	@mkdir -p bench/results
	@if SATMACHINEADMIN_PG_DB=satmachineadmin_bench bash tools/postgres.sh true \
			> bench/results/postgres.log 2>&1; then \
		SATMACHINEADMIN_PG_DB=satmachineadmin_bench bash tools/postgres.sh \
			$(PY) bench/run.py; \
	else \
		$(PY) bench/run.py --no-postgres \
			"tools/postgres.sh could not provide PostgreSQL (bench/results/postgres.log)"; \
	fi
