"""Settings every agent service adds to the shared ones: the optional LLM refinement."""

from dataclasses import dataclass

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from careers_runtime.config import describe
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
        same settings a service reads (environment, then ``.env``, then defaults, with the
        same bounds). An invalid one raises ``ConfigError`` naming it."""
        try:
            return LLMConfig().llm
        except ValidationError as exc:
            raise describe(LLMConfig, exc)[0] from None


class LLMConfig(BaseSettings):
    """The LLM variables, read once, the same way for a service and for a command."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", env_file_encoding="utf-8", hide_input_in_errors=True
    )

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


class AgentSettings(ServiceSettings, LLMConfig):
    """The shared service settings plus the optional LLM refinement."""
