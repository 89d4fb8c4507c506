"""Settings every service shares, read from the environment and ``.env``.

Precedence (pydantic-settings): explicit environment variables win over ``.env``, which
wins over the defaults below. Each service subclasses ``ServiceSettings`` for its own
variables; ``.env.example`` documents all of them.
"""

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    service_name: str = "careers"
    environment: Literal["dev", "test", "production"] = "dev"

    # Kafka
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list"
    )
    kafka_client_id: str | None = None
    # Used when a service creates its own retry/dead-letter topics at start-up; must match
    # the cluster's (3 in production) or a worker racing the topic job creates them RF=1.
    kafka_topic_replication_factor: int = Field(default=1, ge=1)
    # Short sessions make rebalances fast in dev/tests (a join takes ~half of this);
    # production keeps Kafka's usual 10 s+ to ride out GC pauses and network blips.
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_request_timeout_ms: int = 30_000
    kafka_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    kafka_linger_ms: int = 5
    # How long a fetch may wait at the broker for new records. Apache Kafka answers as soon
    # as records arrive, so Kafka's 500 ms default costs nothing there; the embedded broker
    # answers only at the deadline, so dev and tests use 50 ms (every hop waits it once).
    kafka_fetch_max_wait_ms: int = Field(default=500, ge=1, le=10_000)
    kafka_max_batch_records: int = Field(default=32, ge=1, le=1000)
    kafka_batch_timeout_ms: int = 50
    # The retry topic's consumer polls this slowly (fetch wait and batch timeout, at least
    # the two above): a retried record waits its backoff (RETRY_BACKOFF_BASE_S and up)
    # anyway, and an idle consumer fetching every 50 ms from the embedded broker costs
    # both sides CPU all the time.
    kafka_retry_poll_ms: int = Field(default=500, ge=1, le=10_000)

    # Delivery policy (runtime.delivery)
    max_in_flight: int = Field(default=16, ge=1, description="Concurrent keys per consumer")
    retry_max_attempts: int = Field(default=4, ge=1, description="Attempts before dead-letter")
    retry_backoff_base_s: float = 0.5
    retry_backoff_max_s: float = 30.0
    handler_timeout_s: float = 60.0
    shutdown_grace_s: float = 20.0

    # Health/metrics HTTP endpoint of worker services
    http_host: str = "127.0.0.1"
    http_port: int = 8080

    # Logging and telemetry
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_namespace: str = "careers"

    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]
