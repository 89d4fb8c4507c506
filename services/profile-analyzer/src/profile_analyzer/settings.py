"""Settings of the profile-analyzer service (environment / ``.env``; see ``.env.example``)."""

import os

from careers_runtime.settings import ServiceSettings
from pydantic import Field


class AgentSettings(ServiceSettings):
    """What both agent services add to the shared settings: the optional LLM refinement."""

    careers_llm_provider: str = Field(
        default="offline",
        description="SpoonOS provider that rewrites summaries/explanations "
        "(openai, anthropic, gemini, deepseek, openrouter, ollama); 'offline' = none",
    )
    careers_llm_timeout_s: float = Field(default=8.0, gt=0, le=60)

    def export_llm_settings(self) -> None:
        """``profile_analyzer.llm`` reads the process environment; values from ``.env`` too."""
        os.environ.setdefault("CAREERS_LLM_PROVIDER", self.careers_llm_provider)
        os.environ.setdefault("CAREERS_LLM_TIMEOUT_S", str(self.careers_llm_timeout_s))


class AnalyzerSettings(AgentSettings):
    service_name: str = "profile-analyzer"
    http_port: int = 8082
