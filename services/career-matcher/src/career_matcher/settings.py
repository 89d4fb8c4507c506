"""Settings of the career-matcher service (environment / ``.env``; see ``.env.example``)."""

from careers_runtime.agent_kit.settings import AgentSettings


class MatcherSettings(AgentSettings):
    service_name: str = "career-matcher"
    http_port: int = 8083
