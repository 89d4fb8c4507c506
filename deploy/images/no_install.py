"""Print ``--no-install-package`` flags for what a package's image never imports.

    python deploy/images/no_install.py <package> <root> [<root> ...]

Each root (a SpoonOS dependency the agents never import: AWS, web3 and payments, Neo,
Pinecone, SQL, MCP servers, ...) is left out together with every package that only it
brings, read from uv.lock; anything another kept package depends on stays. Runs in the
image's build stage (standard library only).
"""

import re
import sys
import tomllib
from typing import Any


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(packages: dict[str, dict[str, Any]], name: str, skip: frozenset[str]) -> set[str]:
    seen: set[tuple[str, tuple[str, ...]]] = set()
    pending: list[tuple[str, tuple[str, ...]]] = [(norm(name), ())]
    while pending:
        current, extras = pending.pop()
        if current in skip or (current, extras) in seen:
            continue
        seen.add((current, extras))
        entry = packages[current]
        deps = list(entry.get("dependencies", []))
        for extra in extras:
            deps += entry.get("optional-dependencies", {}).get(extra, [])
        pending += [(norm(d["name"]), tuple(d.get("extra", ()))) for d in deps]
    return {n for n, _ in seen}


def unused(lock_text: str, package: str, roots: list[str]) -> list[str]:
    packages = {norm(p["name"]): p for p in tomllib.loads(lock_text)["package"]}
    missing = [r for r in roots if norm(r) not in packages]
    if missing:
        raise SystemExit(f"not in uv.lock: {missing}")
    full = closure(packages, package, frozenset())
    return sorted(full - closure(packages, package, frozenset(map(norm, roots))))


if __name__ == "__main__":
    with open("uv.lock", encoding="utf-8") as lock:
        names = unused(lock.read(), sys.argv[1], sys.argv[2:])
    print(" ".join(f"--no-install-package {n}" for n in names))
