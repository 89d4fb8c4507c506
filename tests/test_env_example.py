""".env.example documents every variable the services read."""

import re
from pathlib import Path

import pytest
from career_matcher.settings import MatcherSettings
from careers_runtime.settings import ServiceSettings
from convex_sync.settings import ConvexSyncSettings
from ingest.settings import IngestSettings
from orchestrator.settings import OrchestratorSettings
from profile_analyzer.settings import AnalyzerSettings
from pydantic_settings import BaseSettings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
# Chosen per service by its own defaults and by `make dev`, not meant to be set by hand.
NOT_USER_SETTINGS = {"SERVICE_NAME"}


def documented() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


@pytest.mark.parametrize(
    "settings",
    [
        ServiceSettings,
        IngestSettings,
        OrchestratorSettings,
        AnalyzerSettings,
        MatcherSettings,
        ConvexSyncSettings,
    ],
)
def test_every_setting_is_documented(settings: type[BaseSettings]) -> None:
    names = {
        (field.validation_alias if isinstance(field.validation_alias, str) else name).upper()
        for name, field in settings.model_fields.items()
    }
    missing = sorted(names - documented() - NOT_USER_SETTINGS)
    assert not missing, f"add to .env.example: {missing}"
