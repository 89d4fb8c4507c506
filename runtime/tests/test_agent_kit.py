"""The agent kit: LLM settings handed over explicitly, the linear graph builder and runner."""

import asyncio
import logging
import os
from pathlib import Path
from typing import Any, TypedDict

import pytest
from careers_runtime.agent_kit import AgentSettings, LLMSettings
from careers_runtime.agent_kit.graph import LinearGraph
from careers_runtime.config import ConfigError
from careers_runtime.logging import SPOON_ENGINE_LOG_LEVEL


def test_agent_settings_hand_the_llm_settings_over_without_touching_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CAREERS_LLM_PROVIDER", raising=False)
    monkeypatch.delenv("CAREERS_LLM_TIMEOUT_S", raising=False)
    settings = AgentSettings(careers_llm_provider="openai", careers_llm_timeout_s=3)
    assert settings.llm == LLMSettings(provider="openai", timeout_s=3.0)
    assert not settings.llm.offline
    assert "CAREERS_LLM_PROVIDER" not in os.environ
    assert AgentSettings().llm.offline


def test_llm_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAREERS_LLM_PROVIDER", " ")
    assert LLMSettings.from_env().offline
    monkeypatch.setenv("CAREERS_LLM_PROVIDER", "ollama")
    monkeypatch.setenv("CAREERS_LLM_TIMEOUT_S", "2.5")
    assert LLMSettings.from_env() == LLMSettings(provider="ollama", timeout_s=2.5)


def test_llm_settings_for_a_command_read_env_file_and_bounds_as_a_service_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One settings path: ``.env`` is read and the 60 s bound holds outside a service too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAREERS_LLM_PROVIDER", raising=False)
    monkeypatch.delenv("CAREERS_LLM_TIMEOUT_S", raising=False)
    (tmp_path / ".env").write_text("CAREERS_LLM_PROVIDER=gemini\nCAREERS_LLM_TIMEOUT_S=4\n")
    assert LLMSettings.from_env() == LLMSettings(provider="gemini", timeout_s=4.0)
    assert AgentSettings().llm == LLMSettings.from_env()
    monkeypatch.setenv("CAREERS_LLM_TIMEOUT_S", "600")
    with pytest.raises(ConfigError) as caught:
        LLMSettings.from_env()
    assert caught.value.setting == "CAREERS_LLM_TIMEOUT_S"


class State(TypedDict, total=False):
    seen: dict[str, Any]


def _step(name: str):
    async def node(state: State) -> dict[str, Any]:
        seen = dict(state.get("seen") or {"order": ""})
        return {"seen": {"order": seen["order"] + name}}

    return node


def test_linear_graph_runs_the_steps_in_order_compiles_once_and_clears_its_thread() -> None:
    prepared: list[int] = []
    graph = LinearGraph(
        State,
        [(n, _step(n)) for n in "abc"],
        component="test-agent",
        thread_prefix="test",
        prepare=lambda: prepared.append(1),
    )
    out = asyncio.run(graph.run({"seen": {"order": ">"}}, thread_id="t-1"))
    assert out["seen"]["order"] == ">abc"
    assert graph.app() is graph.app() and prepared == [1]
    assert logging.getLogger("spoon_ai.graph.engine").level == SPOON_ENGINE_LOG_LEVEL
    assert graph.app().graph.checkpointer.list_checkpoints("t-1") == []
