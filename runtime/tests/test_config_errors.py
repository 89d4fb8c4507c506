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
        env={"PATH": os.environ["PATH"], **env},
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
