"""How every Kafka client connects: address, TLS and SASL, decided in one place.

``kafka_security(settings)`` is the one mapping from the ``KAFKA_SECURITY_PROTOCOL`` /
``KAFKA_SASL_*`` / ``KAFKA_SSL_*`` settings to a connection's security; everything else
derives from it:

- the FastStream ``KafkaBroker`` takes it as ``security=`` (``broker.create_broker``);
- raw aiokafka producers, consumers and admin clients take ``**kafka_client_kwargs(s)``
  (the same object turned into aiokafka's arguments by FastStream's own parser, so both
  kinds of client always connect alike), producers ``**producer_kwargs(s)``.

``describe_kafka_error`` turns a connection failure into one line naming the setting to
check; ``wait_for_kafka`` probes the cluster with backoff until it accepts the connection,
logging each new reason once. Neither ever puts a password in a message.
"""

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from careers_runtime._faststream_adapter import aiokafka_security
from careers_runtime.backoff import Backoff
from careers_runtime.config import ConfigError
from careers_runtime.settings import KafkaSettings

log = logging.getLogger(__name__)

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


class KafkaConfigError(ConfigError):
    """A Kafka setting cannot be used (the TLS files cannot be loaded): a configuration
    error like any other, so a service exits 78 with one line naming it."""


def as_kafka_settings(kafka: "str | KafkaSettings") -> KafkaSettings:
    """A bootstrap string means: this address, security from the environment/``.env``."""
    if isinstance(kafka, KafkaSettings):
        return kafka
    return KafkaSettings(kafka_bootstrap_servers=kafka)


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    cafile = settings.kafka_ssl_cafile
    try:
        # Verifies the broker's certificate and host name; no CA file: the system's CAs.
        context = create_ssl_context(cafile=str(cafile) if cafile else None)
    except (ssl.SSLError, OSError) as exc:
        raise KafkaConfigError(
            "KAFKA_SSL_CAFILE",
            f"{cafile}: cannot load it as PEM CA certificates ({exc.__class__.__name__})",
        ) from None
    certfile, keyfile = settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile
    if certfile is not None:
        key_password = settings.kafka_ssl_key_password
        try:
            context.load_cert_chain(
                str(certfile),
                str(keyfile) if keyfile else None,
                # Never let OpenSSL prompt on a terminal for an encrypted key's password.
                key_password.get_secret_value() if key_password else (lambda: ""),
            )
        except (ssl.SSLError, OSError) as exc:
            raise KafkaConfigError(
                "KAFKA_SSL_CERTFILE",
                f"{certfile} (key KAFKA_SSL_KEYFILE={keyfile}): cannot load the client "
                "certificate and key (not PEM, not a matching pair, or an encrypted key "
                f"without the right KAFKA_SSL_KEY_PASSWORD; {exc.__class__.__name__})",
            ) from None
    return context


def kafka_security(settings: KafkaSettings) -> BaseSecurity | None:
    """The connection security for ``settings``; ``None`` for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if protocol.endswith("SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    # The settings validator guarantees mechanism, username and password for SASL_*.
    assert settings.kafka_sasl_mechanism is not None
    assert settings.kafka_sasl_username is not None
    assert settings.kafka_sasl_password is not None
    return _SASL[settings.kafka_sasl_mechanism](
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=protocol == "SASL_SSL",
    )


def kafka_client_kwargs(kafka: str | KafkaSettings) -> dict[str, Any]:
    """``bootstrap_servers`` and the security arguments of any aiokafka client.

    ``kafka``: settings, or a bootstrap string (security then from the environment)."""
    settings = as_kafka_settings(kafka)
    return {
        "bootstrap_servers": settings.bootstrap_list,
        **aiokafka_security(kafka_security(settings)),
    }


def producer_kwargs(kafka: str | KafkaSettings) -> dict[str, Any]:
    """``kafka_client_kwargs`` plus what every producer of ours uses: ``acks=all`` and
    ``enable_idempotence`` from ``KAFKA_ENABLE_IDEMPOTENCE``."""
    settings = as_kafka_settings(kafka)
    return {
        **kafka_client_kwargs(settings),
        "acks": "all",
        "enable_idempotence": settings.kafka_enable_idempotence,
    }


def describe_kafka_error(exc: BaseException, settings: KafkaSettings) -> str:
    """One line saying what went wrong connecting to Kafka and which setting to check.

    Built from the exception's type and the non-secret settings only: never a password.
    """
    protocol = settings.kafka_security_protocol
    where = f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}"
    if isinstance(
        exc, SaslAuthenticationFailed | AuthenticationFailedError | IllegalSaslStateError
    ):
        return (
            "Kafka authentication failed: check KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD "
            f"(KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism}, {where})"
        )
    if isinstance(exc, UnsupportedSaslMechanismError):
        return (
            f"Kafka does not accept KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism} "
            f"on {where}: check KAFKA_SASL_MECHANISM and the listener's port"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = getattr(exc, "verify_message", None) or "certificate verify failed"
        return (
            f"Kafka TLS: the broker's certificate is not trusted ({reason}): check "
            f"KAFKA_SSL_CAFILE={settings.kafka_ssl_cafile or '(system CAs)'} and that "
            f"{where} names a host in the certificate"
        )
    if isinstance(exc, ssl.SSLError):
        hint = (
            "check KAFKA_SSL_CERTFILE/KAFKA_SSL_KEYFILE (the broker may require or reject "
            "the client certificate) and that the listener speaks TLS"
            if settings.kafka_ssl_certfile
            else "check that the listener speaks TLS (KAFKA_SECURITY_PROTOCOL) and whether "
            "it requires a client certificate (KAFKA_SSL_CERTFILE/KAFKA_SSL_KEYFILE)"
        )
        return f"Kafka TLS handshake failed ({exc.__class__.__name__}): {hint}; {where}"
    if isinstance(exc, KafkaConfigError):
        return str(exc)
    kind = "no answer in time" if isinstance(exc, TimeoutError) else exc.__class__.__name__
    return (
        f"Kafka unreachable ({kind}): check {where} and "
        f"KAFKA_SECURITY_PROTOCOL={protocol} (the listener's protocol)"
    )


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or address, int(port or 9092)


async def probe_kafka(settings: KafkaSettings, timeout_s: float = 10.0) -> None:
    """Connect to the first bootstrap server that answers, with TLS and SASL, then close.

    Raises the first failure when none accepts: ``SaslAuthenticationFailed``,
    ``ssl.SSLCertVerificationError``, ``OSError``... (see ``describe_kafka_error``).
    """
    security = aiokafka_security(kafka_security(settings))
    first: BaseException | None = None
    for address in settings.bootstrap_list:
        host, port = _host_port(address)
        try:
            conn = await create_conn(
                host, port, request_timeout_ms=int(timeout_s * 1000), **security
            )
        except (OSError, TimeoutError, KafkaError) as exc:
            first = first or exc
            continue
        conn.close()
        return
    raise first or KafkaConfigError("KAFKA_BOOTSTRAP_SERVERS", "empty")


async def explain_kafka_failure(settings: KafkaSettings) -> str:
    """Why clients cannot connect (probing once), as ``describe_kafka_error`` puts it."""
    try:
        await probe_kafka(settings)
    except (OSError, TimeoutError, KafkaError) as exc:
        return describe_kafka_error(exc, settings)
    return f"Kafka at KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers} answered a probe"


async def wait_for_kafka(
    settings: KafkaSettings,
    *,
    initial_backoff_s: float = 1.0,
    max_backoff_s: float = 30.0,
    repeat_log_s: float = 300.0,
    on_failure: Callable[[str], None] | None = None,
) -> None:
    """Block until Kafka accepts a connection with these settings, retrying with capped
    exponential backoff (``careers_runtime.backoff``) forever. Logs an error line when the reason changes
    (and again every ``repeat_log_s`` while it persists), then "Kafka connection ok".
    ``on_failure(message)`` is called with each attempt's message (for readiness)."""
    backoff = Backoff(initial_backoff_s, max_backoff_s)
    failures = 0
    last_message: str | None = None
    last_logged = 0.0
    loop = asyncio.get_running_loop()
    while True:
        try:
            await probe_kafka(settings)
        except (OSError, TimeoutError, KafkaError) as exc:
            message = describe_kafka_error(exc, settings)
            failures += 1
            delay = backoff.delay_s(failures)
            now = loop.time()
            if message != last_message or now - last_logged >= repeat_log_s:
                log.error(message, extra={"retry_in_s": round(delay, 1)})
                last_message, last_logged = message, now
            if on_failure is not None:
                on_failure(message)
            await asyncio.sleep(delay)
            continue
        if last_message is not None:
            log.info("Kafka connection ok", extra={"bootstrap": settings.kafka_bootstrap_servers})
        return
