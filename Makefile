# Redress. `make test` and `make run` set everything up themselves from a fresh clone.
PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
NODE     := node_modules/.installed
CHROMIUM ?= /usr/bin/chromium
# The demo form's port: make run PORT=8080
PORT     ?= 8000

.PHONY: setup browser test test-quick faults accessibility lint run bench clean messages

setup: $(STAMP) $(NODE)

# The editable install also builds vault/_native.c (the audit verifier's inner loops) against
# OpenSSL's libcrypto; its headers come from Debian's libssl-dev, installed when missing and we
# are root. Without them the install still works and verifying runs in pure Python, slower.
$(STAMP): requirements/lock.txt pyproject.toml vault/_native.c
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Redress needs Python 3.11 or newer" >&2; exit 1; }
	@if [ ! -e /usr/include/openssl/sha.h ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libssl-dev >/dev/null; \
		else \
			echo "No OpenSSL headers: install Debian's libssl-dev, or audit verify runs in pure Python." >&2; \
		fi; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $(STAMP)

# libsodium-wrappers-sumo (libsodium with SHA-256) for the form, axe-core for the accessibility tests: exact versions and
# integrity hashes from package-lock.json. Served by the intake, never committed.
$(NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE)

# Debian's Chromium for the browser tests; installed when missing and we are root.
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; \
		else \
			echo "The browser tests need Chromium at $(CHROMIUM): install Debian's chromium package." >&2; exit 1; \
		fi; \
	fi

# The suite runs on every core (pytest-xdist); each worker has its own temporary directories,
# intakes (port 0) and Chromium. Each test goes to whichever worker is free, except the modules
# in tests/conftest.py IN_ORDER, whose tests share a team of laptops built once and run whole,
# in order, on one worker (its pytest_xdist_make_scheduler; worksteal had split them, and a
# test then ran without the state the ones before it leave), and those in SHARED_SETUP, run
# whole so that their costly module fixture is made once. CI runs `make test`: every test.
# One worker more than the cores: the tests wait on subprocesses, intakes and Chromium for part
# of their time (two workers kept two cores 169% busy, three 177%; four added more CPU than
# they saved: 15 min 49 s; 5 December 2026).
PYTEST_WORKERS := $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
PYTEST_PARALLEL ?= -n $(PYTEST_WORKERS) --dist load

test: setup browser
	$(BIN)/ruff check vault cli tests bench
	$(BIN)/ruff format --check vault cli tests bench
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_PARALLEL) --durations=25

# For quick local runs: everything but the tests marked slow (over about 3 s each).
test-quick: setup browser
	$(BIN)/ruff check vault cli tests bench
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow"

# The fault harness at full length (docs/reliability.md): kill -9 loops, a full disk, damaged
# files, kills on a disk mounted sync, the intake fuzzed and loaded. `make test` runs its quick
# form. On every core: each loop draws its kill delays from its command's run time measured in
# the same test, so under the same load; REDRESS_FAULTS_SEED=... replays a run.
faults: setup
	REDRESS_FAULTS=full $(BIN)/pytest $(PYTEST_PARALLEL) tests/faults

# The accessibility tests (axe-core, WCAG 2.2 A and AA; 320 px; 200% zoom; the keyboard alone) in
# every language the form has. `make test` runs each in the languages it names (docs/intake.md 6).
accessibility: setup browser
	REDRESS_EVERY_LANGUAGE=1 $(BIN)/pytest $(PYTEST_PARALLEL) tests/vault/intake/browser/test_accessibility.py tests/vault/intake/browser/test_layout.py tests/vault/intake/browser/test_keyboard.py

lint: setup
	$(BIN)/ruff check vault cli tests bench
	$(BIN)/mypy

run: setup
	@$(BIN)/python -m cli.demo --port $(PORT)

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache build vault/_native.*.so

# The intake's message catalogs: extract every message (templates, scripts, Python) into
# vault/intake/locale/intake.pot and merge it into each language's intake.po. New messages
# arrive empty; tests/vault/intake/test_languages.py fails until each is translated.
INTAKE_LANGS := ro pt_BR es pl bg hu th zh_Hans
messages: $(STAMP)
	cd vault/intake && ../../$(BIN)/pybabel -q extract -F babel.cfg -k t -k N_ \
		--add-location=file --sort-by-file --no-wrap --project=Redress --copyright-holder=Redress \
		-o locale/intake.pot .
	for l in $(INTAKE_LANGS); do \
		if [ -f vault/intake/locale/$$l/LC_MESSAGES/intake.po ]; then \
			$(BIN)/pybabel -q update --no-fuzzy-matching --no-wrap -D intake -l $$l \
				-i vault/intake/locale/intake.pot -d vault/intake/locale; \
		else \
			$(BIN)/pybabel -q init --no-wrap -D intake -l $$l \
				-i vault/intake/locale/intake.pot -d vault/intake/locale; \
		fi; \
	done
