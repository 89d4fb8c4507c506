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

ROOT = Path(__file__).resolve().parents[1]
ENV_EXAMPLE = ROOT / ".env.example"
# Read by code but not configuration of this project (the OS, the test harness).
NOT_SETTINGS = {"PATH", "HOME", "CAREERS_WORKDIR"}


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
    missing = sorted(names - documented())
    assert not missing, f"add to .env.example: {missing}"


def test_every_variable_read_directly_is_documented() -> None:
    """Variables read with os.environ outside the settings classes (dev tools, CLIs)."""
    pattern = re.compile(r"""os\.environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']""")
    sources = [
        path
        for path in [
            *ROOT.glob("runtime/src/**/*.py"),
            *ROOT.glob("services/*/src/**/*.py"),
            *ROOT.glob("tools/src/**/*.py"),
        ]
        if "testing" not in path.parts  # test fixtures configure themselves
    ]
    read = {name for path in sources for name in pattern.findall(path.read_text())}
    assert "KAFKA_BOOTSTRAP_SERVERS" in read  # the scan finds something
    missing = sorted(read - documented() - NOT_SETTINGS)
    assert not missing, f"add to .env.example: {missing}"
