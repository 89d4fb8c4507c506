"""Every place a service (an agent above all) must be named, checked from the one list.

The service list (``careers_tools.services.SERVICES``), the topic registry and the agent
names of the contract (``AgentName``) are the sources. What can follow them does (the test
stack's agents, chaos's kill order, the image targets); what has to be written for a new
service (its Dockerfile target, compose service, Kubernetes workload, KEDA ScaledObject,
Kafka principal, Convex validator) is checked here, and ``missing_places`` names each place
still missing. ``tools/tests/test_agent_places.py`` runs it on the repository (empty, or
``make test`` fails naming the places) and on a throwaway agent (docs/architecture.md,
"To add an agent", lists the same steps).
"""

import re
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml
from careers_contracts import TOPICS
from careers_contracts.events import AgentName
from careers_contracts.topics import TopicRegistry

from careers_tools.paths import REPO_ROOT
from careers_tools.services import SERVICES, Service

AGENTS: tuple[str, ...] = typing.get_args(AgentName)


def consumer_groups(registry: TopicRegistry = TOPICS) -> list[str]:
    """Services that consume a business topic (each scaled by KEDA on its lag), but ingest,
    which is scaled on HTTP load."""
    groups = {group for topic in registry.business_topics() for group in topic.consumers}
    return sorted(groups - {"ingest"})


def _dockerfile_targets(root: Path) -> set[str]:
    text = (root / "Dockerfile").read_text()
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE | re.I))


def _yaml_documents(path: Path) -> list[dict[str, typing.Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def missing_places(
    root: Path = REPO_ROOT,
    services: Sequence[Service] = SERVICES,
    agents: Iterable[str] = AGENTS,
    registry: TopicRegistry = TOPICS,
) -> list[str]:
    """One line per place that does not name a service (or agent) it should."""
    missing: list[str] = []
    targets = _dockerfile_targets(root)
    compose = yaml.safe_load((root / "deploy/compose/compose.yaml").read_text())["services"]
    k8s = root / "deploy/k8s"
    kustomization = yaml.safe_load((k8s / "base/kustomization.yaml").read_text())
    scaled = {
        doc["metadata"]["name"]
        for doc in _yaml_documents(k8s / "base/scaledobjects.yaml")
        if doc.get("kind") == "ScaledObject"
    }
    validators = (root / "deploy/convex/convex/validators.ts").read_text()
    for service in services:
        name = service.name
        if name not in targets or f"build-{name}" not in targets:
            missing.append(f"Dockerfile: targets build-{name} and {name}")
        if name not in compose:
            missing.append(f"deploy/compose/compose.yaml: service {name}")
        if not (k8s / "base" / f"{name}.yaml").is_file():
            missing.append(f"deploy/k8s/base/{name}.yaml: its Deployment (and PDB)")
        if f"{name}.yaml" not in kustomization.get("resources", []):
            missing.append(f"deploy/k8s/base/kustomization.yaml: resource {name}.yaml")
        if not (k8s / "overlays/production" / f"kafka-user-{name}.yaml").is_file():
            missing.append(
                f"deploy/k8s/overlays/production/kafka-user-{name}.yaml: its Kafka "
                "principal (make acls prints it) and its Secret in the overlay"
            )
    for group in consumer_groups(registry):
        if group not in scaled:
            missing.append(f"deploy/k8s/base/scaledobjects.yaml: ScaledObject {group}")
    for agent in agents:
        if f'v.literal("{agent}")' not in validators:
            missing.append(f"deploy/convex/convex/validators.ts: agent v.literal({agent!r})")
    return missing


def main() -> int:
    missing = missing_places()
    for line in missing:
        print(f"missing: {line}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
