"""Settings every service shares, read from the environment and ``.env``.

Precedence (pydantic-settings): explicit environment variables win over ``.env``, which
wins over the defaults below. Each service subclasses ``ServiceSettings`` for its own
variables; ``.env.example`` documents all of them.
"""

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseSettings):
    """Where Kafka is and how to connect to it: what every Kafka client needs, services and
    command-line tools (``careers-dlq``, the topic job, ``make chaos``) alike.

    ``careers_runtime.kafka_client`` turns these into client arguments; nothing else reads
    the security fields. Secrets are ``SecretStr`` (``**********`` in any repr or log), and
    validation errors never echo input values.
    """

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", env_file_encoding="utf-8", hide_input_in_errors=True
    )

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list"
    )
    # TLS and SASL. SSL/SASL_SSL without KAFKA_SSL_CAFILE trust the system's CA store
    # (enough for MSK and Confluent Cloud); a private CA (Strimzi) needs its file.
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    # mTLS: the client certificate (PEM; may also hold the key) and its key.
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    # Idempotent producers (no duplicates from producer retries, order kept per partition).
    # Right for Apache Kafka and every managed Kafka; the embedded tansu broker cannot do
    # them (InitProducerId fails), so `make dev`, the tests, chaos and the benches set it
    # false whenever they start tansu.
    kafka_enable_idempotence: bool = True

    @field_validator(
        "kafka_sasl_mechanism",
        "kafka_sasl_username",
        "kafka_sasl_password",
        "kafka_ssl_cafile",
        "kafka_ssl_certfile",
        "kafka_ssl_keyfile",
        "kafka_ssl_key_password",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `KAFKA_SSL_CAFILE=` in an env file or a compose file means "not set".
        return None if value == "" else value

    @model_validator(mode="after")
    def _check_security(self) -> Self:
        protocol = self.kafka_security_protocol
        sasl = protocol.startswith("SASL_")
        tls = protocol.endswith("SSL")
        if sasl:
            missing = [
                name
                for name, value in (
                    ("KAFKA_SASL_MECHANISM", self.kafka_sasl_mechanism),
                    ("KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                    ("KAFKA_SASL_PASSWORD", self.kafka_sasl_password),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)} to be set"
                )
        else:
            given = [
                name
                for name, value in (
                    ("KAFKA_SASL_MECHANISM", self.kafka_sasl_mechanism),
                    ("KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                    ("KAFKA_SASL_PASSWORD", self.kafka_sasl_password),
                )
                if value
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} set but KAFKA_SECURITY_PROTOCOL={protocol} would not "
                    "use them: set KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT)"
                )
        files = (
            ("KAFKA_SSL_CAFILE", self.kafka_ssl_cafile),
            ("KAFKA_SSL_CERTFILE", self.kafka_ssl_certfile),
            ("KAFKA_SSL_KEYFILE", self.kafka_ssl_keyfile),
        )
        if not tls:
            given = [name for name, value in files if value is not None]
            if self.kafka_ssl_key_password is not None:
                given.append("KAFKA_SSL_KEY_PASSWORD")
            if given:
                raise ValueError(
                    f"{', '.join(given)} set but KAFKA_SECURITY_PROTOCOL={protocol} does not use "
                    "TLS: set KAFKA_SECURITY_PROTOCOL=SSL (or SASL_SSL)"
                )
            return self
        for name, path in files:
            if path is not None and not path.is_file():
                raise ValueError(f"{name}={path}: no such file")
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise ValueError("KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE (the client certificate)")
        if self.kafka_ssl_key_password is not None and self.kafka_ssl_certfile is None:
            raise ValueError("KAFKA_SSL_KEY_PASSWORD needs KAFKA_SSL_CERTFILE and its key")
        return self

    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]


PRODUCTION_REFUSES = "ENVIRONMENT=production refuses: "


class ServiceSettings(KafkaSettings):
    service_name: str = "careers"
    # Unset means production: every production check applies unless a process says it
    # is not one (`make dev`, the test fixtures, compose's local stack set dev/test).
    environment: Literal["dev", "test", "production"] = "production"
    # Kafka without TLS is refused in production unless this says that something else
    # (a service mesh's mTLS) encrypts the traffic. SASL PLAIN without TLS never passes.
    kafka_allow_plaintext: bool = False

    # Kafka (the address and the security settings are in KafkaSettings)
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
    # The producer's batch per partition. aiokafka holds one open batch per partition and
    # makes every further send wait until the sender took it; at its 16 KiB default a
    # fetched batch of ~1.4 KB events fills it about once per 12 records, and each send
    # behind it waits (the issue-17 hop bench). Under the broker's 1 MiB record batch limit.
    kafka_max_batch_bytes: int = Field(default=128 * 1024, ge=1024, le=1024 * 1024)
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

    # ------------------------------------------------------------- production checks

    def production_problems(self) -> list[str]:
        """The one check list of unsafe production settings, shared by every service (a
        service adds its own by overriding this and extending ``super()``'s list). Each
        problem starts with the variable it names; ``config.describe`` turns each into
        its own ``ConfigError`` (one line, exit 78)."""
        problems: list[str] = []
        protocol = self.kafka_security_protocol
        if protocol in ("PLAINTEXT", "SASL_PLAINTEXT") and not self.kafka_allow_plaintext:
            problems.append(
                f"KAFKA_SECURITY_PROTOCOL={protocol} sends Kafka traffic unencrypted: use "
                "SSL or SASL_SSL (KAFKA_ALLOW_PLAINTEXT=true only where a service mesh "
                "encrypts it)"
            )
        if protocol == "SASL_PLAINTEXT" and self.kafka_sasl_mechanism == "PLAIN":
            problems.append(
                "KAFKA_SASL_MECHANISM=PLAIN over SASL_PLAINTEXT sends the Kafka password in "
                "clear: use SASL_SSL, or SCRAM-SHA-512"
            )
        return problems

    @model_validator(mode="after")
    def _production_is_safe(self) -> Self:
        if self.environment != "production":
            return self
        problems = self.production_problems()
        if problems:
            raise ValueError(PRODUCTION_REFUSES + "; ".join(problems))
        return self
