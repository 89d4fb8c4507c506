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

.PHONY: help install dev test lint fmt typecheck schemas test-python test-convex token recommend evaluate demo chaos bench bench-ingest bench-agents bench-convex-sync clean

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

install: .venv/.installed $(CONVEX_DIR)/node_modules/.installed ## install Python (uv) and Node dependencies

dev: install ## run the whole system locally (embedded Kafka, Convex stand-in, all services)
	$(PY) -m careers_runtime.devstack

test: install lint typecheck schemas test-convex test-python ## lint, type-check and run every test

lint: install ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

fmt: install ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

typecheck: install ## mypy on every package
	$(RUN) mypy contracts/src runtime/src $(wildcard services/*/src)

schemas: install ## fail if committed JSON Schemas drifted from the models
	$(PY) -m careers_contracts.schemas --check

schemas-write: install ## regenerate contracts/schemas from the models
	$(PY) -m careers_contracts.schemas

test-python: install ## pytest: unit, broker, end-to-end
	$(RUN) pytest

test-convex: install ## vitest: the Convex functions and the local stand-in
	cd $(CONVEX_DIR) && npx vitest run

token: install ## print a dev bearer token: make token SUB=user_123
	@$(PY) -m ingest.dev_keys token --sub "$(or $(SUB),user_dev)"

recommend: install ## run both agents in-process: make recommend PROFILE=path.json
	@$(PY) -m career_matcher.recommend "$(PROFILE)"

evaluate: install ## hit@5, top-1, MRR per dev set and category (../shared/eval/dev-profiles*.json, or EVAL=path)
	$(PY) -m career_matcher.evaluate $(EVAL)

demo: install ## while `make dev` runs: submit a sample profile and watch it finish
	$(PY) -m ingest.demo

chaos: install ## fault test: kill services mid-stream; prove nothing lost or duplicated
	$(PY) -m careers_runtime.chaos $(if $(N),--profiles $(N),)

bench: install ## end-to-end benchmark against a running stack, with in-process baseline
	$(PY) bench/bench_pipeline.py $(BENCH_ARGS)

bench-ingest: install ## ingest throughput/latency vs a bare FastAPI endpoint
	$(PY) bench/bench_ingest.py

bench-agents: install ## agents in-process: profiles/s, p50/p99, RSS
	$(PY) bench/bench_agents.py

bench-convex-sync: install ## convex-sync writes/s vs raw httpx
	$(PY) bench/bench_convex_sync.py

clean: ## remove installed environments and caches
	rm -rf .venv .tools .dev $(CONVEX_DIR)/node_modules .pytest_cache .mypy_cache .ruff_cache
