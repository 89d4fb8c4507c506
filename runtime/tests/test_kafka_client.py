"""KAFKA_SECURITY_PROTOCOL & co. -> client arguments, validation, and failure messages."""

import asyncio
import logging
import ssl
from pathlib import Path

import pytest
from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError
from careers_runtime.broker import create_broker
from careers_runtime.kafka_client import (
    KafkaConfigError,
    describe_kafka_error,
    kafka_client_kwargs,
    kafka_security,
    probe_kafka,
    producer_kwargs,
    wait_for_kafka,
)
from careers_runtime.settings import KafkaSettings, ServiceSettings
from careers_tools.testing.fake_kafka import FakeKafka
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import ValidationError

from .conftest import TestCA, server_tls

PASSWORD = "pa55-w0rd-never-logged"


def kafka(**values: object) -> KafkaSettings:
    return KafkaSettings(_env_file=None, **values)  # type: ignore[arg-type]


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    settings = kafka(kafka_bootstrap_servers="a:9092, b:9092")
    assert kafka_security(settings) is None
    assert kafka_client_kwargs(settings) == {"bootstrap_servers": ["a:9092", "b:9092"]}


def test_producers_are_idempotent_with_acks_all_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KAFKA_ENABLE_IDEMPOTENCE", raising=False)
    assert producer_kwargs(kafka())["enable_idempotence"] is True
    assert producer_kwargs(kafka())["acks"] == "all"
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "false")
    assert producer_kwargs(kafka())["enable_idempotence"] is False


@pytest.mark.parametrize(
    ("mechanism", "cls"),
    [("PLAIN", SASLPlaintext), ("SCRAM-SHA-256", SASLScram256), ("SCRAM-SHA-512", SASLScram512)],
)
def test_sasl_ssl_maps_each_mechanism(mechanism: str, cls: type, test_ca: TestCA) -> None:
    settings = kafka(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="svc",
        kafka_sasl_password=PASSWORD,
        kafka_ssl_cafile=test_ca.certfile,
    )
    assert isinstance(kafka_security(settings), cls)
    kwargs = kafka_client_kwargs(settings)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == mechanism
    assert kwargs["sasl_plain_username"] == "svc"
    assert kwargs["sasl_plain_password"] == PASSWORD
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_sasl_plaintext_has_no_tls() -> None:
    kwargs = kafka_client_kwargs(
        kafka(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="svc",
            kafka_sasl_password=PASSWORD,
        )
    )
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["ssl_context"] is None


def test_ssl_without_a_ca_file_trusts_the_system_store() -> None:
    security = kafka_security(kafka(kafka_security_protocol="SSL"))
    assert type(security) is BaseSecurity
    assert security.use_ssl
    assert kafka_client_kwargs(kafka(kafka_security_protocol="SSL"))["security_protocol"] == "SSL"


def test_mtls_loads_the_client_certificate_and_an_encrypted_key(
    test_ca: TestCA, tmp_path: Path
) -> None:
    client = test_ca.issue(tmp_path / "client", "svc", key_password="k3y")
    settings = kafka(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=test_ca.certfile,
        kafka_ssl_certfile=client.certfile,
        kafka_ssl_keyfile=client.keyfile,
        kafka_ssl_key_password="k3y",
    )
    assert kafka_client_kwargs(settings)["ssl_context"] is not None
    # Without (or with a wrong) password: a clear error naming the setting, no prompt.
    for password in (None, "wrong"):
        settings = kafka(
            kafka_security_protocol="SSL",
            kafka_ssl_certfile=client.certfile,
            kafka_ssl_keyfile=client.keyfile,
            kafka_ssl_key_password=password,
        )
        with pytest.raises(KafkaConfigError, match="KAFKA_SSL_KEY_PASSWORD"):
            kafka_security(settings)


def test_a_ca_file_that_is_not_pem_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(KafkaConfigError, match="KAFKA_SSL_CAFILE"):
        kafka_security(kafka(kafka_security_protocol="SSL", kafka_ssl_cafile=bad))


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_username": "svc",
            },
            "KAFKA_SASL_PASSWORD",
        ),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_password": PASSWORD,
            },
            "KAFKA_SASL_USERNAME",
        ),
        ({"kafka_sasl_username": "svc", "kafka_sasl_password": PASSWORD}, "SASL_SSL"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/no/such/ca.pem"}, "no such"),
        ({"kafka_ssl_cafile": "/etc/hostname"}, "KAFKA_SECURITY_PROTOCOL=SSL"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "/etc/hostname"},
            "KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE",
        ),
        ({"kafka_security_protocol": "SASL_SSL ", "kafka_sasl_mechanism": "PLAIN"}, "SASL_SSL"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "SCRAM-SHA-512"),
    ],
)
def test_invalid_combinations_name_the_setting_and_never_echo_a_secret(
    values: dict[str, str], named: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        kafka(**values)
    assert named in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SSL_CAFILE"):
        monkeypatch.setenv(name, "")
    assert kafka_security(kafka()) is None


def test_secrets_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch, test_ca: TestCA) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("KAFKA_SSL_CAFILE", str(test_ca.certfile))
    settings = ServiceSettings(_env_file=None)  # type: ignore[call-arg]
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings.model_dump())


def test_the_faststream_broker_gets_the_same_security(test_ca: TestCA) -> None:
    settings = ServiceSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password=PASSWORD,
        kafka_ssl_cafile=test_ca.certfile,
        kafka_enable_idempotence=True,
    )
    broker = create_broker(settings)
    params = broker._connection_kwargs  # what FastStream hands every aiokafka client
    for key, value in kafka_client_kwargs(settings).items():
        if key not in {"ssl_context", "bootstrap_servers"}:
            assert params[key] == value, key
    assert params["ssl_context"] is not None
    assert params["enable_idempotence"] is True
    assert params["acks"] == "all"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            SaslAuthenticationFailed("bad credentials"),
            "Kafka authentication failed: check KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD",
        ),
        (UnsupportedSaslMechanismError("no"), "KAFKA_SASL_MECHANISM=SCRAM-SHA-512"),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), "KAFKA_SSL_CAFILE"),
        (ssl.SSLError(1, "wrong version number"), "KAFKA_SECURITY_PROTOCOL"),
        (ConnectionRefusedError(111, "refused"), "KAFKA_BOOTSTRAP_SERVERS=k:9096"),
    ],
)
def test_failures_are_described_by_the_setting_to_check(
    error: BaseException, expected: str
) -> None:
    settings = kafka(
        kafka_bootstrap_servers="k:9096",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password=PASSWORD,
    )
    message = describe_kafka_error(error, settings)
    assert expected in message
    assert PASSWORD not in message


def _sasl(bootstrap: str, protocol: str, cafile: Path | None = None) -> KafkaSettings:
    return kafka(
        kafka_bootstrap_servers=bootstrap,
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password=PASSWORD,
        kafka_ssl_cafile=cafile,
    )


@pytest.mark.slow
async def test_a_refused_login_is_an_authentication_failure() -> None:
    with FakeKafka() as broker, pytest.raises(SaslAuthenticationFailed):
        await probe_kafka(_sasl(broker.bootstrap, "SASL_PLAINTEXT"))


async def test_a_refused_login_over_trusted_tls(test_ca: TestCA, tmp_path: Path) -> None:
    server = test_ca.issue(tmp_path / "server", "127.0.0.1")
    with FakeKafka(server_tls(server)) as broker:
        settings = _sasl(broker.bootstrap, "SASL_SSL", test_ca.certfile)
        with pytest.raises(SaslAuthenticationFailed):
            await probe_kafka(settings)


async def test_an_untrusted_certificate_names_the_ca_setting(
    test_ca: TestCA, other_ca: TestCA, tmp_path: Path
) -> None:
    server = other_ca.issue(tmp_path / "server", "127.0.0.1")
    with FakeKafka(server_tls(server)) as broker:
        settings = _sasl(broker.bootstrap, "SASL_SSL", test_ca.certfile)
        with pytest.raises(ssl.SSLCertVerificationError) as caught:
            await probe_kafka(settings)
        assert "KAFKA_SSL_CAFILE" in describe_kafka_error(caught.value, settings)


async def test_wait_for_kafka_logs_a_reason_once_and_keeps_retrying(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[str] = []
    with FakeKafka() as broker, caplog.at_level(logging.INFO, "careers_runtime.kafka_client"):
        waiting = asyncio.create_task(
            wait_for_kafka(
                _sasl(broker.bootstrap, "SASL_PLAINTEXT"),
                initial_backoff_s=0.05,
                max_backoff_s=0.1,
                on_failure=failures.append,
            )
        )
        await asyncio.sleep(0.8)
        assert not waiting.done()
        waiting.cancel()
    assert len(failures) >= 3
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [failures[0]]
    assert "check KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD" in logged[0]
    assert PASSWORD not in caplog.text


@pytest.mark.broker
async def test_wait_for_kafka_returns_once_the_broker_answers(kafka_bootstrap: str) -> None:
    await asyncio.wait_for(wait_for_kafka(kafka(kafka_bootstrap_servers=kafka_bootstrap)), 10)
