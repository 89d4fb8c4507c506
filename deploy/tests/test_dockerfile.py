"""The Dockerfile, parsed with ``dockerfile-parse``: a non-root target per service,
installs from the lock file, and each image holds every distribution its service imports.
"""

import ast
import json
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

import pytest

from .rendering import (
    ROOT,
    SERVICES,
    dockerfile,
    dockerfile_targets,
    last,
)


def test_dockerfile_has_a_non_root_target_per_service() -> None:
    targets = dockerfile_targets()
    assert {*SERVICES, "tools", "convex-standin"} <= set(targets)
    for name, module in SERVICES.items():
        user = last(name, "USER")
        assert user is not None and user.split(":")[0] not in ("root", "0"), name
        assert json.loads(last(name, "CMD") or "[]") == ["python", "-m", module]
        assert (ROOT / "services" / name / "src" / module).is_dir()
        health = last(name, "HEALTHCHECK") or ""
        assert "/healthz" in health and "NONE" not in health, name
        (copy,) = [i["value"] for i in targets[name][1] if i["instruction"] == "COPY"]
        assert copy == f"--from=build-{name} /app/.venv /app/.venv"
        builds = [i["value"] for i in targets[f"build-{name}"][1] if i["instruction"] == "RUN"]
        assert builds and all(
            "uv sync --locked --no-dev" in b and f"--package {name}" in b for b in builds
        )
    assert (last("convex-standin", "USER") or "root") != "root"
    # No secret is baked into any image.
    for instruction in dockerfile().structure:
        if instruction["instruction"] in ("ENV", "ARG"):
            assert not re.search(r"SECRET|TOKEN|PASSWORD|API_KEY", instruction["value"], re.I)


def test_dockerfile_installs_from_the_lock_file_for_every_workspace_member() -> None:
    copies = [i["value"] for i in dockerfile().structure if i["instruction"] == "COPY"]
    assert any("uv.lock" in c for c in copies)
    members = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("*/pyproject.toml"))
    members += sorted(
        p.relative_to(ROOT).as_posix() for p in ROOT.glob("services/*/pyproject.toml")
    )
    for member in members:
        assert any(c.startswith(member) for c in copies), f"{member} not copied"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for pattern in ("**/.env", "**/.venv", "**/node_modules", "**/.git"):
        assert pattern in ignored


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_closure(package: str) -> set[str]:
    """The distributions `uv sync --locked --no-dev --package <package>` installs."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    packages = {_norm(p["name"]): p for p in lock["package"]}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    stack: list[tuple[str, tuple[str, ...]]] = [(_norm(package), ())]
    while stack:
        name, extras = stack.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        entry = packages[name]
        deps = list(entry.get("dependencies", []))
        for extra in extras:
            deps += entry.get("optional-dependencies", {}).get(extra, [])
        stack += [(_norm(d["name"]), tuple(d.get("extra", ()))) for d in deps]
    return {name for name, _ in seen}


def module_distributions() -> dict[str, set[str]]:
    """Top-level module -> distributions providing it (workspace members included)."""
    out = {k: {_norm(d) for d in v} for k, v in packages_distributions().items()}
    for pyproject in [*ROOT.glob("*/pyproject.toml"), *ROOT.glob("services/*/pyproject.toml")]:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
        for module in (pyproject.parent / "src").glob("*/__init__.py"):
            out.setdefault(module.parent.name, set()).add(_norm(name))
    return out


@pytest.mark.parametrize("service", list(SERVICES))
def test_service_image_installs_everything_the_service_imports(service: str) -> None:
    """An image holds only its package's locked dependencies (`--package <service>`), so
    every module the service's code imports must come from that closure; the shared dev
    venv, which has every package, would hide a missing declaration until deployment."""
    closure = locked_closure(service)
    providers = module_distributions()
    missing: dict[str, list[str]] = {}
    for path in (ROOT / "services" / service / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            else:
                continue
            for name in names:
                if name in sys.stdlib_module_names or name == SERVICES[service]:
                    continue
                dists = providers.get(name, set())
                if not dists & closure:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    missing.setdefault(name, []).append(where)
    assert not missing, (
        f"{service} imports modules its pyproject.toml does not depend on "
        f"(add them to services/{service}/pyproject.toml): {missing}"
    )
