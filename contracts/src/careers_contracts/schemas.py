"""Generate, check and compare the committed JSON Schemas.

``python -m careers_contracts.schemas``          write contracts/schemas/*.json
``python -m careers_contracts.schemas --check``  fail if the committed files drifted
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from careers_contracts.base import ContractModel
from careers_contracts.envelope import Envelope
from careers_contracts.http import AnalyzeAccepted, JobView, Problem
from careers_contracts.profile import ProfileSubmission
from careers_contracts.topics import TOPICS

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def _schema(model: type[ContractModel]) -> dict[str, Any]:
    return model.model_json_schema(by_alias=True, mode="serialization")


def generate() -> dict[str, dict[str, Any]]:
    """File name -> schema, for the envelope, every topic's payload and the HTTP bodies."""
    schemas: dict[str, dict[str, Any]] = {"envelope.json": _schema(Envelope)}
    for topic in TOPICS.business_topics():
        schemas[f"{topic.name}.json"] = _schema(topic.payload)
    dead_letter = TOPICS.all_topics()[-1]
    schemas["dead-letter.v1.json"] = _schema(dead_letter.payload)
    for model in (ProfileSubmission, AnalyzeAccepted, JobView, Problem):
        schemas[f"http.{model.__name__}.json"] = _schema(model)
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------- compatibility


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].split("/")[-1]
        node = root.get("$defs", {})[name]
    return node


def _types(node: dict[str, Any], root: dict[str, Any]) -> set[str]:
    node = _resolve(node, root)
    if "anyOf" in node:
        return set().union(*(_types(n, root) for n in node["anyOf"]))
    if "const" in node:
        return {f"const:{node['const']}"}
    if "enum" in node:
        return {f"enum:{v}" for v in node["enum"]}
    kind = node.get("type", "any")
    if kind == "number":  # an int is a valid number: widening int->number is compatible
        return {"number", "integer"}
    return {kind} if isinstance(kind, str) else set(kind)


def breaking_changes(
    old: dict[str, Any],
    new: dict[str, Any],
    path: str = "$",
    old_root: dict[str, Any] | None = None,
    new_root: dict[str, Any] | None = None,
) -> list[str]:
    """Changes in ``new`` that break a consumer written against ``old``.

    Breaking: a field that was required is removed or renamed; a field becomes required
    that old producers did not send; a field's type narrows (values old producers send,
    or old consumers expect, are no longer accepted). Adding optional fields is fine.
    """
    old_root = old_root or old
    new_root = new_root or new
    old = _resolve(old, old_root)
    new = _resolve(new, new_root)
    problems: list[str] = []

    old_types, new_types = _types(old, old_root), _types(new, new_root)
    if "any" not in new_types and not old_types <= new_types:
        lost = sorted(old_types - new_types)
        problems.append(f"{path}: type changed ({', '.join(lost)} no longer accepted)")
        return problems

    old_props = old.get("properties", {})
    new_props = new.get("properties", {})
    old_required = set(old.get("required", []))
    new_required = set(new.get("required", []))
    for name in sorted(old_required - set(new_props)):
        problems.append(f"{path}.{name}: required field removed or renamed")
    for name in sorted(new_required - old_required):
        problems.append(f"{path}.{name}: field became required")
    for name in sorted(set(old_props) & set(new_props)):
        problems += breaking_changes(
            old_props[name], new_props[name], f"{path}.{name}", old_root, new_root
        )
    if "items" in old and "items" in new:
        problems += breaking_changes(old["items"], new["items"], f"{path}[]", old_root, new_root)
    for key in ("anyOf",):
        for i, (o, n) in enumerate(zip(old.get(key, []), new.get(key, []), strict=False)):
            if _resolve(o, old_root).get("type") == "object":
                problems += breaking_changes(o, n, f"{path}<{i}>", old_root, new_root)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when files drifted")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR)
    args = parser.parse_args(argv)
    generated = generate()
    if args.check:
        drifted = [
            name
            for name, schema in generated.items()
            if not (args.dir / name).exists() or (args.dir / name).read_text() != render(schema)
        ]
        stale = sorted(p.name for p in args.dir.glob("*.json") if p.name not in generated)
        if drifted or stale:
            print(
                "JSON Schemas drifted from the models: "
                + ", ".join(drifted + stale)
                + "\nRun `make schemas` and commit the result.",
                file=sys.stderr,
            )
            return 1
        print(f"{len(generated)} schemas up to date")
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, schema in generated.items():
        (args.dir / name).write_text(render(schema))
    print(f"wrote {len(generated)} schemas to {args.dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
