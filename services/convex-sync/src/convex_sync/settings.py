"""convex-sync settings: the shared ``ServiceSettings`` plus where and how to write to Convex."""

from careers_contracts import ConsumerGroup
from careers_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

MIN_SECRET_CHARS = 32
_PLACEHOLDER_WORDS = ("replace", "change", "example", "secret", "placeholder", "dev-", "todo")


def _looks_like_a_placeholder(secret: str) -> bool:
    lowered = secret.lower()
    return any(word in lowered for word in _PLACEHOLDER_WORDS) or len(set(secret)) < 8


class ConvexSyncSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    service_name: str = "convex-sync"

    convex_site_url: str = Field(
        default="http://127.0.0.1:3210",
        description="Base URL of the HTTP actions: https://<deployment>.convex.site "
        "(not .convex.cloud); the local stand-in in dev",
    )
    convex_sync_secret: SecretStr = Field(
        description="Shared secret sent as X-Convex-Sync-Secret; same value as the "
        "deployment's CONVEX_SYNC_SECRET environment variable"
    )
    convex_timeout_s: float = Field(default=10.0, gt=0, description="Per request")
    convex_max_connections: int = Field(default=16, ge=1, description="HTTP connection pool")
    convex_max_retry_s: float = Field(
        default=30.0,
        ge=0,
        description="How long one record is retried in-process (408/429/5xx/transport) "
        "before it is handed to the runtime's retry topic",
    )
    convex_batch_max_documents: int = Field(
        default=64,
        ge=0,
        le=100,
        description="Documents per POST /sync/batch request: the writes waiting at the same "
        "moment (the records of a fetched batch in flight) go in one request. 0 = one request "
        "per document to POST /agent-outputs and /career-recommendations",
    )
    convex_batch_max_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        le=8 * 1024 * 1024,
        description="Body size per batch request (Convex's action accepts up to 8 MiB)",
    )
    convex_backoff_base_s: float = Field(default=0.2, gt=0)
    convex_backoff_max_s: float = Field(default=5.0, gt=0)
    convex_sync_consumer_group: str = Field(
        default=ConsumerGroup.CONVEX_SYNC,
        description="Consumer group; its retry and dead-letter topics are named after it",
    )

    def production_problems(self) -> list[str]:
        """Shared checks (Kafka TLS...) plus https only, and a real, long secret."""
        problems = super().production_problems()
        if not self.convex_site_url.startswith("https://"):
            problems.append("CONVEX_SITE_URL must be an https:// URL")
        secret = self.convex_sync_secret.get_secret_value()
        if len(secret) < MIN_SECRET_CHARS:
            problems.append(
                f"CONVEX_SYNC_SECRET must be at least {MIN_SECRET_CHARS} characters "
                "(openssl rand -hex 32)"
            )
        elif _looks_like_a_placeholder(secret):
            problems.append("CONVEX_SYNC_SECRET is a placeholder, not a secret")
        return problems

    @model_validator(mode="after")
    def _retries_fit_in_handler_timeout(self) -> "ConvexSyncSettings":
        # The runtime cancels a handler after handler_timeout_s; in-process retries (plus
        # the last request) must end before that, or a slow Convex looks like a hung handler.
        if self.convex_max_retry_s + self.convex_timeout_s >= self.handler_timeout_s:
            raise ValueError(
                "CONVEX_MAX_RETRY_S + CONVEX_TIMEOUT_S must be below HANDLER_TIMEOUT_S "
                f"({self.convex_max_retry_s} + {self.convex_timeout_s} >= "
                f"{self.handler_timeout_s})"
            )
        return self
