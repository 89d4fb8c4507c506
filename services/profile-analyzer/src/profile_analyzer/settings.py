"""Settings of the profile-analyzer service (environment / ``.env``; see ``.env.example``)."""

from careers_runtime.agent_kit.settings import AgentSettings


class AnalyzerSettings(AgentSettings):
    service_name: str = "profile-analyzer"
    http_port: int = 8082
