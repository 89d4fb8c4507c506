"""The orchestrator's settings (environment and ``.env``; see ``.env.example``)."""

from pathlib import Path

from careers_contracts import ConsumerGroup
from careers_runtime.settings import ServiceSettings
from pydantic import Field


class OrchestratorSettings(ServiceSettings):
    service_name: str = "orchestrator"
    http_port: int = 8081
    # Every replica joins this group (tests use a unique one per run).
    orchestrator_consumer_group: str = ConsumerGroup.ORCHESTRATOR

    # Where each open job's workflow checkpoint lives. SQLite (one file, one host) by
    # default; Redis, shared by every replica, when REDIS_URL is set.
    orchestrator_checkpoint_path: Path = Path(".dev/orchestrator.sqlite3")
    redis_url: str | None = None
    orchestrator_redis_prefix: str = "careers:orchestrator:"

    # Waiting for an agent: re-request after this long, at most this many times, then fail.
    orchestrator_step_timeout_s: float = Field(default=60.0, gt=0)
    orchestrator_max_rerequests: int = Field(default=2, ge=0, le=10)
    orchestrator_timer_interval_s: float = Field(
        default=1.0, gt=0, description="How often overdue waits are looked for"
    )
    # A finished job is kept (without its profile) this long so that late and duplicate
    # replies are recognised and ignored instead of being dead-lettered as unknown.
    orchestrator_finished_ttl_s: float = Field(default=86_400.0, gt=0)
    orchestrator_top_k: int = Field(default=10, ge=1, le=50)

    def production_problems(self) -> list[str]:
        """Shared checks (Kafka TLS...) plus: workflow state shared by every replica."""
        problems = super().production_problems()
        if not self.redis_url:
            problems.append(
                "REDIS_URL is empty: each replica would keep its jobs in its own SQLite "
                "file (ORCHESTRATOR_CHECKPOINT_PATH), lost with the pod"
            )
        return problems
