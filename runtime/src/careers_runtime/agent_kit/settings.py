"""Settings every agent service adds to the shared ones: the optional LLM refinement."""

import os
from dataclasses import dataclass

from pydantic import Field

from careers_runtime.settings import ServiceSettings

OFFLINE_NAMES = ("careers-offline", "offline", "none")


@dataclass(frozen=True, slots=True)
class LLMSettings:
    """Which SpoonOS provider rewords agent text, and how long a job waits for it."""

    provider: str = "offline"
    timeout_s: float = 8.0

    @property
    def offline(self) -> bool:
        return self.provider in OFFLINE_NAMES

    @classmethod
    def from_env(cls) -> "LLMSettings":
        """For callers without service settings (``make recommend --graph``, tests): the
        same variables the settings read, from the process environment, at call time."""
        provider = os.environ.get("CAREERS_LLM_PROVIDER", "").strip() or "offline"
        if provider in OFFLINE_NAMES:  # the timeout is not read (nor parsed) when unused
            return cls(provider=provider)
        return cls(provider=provider, timeout_s=float(os.environ.get("CAREERS_LLM_TIMEOUT_S", "8")))


class AgentSettings(ServiceSettings):
    """The shared service settings plus the optional LLM refinement."""

    careers_llm_provider: str = Field(
        default="offline",
        description="SpoonOS provider that rewrites summaries/explanations "
        "(openai, anthropic, gemini, deepseek, openrouter, ollama); 'offline' = none",
    )
    careers_llm_timeout_s: float = Field(default=8.0, gt=0, le=60)

    @property
    def llm(self) -> LLMSettings:
        """What the graphs are given (environment first, then ``.env``, then defaults)."""
        return LLMSettings(
            provider=self.careers_llm_provider.strip() or "offline",
            timeout_s=self.careers_llm_timeout_s,
        )
