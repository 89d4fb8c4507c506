"""A configuration error: one log line naming the setting, exit code 78, no traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from careers_runtime.config import EX_CONFIG, ConfigError, describe
from careers_runtime.settings import ServiceSettings
from pydantic import ValidationError

# Each case starts a service process (make test, not make test-fast).
pytestmark = pytest.mark.slow

CASES = [
    ("ingest", {}, "CLERK_JWKS_URL"),
    ("ingest", {"CLERK_JWT_KEY": "not a pem", "CLERK_ISSUER": "https://x"}, "CLERK_JWT_KEY"),
    ("ingest", {"CLERK_JWKS_URL": "https://x/.well-known/jwks.json"}, "CLERK_ISSUER"),
    ("convex_sync", {}, "CONVEX_SYNC_SECRET"),
    ("orchestrator", {"KAFKA_COMPRESSION": "brotli"}, "KAFKA_COMPRESSION"),
    ("career_matcher", {"SHUTDOWN_GRACE_S": "soon"}, "SHUTDOWN_GRACE_S"),
    # Kafka's security settings: a mechanism no client speaks, a CA file that is not PEM
    # (``not-pem.crt`` is written into the working directory below).
    (
        "orchestrator",
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"},
        "KAFKA_SASL_MECHANISM",
    ),
    (
        "profile_analyzer",
        {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "not-pem.crt"},
        "KAFKA_SSL_CAFILE",
    ),
    # The optional LLM: at most 60 s per job.
    (
        "career_matcher",
        {"CAREERS_LLM_PROVIDER": "openai", "CAREERS_LLM_TIMEOUT_S": "600"},
        "CAREERS_LLM_TIMEOUT_S",
    ),
]


@pytest.mark.parametrize(("module", "env", "setting"), CASES)
def test_service_exits_78_with_one_line_naming_the_setting(
    module: str, env: dict[str, str], setting: str, tmp_path: Path
) -> None:
    (tmp_path / "not-pem.crt").write_text("not a certificate\n")
    result = subprocess.run(
        [sys.executable, "-m", module],
        # Not production: these cases are about one setting, not the production checks.
        env={"PATH": os.environ["PATH"], "ENVIRONMENT": "dev", **env},
        cwd=str(tmp_path),  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == EX_CONFIG, output
    assert "Traceback" not in output
    lines = output.splitlines()
    assert len(lines) == 1, output
    record = json.loads(lines[0])
    assert record["level"] == "CRITICAL"
    assert record["settings"] == [setting]
    assert setting in record["message"]


def test_describe_names_environment_variables_without_values() -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceSettings(kafka_linger_ms="secret-value", max_in_flight=0)  # type: ignore[arg-type]
    problems = describe(ServiceSettings, caught.value)
    assert [p.setting for p in problems] == ["KAFKA_LINGER_MS", "MAX_IN_FLIGHT"]
    assert all(isinstance(p, ConfigError) for p in problems)
    assert "secret-value" not in " ".join(str(p) for p in problems)


# The production check list (``ServiceSettings.production_problems`` and each service's
# additions): each unsafe setting is named on the one line, and ENVIRONMENT unset is
# production. ``SAFE_INGEST`` satisfies ingest's whole list; each case spoils one thing.
SAFE_INGEST = {
    "ENVIRONMENT": "production",
    "KAFKA_SECURITY_PROTOCOL": "SSL",
    "INTERNAL_HTTP_PORT": "9090",
    "REDIS_URL": "redis://redis:6379/0",
    "CORS_ORIGINS": "https://app.example",
    "CLERK_AUTHORIZED_PARTIES": "https://app.example",
    "CLERK_ISSUER": "https://clerk.example",
    "CLERK_JWKS_URL": "https://clerk.example/.well-known/jwks.json",
}
PRODUCTION_CASES = [
    # No ENVIRONMENT at all: production, with every default that is unsafe there.
    (
        "ingest",
        {},
        ["KAFKA_SECURITY_PROTOCOL", "INTERNAL_HTTP_PORT", "REDIS_URL", "CLERK_AUTHORIZED_PARTIES"],
    ),
    ("ingest", {**SAFE_INGEST, "CORS_ORIGINS": "https://app.example,*"}, ["CORS_ORIGINS"]),
    ("ingest", {**SAFE_INGEST, "INTERNAL_HTTP_PORT": ""}, ["INTERNAL_HTTP_PORT"]),
    ("ingest", {**SAFE_INGEST, "REDIS_URL": ""}, ["REDIS_URL"]),
    (
        "ingest",
        {**SAFE_INGEST, "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
        ["KAFKA_SECURITY_PROTOCOL"],
    ),
    (
        "ingest",
        {
            **SAFE_INGEST,
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": "ingest",
            "KAFKA_SASL_PASSWORD": "pw",
            "KAFKA_ALLOW_PLAINTEXT": "true",  # a mesh encrypts: PLAIN's password still not
        },
        ["KAFKA_SASL_MECHANISM"],
    ),
    ("orchestrator", {"KAFKA_ALLOW_PLAINTEXT": "true"}, ["REDIS_URL"]),
    ("orchestrator", {}, ["KAFKA_SECURITY_PROTOCOL", "REDIS_URL"]),
    ("profile_analyzer", {"ENVIRONMENT": "production"}, ["KAFKA_SECURITY_PROTOCOL"]),
    ("career_matcher", {}, ["KAFKA_SECURITY_PROTOCOL"]),
    (
        "convex_sync",
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "convex-sync",
            "KAFKA_SASL_PASSWORD": "pw",
            "CONVEX_SITE_URL": "http://convex.example",
            "CONVEX_SYNC_SECRET": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        },
        ["CONVEX_SITE_URL"],
    ),
]


@pytest.mark.parametrize(("module", "env", "settings"), PRODUCTION_CASES)
def test_production_refuses_each_unsafe_setting_with_exit_78(
    module: str, env: dict[str, str], settings: list[str], tmp_path: object
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module],
        env={"PATH": os.environ["PATH"], **env},  # ENVIRONMENT only where the case says
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == EX_CONFIG, output
    lines = output.splitlines()
    assert len(lines) == 1 and "Traceback" not in output, output
    record = json.loads(lines[0])
    assert record["settings"] == settings, record
    for setting in settings:
        assert f"{setting}: unsafe in production" in record["message"]


def test_the_safe_production_settings_pass() -> None:
    from ingest.settings import IngestSettings

    safe = {k.lower(): v for k, v in SAFE_INGEST.items()}
    IngestSettings(**safe, _env_file=None)  # type: ignore[arg-type, call-arg]
    IngestSettings(**{**safe, "kafka_security_protocol": "PLAINTEXT"}, kafka_allow_plaintext=True)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="KAFKA_SECURITY_PROTOCOL=PLAINTEXT"):
        IngestSettings(**{**safe, "kafka_security_protocol": "PLAINTEXT"})  # type: ignore[arg-type]
