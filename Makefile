# cdrflow: `make demo` and `make test` are the two commands; both install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
TEST_KAFKA_PORT ?= 19092
DEMO_KAFKA_PORT ?= 19192
BENCH_KAFKA_PORT ?= 19292
RUN_KAFKA_PORT ?= 9092
RUN_DIR ?= var

# Run $(1) with a broker of its own on port $(2), data in a fresh temporary folder, stopped after.
define with_broker
	@data=$$(mktemp -d -t cdrflow-kafka-XXXXXX); \
	export KAFKA_PORT=$(2) KAFKA_DATA_DIR=$$data; \
	trap 'deploy/kafka/broker stop >/dev/null; rm -rf "$$data"' EXIT; \
	started=$$(deploy/kafka/broker start) || exit 1; \
	broker=kafka://$${started#bootstrap=}; \
	$(1)
endef

.PHONY: help setup test test-docker demo run bench clean

help:
	@echo "make setup        create .venv with cdrflow installed (editable), resolve the Kafka broker and the JDBC driver, install the console's libraries"
	@echo "make test         install what is missing, start the services, run every test, stop them"
	@echo "make demo         run the pipeline on synthetic CDRs and mail one report (see README)"
	@echo "make run          keep a broker, a worker and a paced synthetic feed running; the console at :6066; Ctrl-C stops all"
	@echo "make bench        the benchmarks in bench/, one line per figure (BENCH_SCALE=0.2 for a quick look)"
	@echo "make test-docker  the integration tests against Docker images (needs a Docker engine)"

$(STAMPS)/system:
	@mkdir -p $(STAMPS)
	@deploy/install-system-packages
	@touch $@

$(STAMPS)/venv: pyproject.toml | $(STAMPS)/system
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

$(STAMPS)/kafka: deploy/kafka/pom.xml | $(STAMPS)/system
	deploy/kafka/broker resolve
	@touch $@

# The ClickHouse JDBC driver from Maven Central, which the SQL port's tests connect as DBeaver would.
$(STAMPS)/jdbc: deploy/jdbc/pom.xml | $(STAMPS)/system
	rm -rf deploy/jdbc/lib
	mvn -q -B -f deploy/jdbc/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/deploy/jdbc/lib
	@touch $@

# The report console's grid and chart libraries, from the npm registry (served by the worker).
$(STAMPS)/console: consumers/web/static/package.json consumers/web/static/package-lock.json | $(STAMPS)/system
	cd consumers/web/static && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's Chromium, for the console's browser tests.
$(STAMPS)/browser: | $(STAMPS)/system
	@deploy/install-system-packages --browser
	@touch $@

setup: $(STAMPS)/venv $(STAMPS)/kafka $(STAMPS)/console $(STAMPS)/jdbc

# The broker lives only as long as the run; its data goes to a fresh temporary folder.
test: setup $(STAMPS)/browser
	$(call with_broker,CDRFLOW_TEST_BROKER=$$broker CDRFLOW_TEST_CHROMIUM=/usr/bin/chromium $(BIN)/python -m pytest $(PYTEST_ARGS),$(TEST_KAFKA_PORT))

demo: setup
	$(call with_broker,CDRFLOW_BROKER=$$broker $(BIN)/python -m consumers.demo,$(DEMO_KAFKA_PORT))

# The broker keeps its data beside the warehouse (RUN_DIR/kafka), so topics, state and warehouse
# stay one whole across runs; it is stopped on exit, Ctrl-C included.
run: setup
	@export KAFKA_PORT=$(RUN_KAFKA_PORT) KAFKA_DATA_DIR=$(abspath $(RUN_DIR))/kafka; \
	trap 'deploy/kafka/broker stop >/dev/null' EXIT; \
	started=$$(deploy/kafka/broker start) || exit 1; \
	CDRFLOW_BROKER=kafka://$${started#bootstrap=} $(BIN)/python -m consumers.demo --run --folder $(RUN_DIR)

bench: setup
	$(call with_broker,export CDRFLOW_BENCH_BROKER=$$broker; $(BIN)/python -m bench.pipeline_bench && $(BIN)/python -m bench.state_bench && $(BIN)/python -m bench.live_bench && $(BIN)/python -m bench.live_number_bench && $(BIN)/python -m bench.isolation_bench && $(BIN)/python -m bench.warehouse_bench && $(BIN)/python -m bench.reports_bench,$(BENCH_KAFKA_PORT))

test-docker: setup
	@if ! docker info >/dev/null 2>&1; then echo "test-docker: no Docker engine on this machine, nothing run"; exit 0; fi; \
	$(BIN)/python -m pip install -q -e '.[test,docker]' && \
	CDRFLOW_TEST_DOCKER=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(STAMPS) var deploy/kafka/lib deploy/jdbc/lib consumers/web/static/node_modules
