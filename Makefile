# Vestnik: `make demo` shows it working, `make test` proves it. Both install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip

.PHONY: help install demo up down status test test-unit lint schemas screenshots bench bench-account bench-reports chaos chaos-short clean

help:
	@echo "make demo       start everything, post marks to a demo school, show the e-mails, stop"
	@echo "make up | down  keep the stack (Kafka, FerretDB on PostgreSQL, sinks) and the services running"
	@echo "make status     health of every server and service"
	@echo "make test       lint, then the whole test suite against real servers, and the short chaos run"
	@echo "make test-unit  domain tests only: no servers, seconds"
	@echo "make schemas    re-export the event JSON Schemas after changing a model"
	@echo "make screenshots  run the browser tests, then copy their screenshots to docs/screenshots/"
	@echo "make bench      a synthetic district through the pipeline: bench/results/<date>.*"
	@echo "make bench-account  only the personal account's pages against 200 ms, in minutes"
	@echo "make bench-reports  only the reports of a school of 1,000 students (issue 15)"
	@echo "make chaos      10,000 journal items while every kind of fault is injected: 0 lost, 0 duplicate"
	@echo "make chaos-short  the 1,000-item version make test runs"

# The venv is rebuilt only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

# Kafka jars from Maven Central, the FerretDB binary, and Debian packages (PostgreSQL, the PDF
# libraries, Prometheus); each script skips work already done.
.cache/.servers-ready: $(VENV)/.installed deploy/local/kafka/pom.xml deploy/local/ferretdb/main.go deploy/local/ferretdb/go.mod deploy/local/ferretdb/build.sh deploy/local/system/packages.sh
	deploy/local/system/packages.sh
	deploy/local/kafka/fetch.sh
	deploy/local/ferretdb/build.sh
	@touch $@

# axe-core, the accessibility rules the browser tests run inside each page, from npm into the
# gitignored cache (npm's own download cache too); a new pin installs again. After the system
# packages, which bring npm where there is none.
AXE_CORE_VERSION := 4.14.1
AXE_CORE_READY := .cache/node/.axe-core-$(AXE_CORE_VERSION)
$(AXE_CORE_READY): | .cache/.servers-ready
	npm install --prefix .cache/node --cache .cache/npm --no-audit --no-fund --loglevel=error \
		axe-core@$(AXE_CORE_VERSION)
	@test -s .cache/node/node_modules/axe-core/axe.min.js
	@touch $@

install: $(VENV)/.installed .cache/.servers-ready $(AXE_CORE_READY)

demo: install
	$(BIN)/vestnik demo

up: install
	$(BIN)/vestnik stack up
	$(BIN)/vestnik services up

down:
	-$(BIN)/vestnik services down
	-$(BIN)/vestnik stack down

status:
	-$(BIN)/vestnik stack status
	-$(BIN)/vestnik services status

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# The formatter owns the layout: no line opts out of it.
	@! grep -rn --include='*.py' 'fmt: skip' bench deploy schemas services tests
	@# Test modules share helpers through tests/builders.py and friends, never each other.
	@! grep -rnE --include='*.py' '^from tests\.(unit|integration|e2e)\b' tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test-unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit

# The test session starts Kafka, PostgreSQL and FerretDB itself (see tests/servers.py) unless
# VESTNIK_KAFKA_BOOTSTRAP and VESTNIK_MONGO_URL point at running ones.
# Beside the suite, the short chaos run (`chaos-short`) on a stack of its own: see tests/run.sh.
test: install lint
	tests/run.sh

schemas: $(VENV)/.installed
	$(BIN)/vestnik schemas export

# The README shows the screenshots in docs/screenshots/: this refreshes them from a new run of
# every browser test (var/screenshots/<test>/<page>-desktop.png and -phone.png), less the
# harness's own test pages.
screenshots: install
	rm -rf var/screenshots
	$(BIN)/pytest -m browser
	rm -rf docs/screenshots
	mkdir -p docs/screenshots
	cd var/screenshots && find . -name '*.png' ! -path './test_harness_*' \
		-exec cp --parents {} ../../docs/screenshots/ \;

clean: down
	rm -rf var

# A benchmark, not a test: writes bench/results/<date>.json, .md and .png. SCALE multiplies the
# district and every volume: the default, 0.25, runs in about 10 minutes on 2 cores; SCALE=1 is
# the full region-sized run (1,000 students, 50,000-notice backlog, 100,000 of history).
SCALE ?= 0.25
bench: install
	SCALE=$(SCALE) $(BIN)/python -m bench.run

# Only the personal account's pages (`BENCH_PHASES=account`): bench/results/<date>-account.*
bench-account: install
	SCALE=$(SCALE) BENCH_PHASES=account $(BIN)/python -m bench.run

# Only the school's reports (`BENCH_PHASES=reports`): bench/results/<date>-reports.*
bench-reports: install
	SCALE=$(SCALE) BENCH_PHASES=reports $(BIN)/python -m bench.run

# Proof under faults (issue 16): journal items through the pipeline while services are killed,
# Kafka and the stores restarted, the sinks fail; checks 0 lost, 0 duplicate. Writes
# bench/results/<date>-chaos.json and .md; exits non-zero when a check fails.
CHAOS_ITEMS ?= 10000
chaos: install
	CHAOS_ITEMS=$(CHAOS_ITEMS) $(BIN)/python -m bench.chaos

# The short version `make test` runs: 1,000 items, each service killed once, fed over a minute;
# its report in var/chaos-short/.
chaos-short: install
	CHAOS_ITEMS=1000 CHAOS_KILLS_EACH=1 CHAOS_FEED_SECONDS=60 CHAOS_RESULTS=var/chaos-short \
		$(BIN)/python -m bench.chaos
