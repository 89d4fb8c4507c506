"""Committed JSON Schemas match the models, and breaking changes are caught."""

import json

from careers_contracts import schemas
from careers_contracts.schemas import breaking_changes, generate, render
from pydantic import create_model


def test_committed_schemas_match_models() -> None:
    assert schemas.main(["--check"]) == 0, "run `make schemas` and commit the result"


def test_drift_is_detected(tmp_path) -> None:
    schemas.main(["--dir", str(tmp_path)])
    target = tmp_path / "careers.profile.submitted.v1.json"
    schema = json.loads(target.read_text())
    schema["properties"]["extra"] = {"type": "string"}
    target.write_text(render(schema))
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 1


def test_current_models_are_compatible_with_committed_schemas() -> None:
    for name, new in generate().items():
        old = json.loads((schemas.SCHEMA_DIR / name).read_text())
        assert breaking_changes(old, new) == [], name


def _schema(**fields: object) -> dict:
    return create_model("Event", **fields).model_json_schema()  # type: ignore[call-overload]


def test_adding_an_optional_field_is_compatible() -> None:
    old = _schema(job_id=(str, ...))
    new = _schema(job_id=(str, ...), note=(str | None, None))
    assert breaking_changes(old, new) == []


def test_removing_a_required_field_breaks() -> None:
    old = _schema(job_id=(str, ...), user_id=(str, ...))
    new = _schema(job_id=(str, ...))
    assert breaking_changes(old, new) == ["$.user_id: required field removed or renamed"]


def test_renaming_a_required_field_breaks() -> None:
    old = _schema(job_id=(str, ...))
    new = _schema(jobid=(str, ...))
    problems = breaking_changes(old, new)
    assert "$.job_id: required field removed or renamed" in problems
    assert "$.jobid: field became required" in problems


def test_changing_a_type_breaks() -> None:
    old = _schema(progress=(int, ...))
    new = _schema(progress=(str, ...))
    assert breaking_changes(old, new) == ["$.progress: type changed (integer no longer accepted)"]


def test_widening_int_to_float_is_compatible() -> None:
    assert breaking_changes(_schema(score=(int, ...)), _schema(score=(float, ...))) == []


def test_breaking_change_to_a_real_contract_is_caught() -> None:
    """Try one: drop `userId` from the committed profile.submitted schema."""
    committed = json.loads((schemas.SCHEMA_DIR / "careers.profile.submitted.v1.json").read_text())
    broken = json.loads(json.dumps(committed))
    del broken["properties"]["userId"]
    broken["required"].remove("userId")
    assert "$.userId: required field removed or renamed" in breaking_changes(committed, broken)


def test_nested_type_change_is_caught() -> None:
    committed = json.loads((schemas.SCHEMA_DIR / "careers.match.completed.v1.json").read_text())
    broken = json.loads(json.dumps(committed))
    broken["$defs"]["Recommendation"]["properties"]["score"] = {"type": "string"}
    problems = breaking_changes(committed, broken)
    assert any("recommendations[].score: type changed" in p for p in problems), problems
