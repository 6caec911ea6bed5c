# Each target creates the virtual environment it needs when it is missing.
# Every Python package is installed from a lock (requirements/*.lock): exact versions
# and sha256 hashes, written by `make lock`. A venv is made anew whenever its lock
# changes, so it holds exactly the locked set and nothing left over.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# --no-deps: the lock already lists every dependency, and pip's resolver would
# otherwise refuse the unpinned extras (pydantic[email]) that some packages declare.
INSTALL_LOCKED = -m pip install --quiet --no-deps --require-hashes -r

.PHONY: run demo test test-fast test-postgres lint format relay-venv browser lock \
	schemathesis-venv schemathesis dist

$(VENV)/.installed: requirements/dev.lock
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) $(INSTALL_LOCKED) requirements/dev.lock
	$(PY) -m pip check
	touch $@

run: $(VENV)/.installed
	$(PY) tools/dev_server.py

demo: $(VENV)/.installed
	$(PY) tools/dev_server.py --demo

# The suite runs in TEST_WORKERS processes (pytest-xdist), a file per worker at a
# time (each worker boots its own in-process LNbits on a database of its own). Most
# of a test's time is spent waiting on the relays, LNbits processes and Chromium it
# starts, so more workers than cores pays. The longest files (integration, then
# browser) are handed out first so that none of them is left to run alone at the end.
TEST_WORKERS ?= 3
PARALLEL = -n $(TEST_WORKERS) --dist loadfile
test: browser relay-venv $(VENV)/.installed
	$(PY) -m pytest $(PARALLEL) tests/integration tests/browser tests/api tests/unit

# The fast part while working: no relay, LNbits or browser process, nothing that
# takes seconds on its own (the `slow` marker); the in-process LNbits still boots.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not slow"

# The release archive and the catalog LNbits installs it from, in dist/
# (tools/dist.py; standard library only, so no venv). DIST_URL: where dist/ will be
# served from, the start of every link in dist/catalog.json.
DIST_URL ?= http://127.0.0.1:8000

dist:
	$(PYTHON) tools/dist.py --base-url $(DIST_URL)

# What touches the database, on PostgreSQL: the pure unit tests and the browser
# tests (the pages are the same) add nothing there.
test-postgres: relay-venv $(VENV)/.installed
	bash tools/postgres.sh $(PY) -m pytest $(PARALLEL) -m "not browser" \
		tests/integration tests/api

# mypy checks the code as the package LNbits loads, `satmachineadmin`, whatever this
# folder is called: under any other name the tests' imports of satmachineadmin.* would
# not resolve and go unchecked.
MYPY_ROOT := $(VENV)/mypy-root

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	mkdir -p $(MYPY_ROOT) && ln -sfn $(CURDIR) $(MYPY_ROOT)/satmachineadmin
	cd $(MYPY_ROOT) && $(CURDIR)/$(VENV)/bin/mypy --config-file $(CURDIR)/pyproject.toml \
		--cache-dir $(CURDIR)/.mypy_cache satmachineadmin

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Debian's chromium for the browser tests (Playwright cannot download its own browsers
# here) and Node.js for the tests that run the pages' scripts alone. Installed with
# apt-get when running as root; otherwise, or if that fails, this only warns: those
# tests are then skipped (CI sets SATMACHINEADMIN_REQUIRE_BROWSER=1 and fails them
# instead).
CHROMIUM ?= /usr/bin/chromium

# $(call apt_install,package,command,what needs it)
define apt_install
if command -v $(2) >/dev/null 2>&1; then \
	:; \
elif test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1; then \
	echo "Installing $(1) for the $(3)"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -q $(1) >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q $(1) >/dev/null; } \
		|| echo "WARNING: could not install $(1); the $(3) will be skipped" >&2; \
else \
	echo "WARNING: no $(2), and installing it needs root and apt-get;" \
		"the $(3) will be skipped" >&2; \
fi
endef

browser:
	@$(call apt_install,chromium,$(CHROMIUM),browser tests)
	@$(call apt_install,nodejs,node,tests of the pages' scripts)

# nostr-relay (PyPI), a second relay implementation for the integration tests, in a
# venv of its own because its dependencies clash with LNbits' (requirements/relay.in).
# If it cannot be installed, this only warns: the tests that need it are skipped
# (CI checks that it was installed).
RELAY_VENV ?= .venv-relay

relay-venv: $(RELAY_VENV)/.installed

$(RELAY_VENV)/.installed: requirements/relay.lock
	@rm -rf $(RELAY_VENV)
	@if $(PYTHON) -m venv $(RELAY_VENV) \
		&& $(RELAY_VENV)/bin/python $(INSTALL_LOCKED) requirements/relay.lock; then \
		touch $@; \
	else \
		echo "WARNING: could not install requirements/relay.lock into $(RELAY_VENV);" \
			"the nostr-relay tests will be skipped" >&2; \
	fi

# Schemathesis (requirements/schemathesis.in), the OpenAPI fuzzer, in a venv of its own:
# it reaches LNbits over HTTP only, so its dependencies never move LNbits' pins.
SCHEMATHESIS_VENV ?= .venv-schemathesis

schemathesis-venv: $(SCHEMATHESIS_VENV)/.installed

$(SCHEMATHESIS_VENV)/.installed: requirements/schemathesis.lock
	rm -rf $(SCHEMATHESIS_VENV)
	$(PYTHON) -m venv $(SCHEMATHESIS_VENV)
	$(SCHEMATHESIS_VENV)/bin/python $(INSTALL_LOCKED) requirements/schemathesis.lock
	$(SCHEMATHESIS_VENV)/bin/python -m pip check
	touch $@

# Fuzzes every route of the extension's API from its own /openapi.json on a real
# LNbits with data, as an operator and then as an LP, SCHEMATHESIS_SECONDS each
# (tools/schemathesis_run.py). Fails on any 5xx and on any answer the schema does not
# describe. Reports in test-artifacts/schemathesis/.
SCHEMATHESIS_SECONDS ?= 150

schemathesis: $(VENV)/.installed schemathesis-venv
	$(PY) tools/schemathesis_run.py --max-time $(SCHEMATHESIS_SECONDS) \
		--schemathesis $(SCHEMATHESIS_VENV)/bin/schemathesis

# Regenerates every lock from its .in file with uv (itself installed from its own
# lock): one resolution for Python 3.10-3.12 on any platform, with every file's hash.
# Run it deliberately, then run the tests and commit the locks with what changed.
LOCK_VENV ?= .venv-lock
LOCK_PYTHON ?= 3.10
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --quiet --universal --generate-hashes \
	--python-version $(LOCK_PYTHON) --custom-compile-command "make lock" \
	--annotation-style line

$(LOCK_VENV)/.installed: requirements/lock-tool.lock
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python $(INSTALL_LOCKED) requirements/lock-tool.lock
	touch $@

# `make lock` keeps the pins it can; `make lock LOCK_ARGS=--upgrade` moves every
# package to the newest release its .in file allows.
LOCK_ARGS ?=

lock: $(LOCK_VENV)/.installed
	cd requirements && for name in dev relay lock-tool schemathesis; do \
		$(CURDIR)/$(UV_COMPILE) $(LOCK_ARGS) $$name.in -o $$name.lock || exit 1; \
	done

# Benchmarks (bench/README.md): goals reported as PASS/FAIL, exit code 0 regardless.
# SQLite, and PostgreSQL on databases of the benchmark's own when tools/postgres.sh
# can provide a server; otherwise those rows say why they were skipped.
# The fleet-sized phases (bench/README.md, figure 7), apart: they would take
# make bench past its 5 minutes.
.PHONY: bench-fleet
bench-fleet: $(VENV)/.installed relay-venv
	@mkdir -p bench/results
	$(PY) bench/run.py --only schedules fleet --budget 1800

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
