"""Settings of the career-matcher service (environment / ``.env``; see ``.env.example``)."""

from profile_analyzer.settings import AgentSettings


class MatcherSettings(AgentSettings):
    service_name: str = "career-matcher"
    http_port: int = 8083
