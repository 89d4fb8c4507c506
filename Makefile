# The two commands a newcomer needs: `make dev` (run everything) and `make test`.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON312 := $(shell scripts/find-python.sh)
export UV_PYTHON := $(PYTHON312)
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
RUN := $(UV) run --locked --no-sync
PY := .venv/bin/python
CONVEX_DIR := deploy/convex
CLIENT_DIR := clients/typescript
WEB_DIR := examples/web
CHROMIUM := /usr/bin/chromium
KAFKA_LIBS := .tools/kafka/libs
# `make dev KAFKA=apache` runs the stack on Apache Kafka instead of the embedded tansu.
KAFKA ?= tansu

.PHONY: help chromium container-engine images test-images install install-kafka dev test test-kafka chaos-cluster lint architecture fmt typecheck generate schemas schemas-write openapi openapi-write test-client test-web test-browser web test-python test-fast test-convex token recommend evaluate demo chaos bench bench-hop bench-ingest bench-agents bench-convex-sync bench-orchestrator bench-scale acls clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON312) -m venv .tools
	.tools/bin/pip install --quiet 'uv==0.13.9'

.venv/.installed: uv.lock pyproject.toml $(wildcard */pyproject.toml services/*/pyproject.toml) | $(UV)
	$(UV) sync --locked --all-packages
	@touch $@

$(CONVEX_DIR)/node_modules/.installed: $(CONVEX_DIR)/package-lock.json
	cd $(CONVEX_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(CLIENT_DIR)/node_modules/.installed: $(CLIENT_DIR)/package-lock.json
	cd $(CLIENT_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_DIR)/node_modules/.installed: $(WEB_DIR)/package-lock.json $(CLIENT_DIR)/node_modules/.installed
	cd $(WEB_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The browser test drives Debian's Chromium (never a downloaded browser). Installed here
# when it is missing and we are root; otherwise `make test-browser` says what to install.
chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser test"; \
		apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
			|| { apt-get update -qq && apt-get install -y --no-install-recommends chromium >/dev/null; }; \
	fi

# The images are built and run with Docker when its daemon answers, else with podman: when
# neither is there and we are root, Debian's podman is installed, with runc (crun refuses
# this kernel's cgroup layout) and mmdebstrap (local base images when no registry answers).
CONTAINER_PACKAGES := podman runc mmdebstrap
container-engine:
	@if ! docker info >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& ! { command -v podman && command -v runc && command -v mmdebstrap; } >/dev/null; then \
		echo "installing Debian's $(CONTAINER_PACKAGES) for the images"; \
		apt-get install -y --no-install-recommends $(CONTAINER_PACKAGES) >/dev/null 2>&1 \
			|| { apt-get update -qq && apt-get install -y --no-install-recommends $(CONTAINER_PACKAGES) >/dev/null; }; \
	fi

# Apache Kafka's jars from Maven Central (deploy/kafka/pom.xml pins the version); Java 17+.
$(KAFKA_LIBS)/.installed: deploy/kafka/pom.xml
	@command -v mvn >/dev/null || { echo "Apache Kafka needs Java 17+ and Maven 3.8+ (mvn not found)"; exit 69; }
	rm -rf $(KAFKA_LIBS)
	mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS)
	@touch $@

install-kafka: $(KAFKA_LIBS)/.installed ## resolve Apache Kafka from Maven Central into .tools/kafka

install: .venv/.installed $(CONVEX_DIR)/node_modules/.installed $(CLIENT_DIR)/node_modules/.installed $(WEB_DIR)/node_modules/.installed chromium container-engine ## install Python (uv), Node dependencies, Chromium and podman (+ Apache Kafka when Maven is present)
	@if command -v mvn >/dev/null; then $(MAKE) --no-print-directory install-kafka; else echo "note: no Maven: Apache Kafka not installed (the embedded broker needs none)"; fi

dev: install ## run the whole system locally (embedded Kafka, Convex stand-in, all services); KAFKA=apache for Apache Kafka
	$(if $(filter apache,$(KAFKA)),@$(MAKE) --no-print-directory install-kafka)
	$(PY) -m careers_tools.devstack --kafka $(KAFKA)

test: install install-kafka lint architecture typecheck schemas openapi test-client test-web test-convex test-python test-kafka test-browser test-images ## lint, type-check and run every test (both brokers, the browser, the images)

lint: install ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

architecture: install ## import-linter: layers contracts < runtime < services < tools, services independent, pure domains
	$(RUN) lint-imports

fmt: install ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

typecheck: install ## mypy on every package (and the tools)
	$(RUN) mypy contracts/src occupations/src runtime/src $(wildcard services/*/src) tools/src

schemas: install ## fail if committed JSON Schemas drifted from the models
	$(PY) -m careers_contracts.schemas --check

generate: schemas-write openapi-write ## regenerate every generated artifact: schemas, OpenAPI + TS types, deploy/topics.json, AsyncAPI
	$(PY) scripts/export_topics.py
	$(PY) scripts/export_asyncapi.py

schemas-write: install ## regenerate contracts/schemas from the models
	$(PY) -m careers_contracts.schemas

openapi: install ## fail if docs/openapi.json or the TypeScript client types drifted from the API
	$(PY) -m ingest.openapi --check
	cd $(CLIENT_DIR) && npm run -s check

openapi-write: install ## regenerate docs/openapi.json and clients/typescript/src/schema.d.ts
	$(PY) -m ingest.openapi
	cd $(CLIENT_DIR) && npm run -s generate

test-client: install ## type-check the TypeScript client and its tests (bodies the API accepts)
	cd $(CLIENT_DIR) && npx tsc --noEmit

test-web: install ## type-check the example web app (examples/web)
	cd $(WEB_DIR) && npx tsc --noEmit

test-browser: install ## the example page in headless Chromium against a real stack (screenshot: examples/web/test-results/)
	$(PY) $(WEB_DIR)/tests/run_browser_test.py

web: install ## while `make dev` runs: the example page on http://localhost:3000
	cd $(WEB_DIR) && npx vite

test-python: install ## pytest on the embedded tansu broker: unit, broker, end-to-end; the Redis suites again on a 3-shard Redis Cluster
	$(RUN) pytest -m "not cluster and not images"
	CAREERS_TEST_REDIS=cluster $(RUN) pytest -m "not cluster and not images" services/ingest/tests services/orchestrator/tests

test-fast: install ## the inner loop, in seconds: unit tests and ingest's in-process API layer (no broker, no service processes)
	$(RUN) pytest -q -m "not broker and not cluster and not e2e and not images and not slow"

test-kafka: install install-kafka ## pytest on Apache Kafka: every broker test, SASL_SSL end to end, 3-broker failover
	CAREERS_TEST_BROKER=apache $(RUN) pytest -m "broker or cluster"

images: install ## build every image (podman or Docker; local Debian bases when no registry answers)
	$(PY) -m careers_tools.images

test-images: install install-kafka ## build the images (cached layers) and run them as production does: health, signed-in submit, SIGTERM
	$(RUN) pytest -m images deploy/tests/test_images_run.py

test-convex: install ## vitest: the Convex functions and the local stand-in
	cd $(CONVEX_DIR) && npx vitest run

token: install ## print a dev bearer token: make token SUB=user_123
	@$(PY) -m careers_tools.dev_keys token --sub "$(or $(SUB),user_dev)"

recommend: ## run both agents in-process: make recommend PROFILE=path.json
	@if [ -z "$(PROFILE)" ]; then echo "usage: make recommend PROFILE=path/to/profile.json   (e.g. PROFILE=examples/profile.json)" >&2; exit 2; fi
	@$(MAKE) -s install
	@$(PY) -m careers_tools.recommend "$(PROFILE)"

evaluate: install ## hit@5, top-1, MRR per dev set and category (../shared/eval/dev-profiles*.json, or EVAL=path)
	$(PY) -m careers_tools.evaluate $(EVAL)

demo: install ## while `make dev` runs: submit a sample profile and watch it finish
	$(PY) -m careers_tools.demo

chaos: install ## fault test: kill services mid-stream; prove nothing lost or duplicated (KAFKA=apache too)
	$(if $(filter apache,$(KAFKA)),@$(MAKE) --no-print-directory install-kafka)
	$(PY) -m careers_tools.chaos --kafka $(KAFKA) $(if $(N),--profiles $(N),)

chaos-cluster: install install-kafka ## broker failover on a 3-node Apache Kafka cluster: make chaos-cluster N=40
	$(PY) -m careers_tools.chaos_cluster $(if $(N),--profiles $(N),)

bench: install ## end-to-end benchmark (starts its own stack; KAFKA=apache for Apache Kafka), in-process baseline
	$(if $(filter apache,$(KAFKA)),@$(MAKE) --no-print-directory install-kafka)
	$(PY) bench/bench_pipeline.py --kafka $(KAFKA) $(BENCH_ARGS)

bench-hop: install ## one hop: our relay vs FastStream's vs raw aiokafka, CPU per record (KAFKA=apache; BENCH_ARGS="--n 20000 --rounds 3")
	$(if $(filter apache,$(KAFKA)),@$(MAKE) --no-print-directory install-kafka)
	$(PY) bench/bench_hop.py --kafka $(KAFKA) $(BENCH_ARGS)

bench-ingest: install ## ingest vs the FastAPI + FastStream peer and a bare FastAPI endpoint (BENCH_ARGS: --rounds, --variant, --kafka apache)
	$(PY) bench/bench_ingest.py $(BENCH_ARGS)

bench-scale: install ## ingest start-up CPU/RSS with 20k vs 200k retained jobs, beside the numbers before the shared read model (KAFKA=apache)
	$(if $(filter apache,$(KAFKA)),@$(MAKE) --no-print-directory install-kafka)
	$(PY) bench/bench_scale.py --kafka $(KAFKA) $(BENCH_ARGS)

bench-agents: install ## agents in-process: profiles/s, p50/p99, RSS
	$(PY) bench/bench_agents.py

bench-convex-sync: install ## convex-sync writes/s vs a raw aiohttp session (HTTP clients alone: BENCH_ARGS=--clients)
	$(PY) bench/bench_convex_sync.py $(BENCH_ARGS)

bench-orchestrator: install ## orchestrator's own CPU per job, in-process (real records, SQLite); BENCH_ARGS="--profile out.html"
	$(PY) bench/bench_orchestrator.py $(BENCH_ARGS)

acls: install ## least-privilege Kafka ACLs from the topic registry: kafka-acls commands, then Strimzi KafkaUsers
	@$(PY) -m careers_tools.acls
	@echo "---"
	@$(PY) -m careers_tools.acls --strimzi

clean: ## remove installed environments and caches
	rm -rf .venv .tools .dev $(CONVEX_DIR)/node_modules $(CLIENT_DIR)/node_modules $(WEB_DIR)/node_modules .pytest_cache .mypy_cache .ruff_cache
