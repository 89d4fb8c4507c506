"""Compose, offline: parsed by the ``compose-spec`` Rust parser (spec-compliant, rejects
unknown keys) after YAML merge keys and ``${VAR:-default}`` interpolation are applied as
``docker compose`` does; ``docker compose config`` also runs where a Docker CLI with the
compose plugin exists (not on the project's machines).
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from compose_spec import PyCompose

from .rendering import (
    COMPOSE_FILE,
    DOCKERFILE,
    REQUIRED_ENV,
    ROOT,
    SERVICES,
    SHUTDOWN_GRACE_S,
    compose_document,
    dockerfile_targets,
)


def test_compose_parses_against_the_compose_spec() -> None:
    doc = compose_document()
    parsed = PyCompose.from_json(json.dumps(doc))
    assert set(parsed.service_names()) == {
        "kafka",
        "topics",
        "redis",
        "convex",
        *SERVICES,
    }
    parsed.to_spec()  # and the pydantic model of the spec accepts it
    broken = json.loads(json.dumps(doc))
    broken["services"]["ingest"]["helthcheck"] = broken["services"]["ingest"].pop("healthcheck")
    with pytest.raises(ValueError, match="helthcheck"):
        PyCompose.from_json(json.dumps(broken))
    broken = json.loads(json.dumps(doc))
    broken["services"]["ingest"]["depends_on"]["topics"]["condition"] = "service_done"
    with pytest.raises(ValueError, match="service_done"):
        PyCompose.from_json(json.dumps(broken))


def test_compose_requires_the_secret_and_the_clerk_settings() -> None:
    # Compose stops at the first missing variable; every message names all of them.
    with pytest.raises(KeyError) as missing:
        compose_document(env={})
    for name in REQUIRED_ENV:
        assert name in str(missing.value)
    for name in REQUIRED_ENV:
        with pytest.raises(KeyError, match=name):
            compose_document(env={k: v for k, v in REQUIRED_ENV.items() if k != name})


def test_compose_config_with_docker_cli_when_available(tmp_path: Path) -> None:
    """``docker compose config`` where a Docker CLI with the compose plugin is installed.

    The offline checks above always run; this adds Docker's own parser when present
    (it needs no daemon).
    """
    docker = shutil.which("docker")
    has_plugin = (
        docker is not None
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        ).returncode
        == 0
    )
    doc = compose_document()
    if has_plugin:
        assert docker is not None
        out = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **REQUIRED_ENV},
            check=False,
        )
        assert out.returncode == 0, out.stderr
    assert doc["name"] == "careers"


def test_compose_services_have_health_checks_and_start_in_order() -> None:
    doc = compose_document()
    services = doc["services"]
    targets = dockerfile_targets()
    for name, service in services.items():
        if service.get("restart") == "no":  # one-shot jobs
            assert name == "topics"
            continue
        test = service["healthcheck"]["test"]
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    # Compose runs the Kafka version every test runs on (Maven Central, deploy/kafka/pom.xml).
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text(encoding="utf-8")
    (tested,) = re.findall(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert kafka["image"] == f"apache/kafka:{tested}"
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kafka["environment"]
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name, module in SERVICES.items():
        service = services[name]
        assert service["build"]["target"] == name and name in targets
        assert service["build"]["context"] == "../.."
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert service["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert service["environment"]["HTTP_HOST"] == "0.0.0.0"
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]
        grace = int(service["stop_grace_period"].rstrip("s"))
        assert grace > SHUTDOWN_GRACE_S
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        assert module  # python -m <module>, checked against the Dockerfile below
    for name in ("ingest", "orchestrator"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:6379")
    assert services["convex-sync"]["depends_on"]["convex"]["condition"] == "service_healthy"
    assert services["convex"]["build"]["target"] in targets
    # Ingest's probes and metrics are on its internal port (not published).
    assert services["ingest"]["environment"]["INTERNAL_HTTP_PORT"] == "9090"
    assert "127.0.0.1:9090/healthz" in " ".join(services["ingest"]["healthcheck"]["test"])


def test_compose_publishes_ports_on_loopback_only() -> None:
    """Kafka's PLAINTEXT listener and the stand-in were once published on every interface."""
    published = {
        name: service.get("ports", []) for name, service in compose_document()["services"].items()
    }
    assert published["kafka"] and published["convex"] and published["ingest"]
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
    env_example = (ROOT / "deploy/compose/.env.example").read_text(encoding="utf-8")
    # The stand-in's demo setup is not production (plain http): it says so explicitly.
    assert "\nENVIRONMENT=test\n" in env_example


def test_convex_standin_admin_routes_are_off_unless_enabled() -> None:
    """/_standin/* (every document, faults, reset) needs no auth: never on by default."""
    server = (ROOT / "deploy/convex/standin/server.ts").read_text(encoding="utf-8")
    main = (ROOT / "deploy/convex/standin/main.ts").read_text(encoding="utf-8")
    assert "const admin = opts.admin ?? false;" in server
    assert 'process.env.CONVEX_STANDIN_ADMIN === "1"' in main
    assert "CONVEX_STANDIN_ADMIN" not in COMPOSE_FILE.read_text(encoding="utf-8")
    assert "CONVEX_STANDIN_ADMIN" not in DOCKERFILE.read_text(encoding="utf-8")


def test_compose_gives_each_service_only_the_settings_it_needs() -> None:
    """No env_file (it handed every secret in .env to all five services): each secret goes
    only where it is used, and the stand-in verifies signed-in reads as ingest does."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    services = compose_document()["services"]
    for name, service in raw["services"].items():
        assert "env_file" not in service, name
    holders = {
        "CONVEX_SYNC_SECRET": {"convex-sync", "convex"},
        "CLERK_ISSUER": {"ingest", "convex"},
        "CLERK_JWKS_URL": {"ingest", "convex"},
        "CLERK_JWT_KEY": {"ingest", "convex"},
        "REDIS_URL": {"ingest", "orchestrator"},
    }
    for variable, expected in holders.items():
        have = {n for n, s in services.items() if variable in (s.get("environment") or {})}
        assert have == expected, (variable, have)
    convex = services["convex"]["environment"]
    assert convex["CLERK_ISSUER"] == REQUIRED_ENV["CLERK_ISSUER"]
    assert convex["CLERK_JWKS_URL"] == REQUIRED_ENV["CLERK_JWKS_URL"]


def test_compose_host_ports_move_with_one_variable_prefix() -> None:
    """Fixed host ports clashed with `make dev`: HOST_PORT_<SERVICE> moves each."""
    default = compose_document()["services"]
    moved_env = {
        **REQUIRED_ENV,
        **{
            f"HOST_PORT_{n.upper().replace('-', '_')}": str(20000 + i)
            for i, n in enumerate(default)
        },
    }
    moved = compose_document(env=moved_env)["services"]
    for index, (name, service) in enumerate(default.items()):
        for before, after in zip(
            service.get("ports", []), moved[name].get("ports", []), strict=True
        ):
            assert before != after and after.startswith(f"127.0.0.1:{20000 + index}:"), (
                name,
                after,
            )
    assert default["ingest"]["ports"] == ["127.0.0.1:8000:8080"]
    kafka = moved["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"EXTERNAL://localhost:{moved['kafka']['ports'][0].split(':')[1]}" in kafka
