"""The committed OpenAPI document (docs/openapi.json) is current and generator-friendly."""

import json
from typing import Any

import pytest
from ingest.openapi import OPENAPI_PATH, document, render


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return document()


def test_committed_document_is_current(spec: dict[str, Any]) -> None:
    assert OPENAPI_PATH.read_text() == render(spec), "run `make openapi-write` and commit"


def test_servers_and_operations(spec: dict[str, Any]) -> None:
    assert spec["servers"][0]["url"] == "http://127.0.0.1:8000"
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert operations == {"analyzeProfile", "getJob", "streamJobEvents"}


def test_job_status_is_a_named_schema(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas["JobStatus"]["enum"][0] == "queued"
    assert schemas["JobView"]["properties"]["status"] == {"$ref": "#/components/schemas/JobStatus"}
    assert schemas["AnalyzeAccepted"]["properties"]["status"]["$ref"].endswith("/JobStatus")
    assert '"needs_more_information"' not in json.dumps(spec["paths"])


def test_request_fields_with_defaults_are_optional_and_carry_no_default(
    spec: dict[str, Any],
) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas["ProfileSubmission"]["required"] == ["summary"]
    assert schemas["Experience"]["required"] == ["title", "startDate"]
    assert schemas["Education"]["required"] == ["degree"]
    for name in ("ProfileSubmission", "Experience", "Education"):
        for field, prop in schemas[name]["properties"].items():
            assert "default" not in prop, f"{name}.{field}"
    assert "Optional" in schemas["Experience"]["properties"]["organization"]["description"]


def test_responses_list_every_field_as_required(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("JobView", "Recommendation", "AnalyzeAccepted", "Wages"):
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    assert schemas["Problem"]["required"] == ["title", "status"]
    # Errors are problem+json only.
    responses = spec["paths"]["/v1/agents/analyze"]["post"]["responses"]
    assert list(responses["422"]["content"]) == ["application/problem+json"]
