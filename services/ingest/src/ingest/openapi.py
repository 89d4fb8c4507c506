"""The ingest API's OpenAPI document: how it is served and the committed artifact.

``python -m ingest.openapi``          write docs/openapi.json
``python -m ingest.openapi --check``  exit 1 if docs/openapi.json drifted from the code

The committed document is what the frontend generates its TypeScript types from
(clients/typescript, ``openapi-typescript``); ``make test`` fails when it drifts.

On top of FastAPI's document this module makes it fit for client generators:

* error bodies are ``application/problem+json`` (as served), and FastAPI's own
  ``HTTPValidationError`` schemas, which the API never sends, are removed;
* the job status is a named schema (``JobStatus``), not an enum repeated inline;
* request-only schemas carry no ``default`` keywords: generators such as
  openapi-typescript read a default as "always present" and would make a field the API
  fills in (``organization``, ``skills``, ...) required in the request type. The default
  moves into the field's description instead;
* response-only schemas list every property as required: the API always serialises every
  field (``null`` where there is no value), so clients need no checks for absent fields.
  ``Problem`` is the exception: its empty fields are left out.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any, get_args

from careers_contracts.events import JobState
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ingest.api.errors import PROBLEM_JSON

OPENAPI_PATH = Path(__file__).resolve().parents[4] / "docs" / "openapi.json"

SERVERS: list[dict[str, Any]] = [
    {"url": "http://127.0.0.1:8000", "description": "Local development (`make dev`)"},
]

# name -> the enum values it stands for, wherever they appear inline
NAMED_ENUMS: dict[str, tuple[str, list[str]]] = {
    "JobStatus": (
        "A job's state; `completed`, `needs_more_information` and `failed` are terminal.",
        list(get_args(JobState)),
    ),
}


def _walk(node: Any) -> Any:
    """Every dict in ``node`` (depth first)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _problem_json(schema: dict[str, Any]) -> None:
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status.isdigit() and int(status) >= 400 and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
    # Validation errors are Problems too, not FastAPI's default HTTPValidationError.
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)


def _named_enums(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, (description, values) in NAMED_ENUMS.items():
        used = False
        for node in _walk(schema.get("paths", {})), _walk(components):
            for item in list(node):
                if item.get("enum") == values and item.get("type") == "string":
                    for key in ("type", "enum", "title"):
                        item.pop(key, None)
                    item["$ref"] = f"#/components/schemas/{name}"
                    used = True
        if used:
            components[name] = {
                "type": "string",
                "enum": values,
                "title": name,
                "description": description,
            }


def _referenced(node: Any, components: dict[str, Any], seen: set[str]) -> set[str]:
    """Component names reachable from ``node`` (through ``$ref``)."""
    for item in _walk(node):
        ref = item.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                _referenced(components.get(name), components, seen)
    return seen


def _request_defaults_to_descriptions(schema: dict[str, Any]) -> None:
    components = schema.get("components", {}).get("schemas", {})
    requests: set[str] = set()
    responses: set[str] = set()
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            _referenced(operation.get("requestBody", {}), components, requests)
            _referenced(operation.get("responses", {}), components, responses)
    for name in sorted(requests - responses):
        for prop in components[name].get("properties", {}).values():
            if "default" not in prop:
                continue
            default = json.dumps(prop.pop("default"))
            text = f"Optional; the API uses {default} when it is left out."
            prop["description"] = (
                f"{prop['description']} ({text})" if "description" in prop else text
            )


SPARSE_RESPONSES = {"Problem"}  # serialised with exclude_none


def _responses_always_complete(schema: dict[str, Any]) -> None:
    components = schema.get("components", {}).get("schemas", {})
    requests: set[str] = set()
    responses: set[str] = set()
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            _referenced(operation.get("requestBody", {}), components, requests)
            _referenced(operation.get("responses", {}), components, responses)
    for name in sorted(responses - requests - SPARSE_RESPONSES):
        properties = components[name].get("properties")
        if properties:
            components[name]["required"] = list(properties)


def finalize(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document made client-generator friendly (see the module docstring)."""
    _problem_json(schema)
    _named_enums(schema)
    _request_defaults_to_descriptions(schema)
    _responses_always_complete(schema)
    return schema


def openapi(app: FastAPI) -> dict[str, Any]:
    """``app.openapi`` for the ingest app (built once, then cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    app.openapi_schema = finalize(
        get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            servers=app.servers,
        )
    )
    return app.openapi_schema


def document() -> dict[str, Any]:
    """The document as a production ingest serves it (no dev-only routes)."""
    from ingest.main import create_app
    from ingest.settings import IngestSettings

    settings = IngestSettings(
        _env_file=None,  # type: ignore[call-arg]
        environment="production",
        clerk_jwks_url="https://clerk.example.invalid/.well-known/jwks.json",
        clerk_jwt_key=None,
        clerk_issuer="https://clerk.example.invalid",
        clerk_authorized_parties="https://app.example.invalid",
        # The rest of the production check list; nothing connects to build the document.
        internal_http_port=9090,
        redis_url="redis://redis.example.invalid:6379/0",
        kafka_allow_plaintext=True,
    )
    return create_app(settings).openapi()


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the file drifted")
    parser.add_argument("--out", type=Path, default=OPENAPI_PATH)
    args = parser.parse_args(argv)
    text = render(document())
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print(
                f"{args.out} drifted from the ingest API. "
                "Run `make openapi-write` and commit the result.",
                file=sys.stderr,
            )
            return 1
        print(f"{args.out.name} up to date")
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
