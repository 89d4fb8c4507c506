"""Ingest settings (environment, then ``.env``, then these defaults)."""

from careers_contracts import ConsumerGroup
from careers_runtime.settings import ServiceSettings
from pydantic import Field, field_validator


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class IngestSettings(ServiceSettings):
    service_name: str = "ingest"
    http_port: int = 8000
    internal_http_port: int | None = Field(
        default=None,
        description="Serve /healthz, /readyz and /metrics on this port only (not on the "
        "public HTTP_PORT); unset: on the public port, as in dev",
    )
    hsts_max_age_s: int = Field(
        default=63_072_000, ge=0, description="Strict-Transport-Security max-age (production)"
    )

    # Clerk session-token verification (see ingest.auth)
    clerk_jwks_url: str | None = Field(
        default=None,
        description="JWKS of the Clerk instance, e.g. https://<fapi>/.well-known/jwks.json",
    )
    clerk_jwt_key: str | None = Field(
        default=None,
        description="PEM public key for networkless verification; wins over CLERK_JWKS_URL",
    )
    clerk_issuer: str | None = Field(
        default=None, description="Required `iss` (the Clerk Frontend API URL)"
    )
    clerk_authorized_parties: str = Field(
        default="",
        description="Comma-separated origins allowed in `azp`; empty: not checked "
        "(required when ENVIRONMENT=production)",
    )
    clerk_session_audience: str | None = Field(
        default=None,
        description="Required `aud`; unset: tokens carrying any `aud` are rejected "
        "(Clerk session tokens have none; JWT-template tokens for other services do)",
    )
    clerk_leeway_s: float = Field(default=5.0, ge=0, le=120)
    clerk_jwks_cache_s: float = Field(default=3600.0, gt=0, description="JWKS cache lifetime")
    clerk_jwks_min_refetch_s: float = Field(
        default=30.0, ge=0, description="At most one JWKS refetch per this many seconds"
    )
    clerk_jwks_timeout_s: float = Field(default=5.0, gt=0)

    # HTTP
    docs_enabled: bool = Field(
        default=False,
        description="Serve /docs, /redoc and /openapi.json in production (always in dev/test)",
    )
    cors_origins: str = Field(
        default="http://localhost:3000", description="Comma-separated frontend origins"
    )
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=900 * 1024)
    publish_timeout_s: float = Field(
        default=10.0, gt=0, description="Broker ack deadline before answering 503"
    )

    # Shared state across replicas: the job read model, rate limits, idempotency keys and
    # the per-user stream limit. Required: redis://, rediss:// (TLS), or
    # redis+cluster:// / rediss+cluster:// for a Redis Cluster (careers_runtime.redis_client).
    redis_url: str | None = None
    rate_limit: str = Field(
        default="10/minute",
        description="Submits per user (limits syntax); invalid submits count too",
    )
    read_rate_limit: str = Field(
        default="300/minute",
        description="Job reads and event-stream opens per user (a separate, cheaper budget)",
    )
    auth_failure_rate_limit: str = Field(
        default="20/minute",
        description="Failed authentications per client address and replica; 429 past it, "
        "before the token is checked or the body read",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies trusted for X-Forwarded-For (the client address of the "
        "failed-authentication limit); behind an Ingress: its addresses, or *",
    )
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)

    # The job read model (ingest.read_model, filled by ingest.projector): in Redis, projected from job-status once per
    # cluster by the ingest replicas' consumer group.
    job_ttl_s: int = Field(
        default=7 * 24 * 3600, ge=60, description="Forget a job this long after its last update"
    )
    ingest_job_status_group: str = Field(
        default=ConsumerGroup.INGEST,
        description="Consumer group projecting job-status into the read model (one per cluster)",
    )
    job_status_fetch_wait_ms: int = Field(
        default=100, ge=10, le=5000, description="Max broker wait per job-status fetch"
    )
    sse_block_s: float = Field(
        default=10.0, gt=0, le=60, description="Longest single wait of an event stream on Redis"
    )
    sse_ping_s: float = Field(default=15.0, gt=0, description="SSE keep-alive comment interval")
    sse_max_streams_per_user: int = Field(
        default=5, ge=1, description="Open event streams per user, all replicas together (429)"
    )

    @field_validator("internal_http_port", "redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def production_problems(self) -> list[str]:
        """Shared checks (Kafka TLS...) plus what only makes sense in dev for ingest."""
        problems = super().production_problems()
        if self.internal_http_port is None:
            problems.append(
                "INTERNAL_HTTP_PORT is unset: /metrics and the probes would be served on "
                "the public port"
            )
        if "*" in self.cors_origin_list:
            problems.append("CORS_ORIGINS allows every origin (*): list the frontend origins")
        if not self.redis_url:
            problems.append(
                "REDIS_URL is empty: rate limits and Idempotency-Keys would be per replica "
                "and lost on restart"
            )
        if not self.authorized_parties:
            problems.append(
                "CLERK_AUTHORIZED_PARTIES must list the frontend origins (the token's `azp`)"
            )
        for name in ("clerk_jwks_url", "clerk_issuer"):
            value = getattr(self, name)
            if value and not value.startswith("https://"):
                problems.append(f"{name.upper()} must be an https:// URL")
        return problems

    @property
    def authorized_parties(self) -> list[str]:
        return _split(self.clerk_authorized_parties)

    @property
    def cors_origin_list(self) -> list[str]:
        return _split(self.cors_origins)
