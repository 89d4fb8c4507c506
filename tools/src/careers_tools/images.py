"""Build every image of the repository's Dockerfile with podman or Docker (`make images`).

    python -m careers_tools.images [--engine podman|docker] [target ...]

The engine is Docker when its daemon answers, else podman (``CONTAINER_ENGINE`` overrides).
When the Dockerfile's default base images (python:3.12-slim-bookworm, node:24-bookworm-slim)
are neither present nor pullable, local bases are built from Debian packages by
``scripts/build-local-bases.sh`` and passed as build args. podman runs with the project's
``deploy/images/containers.conf`` (runc, ulimits below this machine's hard limits), builds
with ``--format docker`` (OCI images drop HEALTHCHECK) and mounts the host's CA bundle
into build steps (package traffic may go through a proxy with its own certificate).
Layers are cached by the engine: a rebuild with unchanged sources takes seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from careers_tools.paths import REPO_ROOT as ROOT
from careers_tools.services import SERVICES, Service


# Every Dockerfile target: each service of the service list (a service added there is built
# too), the tools image and the Convex stand-in.
def image_targets(services: Sequence[Service] = SERVICES) -> tuple[str, ...]:
    return (*(service.name for service in services), "tools", "convex-standin")


TARGETS = image_targets()
PREFIX = "localhost/careers/"
# One tag per checkout if several build at once (the engine's image store is shared).
TAG = os.environ.get("CAREERS_IMAGE_TAG", "local")
CONTAINERS_CONF = ROOT / "deploy" / "images" / "containers.conf"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_BASES = ("python:3.12-slim-bookworm", "node:24-bookworm-slim")
EX_UNAVAILABLE = 69


def image(target: str) -> str:
    return f"{PREFIX}{target}:{TAG}"


@dataclass(frozen=True)
class Engine:
    name: str  # "podman" or "docker"
    path: str

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.name == "podman":
            env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
        return env

    def run(
        self, *args: str, check: bool = True, capture: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.path, *args],
            env=self.env(),
            check=check,
            text=True,
            capture_output=capture,
            timeout=timeout,
        )

    def has_image(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False).returncode == 0

    def inspect(self, ref: str) -> dict[str, object]:
        out = self.run("image", "inspect", ref).stdout
        data = json.loads(out)
        return data[0] if isinstance(data, list) else data

    def size(self, ref: str) -> int:
        size = self.inspect(ref)["Size"]
        assert isinstance(size, int)
        return size


@cache
def find_engine() -> Engine:
    """Docker if its daemon answers, else podman; CONTAINER_ENGINE=podman|docker forces one."""
    wanted = os.environ.get("CONTAINER_ENGINE")
    for name in [wanted] if wanted else ["docker", "podman"]:
        path = shutil.which(name)
        if path is None:
            continue
        if name == "docker":
            ok = subprocess.run(
                [path, "info"], capture_output=True, timeout=30, check=False
            ).returncode
            if ok != 0:  # a CLI without a daemon (as on this project's machines)
                continue
        return Engine(name, path)
    raise SystemExit(
        "error: no container engine: install podman (`make install` does as root on Debian) "
        "or start Docker"
    )


def base_args(engine: Engine) -> list[str]:
    """Build args for the bases: the Dockerfile's defaults when present or pullable, else
    local ones made from Debian packages."""
    if os.environ.get("CAREERS_LOCAL_BASES") != "1":
        if all(engine.has_image(ref) for ref in DEFAULT_BASES):
            return []
        pulled = all(
            engine.run("pull", "--quiet", ref, check=False, timeout=300).returncode == 0
            for ref in DEFAULT_BASES
        )
        if pulled:
            return []
        print("base images cannot be pulled: building local ones from Debian packages")
    out = subprocess.run(
        [str(ROOT / "scripts" / "build-local-bases.sh"), engine.name],
        env=engine.env(),
        check=True,
        text=True,
        stdout=subprocess.PIPE,
    ).stdout
    return out.split()


def build(targets: tuple[str, ...] = TARGETS, engine: Engine | None = None) -> dict[str, float]:
    """Build each target (cached layers reused); returns the seconds each took."""
    engine = engine or find_engine()
    args = base_args(engine)
    if engine.name == "podman":
        args += ["--format", "docker", "--layers"]
        if CA_BUNDLE.is_file():
            args += ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    took: dict[str, float] = {}
    for target in targets:
        started = time.monotonic()
        print(f"building {image(target)}", flush=True)
        result = engine.run(
            "build",
            *args,
            "--target",
            target,
            "--tag",
            image(target),
            "--file",
            str(ROOT / "Dockerfile"),
            str(ROOT),
            check=False,
            capture=False,
            timeout=1800,
        )
        if result.returncode != 0:
            raise SystemExit(f"error: building {target} failed ({engine.name} build)")
        took[target] = time.monotonic() - started
    return took


def sizes(engine: Engine | None = None, targets: tuple[str, ...] = TARGETS) -> dict[str, int]:
    engine = engine or find_engine()
    return {target: engine.size(image(target)) for target in targets}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", metavar="target")
    parser.add_argument("--engine", choices=["podman", "docker"])
    options = parser.parse_args(argv)
    if options.engine:
        os.environ["CONTAINER_ENGINE"] = options.engine
    engine = find_engine()
    targets = tuple(options.targets) or TARGETS
    took = build(targets, engine)
    for target, size in sizes(engine, targets).items():
        print(f"{image(target):45} {size / 1e6:7.0f} MB  built in {took[target]:5.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
