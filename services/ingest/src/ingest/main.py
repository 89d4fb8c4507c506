"""The ingest FastAPI application: wiring, lifespan, middleware, OpenAPI."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any

import uvicorn
from careers_runtime.broker import create_broker
from careers_runtime.config import ConfigError
from careers_runtime.kafka_client import wait_for_kafka
from careers_runtime.redis_client import redis_from_url
from careers_runtime.telemetry import configure_tracing
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ingest.api.deps import Services
from ingest.api.errors import install_error_handlers
from ingest.api.middleware import BodySizeLimit, HttpMetrics, StrictTransportSecurity
from ingest.api.routes import analyze, health, jobs
from ingest.api.submit_route import SubmitFastPath
from ingest.auth import ClerkVerifier, JwksCache
from ingest.dev_jwks import DEV_JWKS_PATH, jwks_for_pem
from ingest.idempotency_store import IdempotencyStore, RedisIdempotencyStore
from ingest.openapi import SERVERS, openapi
from ingest.projector import StatusProjector
from ingest.ratelimit import AuthFailures, UserRateLimiter
from ingest.read_model import JobReadModel
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)

DESCRIPTION = """
The frontend's door to the career agents. Submit a profile, then follow the job.

* Authenticate every call with the user's **Clerk session token**:
  `Authorization: Bearer <token>`. The user id is the token's `sub`.
* Errors are `application/problem+json` (RFC 9457) with a stable `code`.
* `POST /v1/agents/analyze` answers **202** once the job is durably queued; progress
  arrives as Server-Sent Events on `GET /v1/jobs/{jobId}/events`.
"""


def build_verifier(settings: IngestSettings) -> ClerkVerifier:
    """The Clerk token verifier; a ``ConfigError`` names the setting that is missing/wrong."""
    if not (settings.clerk_jwt_key or settings.clerk_jwks_url):
        raise ConfigError(
            "CLERK_JWKS_URL",
            "not set: set CLERK_JWKS_URL (or CLERK_JWT_KEY, a PEM public key) to verify "
            "Clerk session tokens",
        )
    if not settings.clerk_issuer:
        raise ConfigError("CLERK_ISSUER", "not set: set it to the Clerk Frontend API URL")
    jwks = None
    if settings.clerk_jwks_url and not settings.clerk_jwt_key:
        jwks = JwksCache(
            settings.clerk_jwks_url,
            cache_s=settings.clerk_jwks_cache_s,
            min_refetch_s=settings.clerk_jwks_min_refetch_s,
            timeout_s=settings.clerk_jwks_timeout_s,
        )
    try:
        return ClerkVerifier(
            issuer=settings.clerk_issuer,
            authorized_parties=settings.authorized_parties,
            audience=settings.clerk_session_audience,
            leeway_s=settings.clerk_leeway_s,
            pem_key=settings.clerk_jwt_key,
            jwks=jwks,
        )
    except ValueError as exc:  # an unreadable PEM key
        raise ConfigError("CLERK_JWT_KEY", str(exc)) from exc


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the main (public) server."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def internal_server(app: FastAPI, settings: IngestSettings) -> AsyncIterator[None]:
    """/healthz, /readyz and /metrics on INTERNAL_HTTP_PORT, for probes and Prometheus
    only: the public port (behind the Ingress) does not serve them."""
    internal = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    internal.state = app.state  # the same Services
    internal.include_router(health.router)
    server = _QuietServer(
        uvicorn.Config(
            internal,
            host=settings.http_host,
            port=settings.internal_http_port or 0,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve(), name="internal-http")
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start (e.g. the port is taken)
            raise RuntimeError("the internal HTTP server stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    verifier = build_verifier(settings)  # fails fast on missing/invalid Clerk settings
    redis_url = settings.redis_url
    if not redis_url:
        raise ConfigError(
            "REDIS_URL",
            "not set: ingest keeps the job read model, rate limits and Idempotency-Keys in "
            "Redis (redis://, rediss:// or redis+cluster://; `make dev` starts one)",
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_tracing(settings)
        async with AsyncExitStack() as stack:
            broker = create_broker(settings)
            stack.push_async_callback(broker.stop)
            stack.push_async_callback(verifier.close)

            assert redis_url is not None  # checked by create_app
            redis = redis_from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
            stack.push_async_callback(redis.aclose)
            # Event streams block on Redis up to SSE_BLOCK_S: their own connections.
            streaming = redis_from_url(
                redis_url, socket_timeout=settings.sse_block_s + 5, socket_connect_timeout=2.0
            )
            stack.push_async_callback(streaming.aclose)
            idempotency: IdempotencyStore = RedisIdempotencyStore(
                redis,  # type: ignore[arg-type]
                settings.idempotency_ttl_s,
            )
            limiter = UserRateLimiter(settings.rate_limit, redis_url)

            jobs = JobReadModel(redis, settings.job_ttl_s, streaming=streaming)
            projector = StatusProjector(settings, jobs)
            stack.push_async_callback(projector.stop)

            async def connect_kafka() -> None:
                # In the background, so HTTP serves meanwhile: while Kafka refuses us (down,
                # wrong password, untrusted certificate) /readyz is 503, one log line names
                # the setting, and it retries with backoff instead of crash-looping.
                await wait_for_kafka(settings)
                await broker.start()
                await projector.start()

            connecting = asyncio.create_task(connect_kafka(), name="kafka-connect")

            async def stop_connecting() -> None:
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting

            stack.push_async_callback(stop_connecting)

            app.state.services = Services(
                settings=settings,
                broker=broker,
                verifier=verifier,
                limiter=limiter,
                idempotency=idempotency,
                jobs=jobs,
                projector=projector,
                redis=redis,
                read_limiter=UserRateLimiter(settings.read_rate_limit, redis_url, namespace="read"),
                auth_failures=AuthFailures(settings.auth_failure_rate_limit),
            )
            # Everything allocated so far (modules, schemas, validators) lives as long as the
            # process: take it out of the collector's view, so full collections under load
            # only walk objects that can actually die (~5% of a submit's CPU otherwise).
            if settings.internal_http_port is not None:
                await stack.enter_async_context(internal_server(app, settings))
            gc.collect()
            gc.freeze()
            log.info("ingest ready")
            yield

    # /docs, /redoc and /openapi.json: off in production unless DOCS_ENABLED says so (the
    # document is published in docs/openapi.json; a live one maps the API for anyone).
    docs = settings.environment != "production" or settings.docs_enabled
    app = FastAPI(
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        title="Career agents ingest API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[{"name": "jobs", "description": "Submit profiles and follow jobs"}],
        servers=SERVERS,
        generate_unique_id_function=lambda route: route.name,
        # FastAPI's native telemetry (three SDK spans per request) costs a large share of a
        # submit's CPU (docs/benchmarks.md, ingest), and its log records can carry
        # submitted profile text. The submit route opens one span itself (continuing the caller's
        # traceparent) so the job's trace still starts here and flows into Kafka headers.
        telemetry={"tracing": False, "operation_spans": False, "logs": False, "metrics": False},
        # Payloads are camelCase contract models; keep the documented field names.
        separate_input_output_schemas=False,
    )
    install_error_handlers(app)
    app.include_router(analyze.router)
    app.include_router(jobs.router)
    if settings.internal_http_port is None:
        app.include_router(health.router)  # dev: probes and metrics on the one port

    if settings.environment == "dev" and settings.clerk_jwt_key:
        dev_jwks = jwks_for_pem(settings.clerk_jwt_key)

        @app.get(DEV_JWKS_PATH, include_in_schema=False)
        async def dev_clerk_jwks() -> dict[str, Any]:
            """Dev only: the JWKS of the local signing key (what Clerk serves in prod)."""
            return dev_jwks

    app.openapi = lambda: openapi(app)  # type: ignore[method-assign]

    # Outermost first: metrics see everything, CORS headers go on every response
    # (errors included), the body cap applies before anything reads the body, and a valid
    # submit is answered before Starlette's routing (SubmitFastPath, innermost).
    app.add_middleware(SubmitFastPath, route=analyze.submit_route())
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origin_list,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
        expose_headers=["Location", "Retry-After", "WWW-Authenticate", "Idempotent-Replayed"],
        max_age=600,
    )
    app.add_middleware(HttpMetrics)
    if settings.environment == "production":
        app.add_middleware(StrictTransportSecurity, max_age_s=settings.hsts_max_age_s)
    return app
