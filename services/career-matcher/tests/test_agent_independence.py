"""The matcher service runs without profile-analyzer's code: shared parts come from the
agent kit (``careers_runtime.agent_kit``) and the ESCO occupation titles from the
``careers-occupations`` package, not from the other agent. The in-process tools that run
both agents on purpose (``make recommend``, ``make evaluate``, ``careers_tools.pipeline``)
live in ``tools/``."""

import subprocess
import sys

import pytest

# Imports the service in a fresh interpreter (make test, not make test-fast).
pytestmark = pytest.mark.slow

CHECK = """
import sys
from career_matcher.app import MatcherService
from career_matcher.graph import get_app
from career_matcher.settings import MatcherSettings

MatcherService(MatcherSettings())
get_app()
print(sorted(m for m in sys.modules if m.startswith("profile_analyzer")))
"""


def test_the_matcher_service_imports_no_analyzer_code() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
