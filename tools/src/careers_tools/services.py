"""The services, declared once: ``make dev``, the test stack and ``make chaos`` start these.

Each runs as ``python -m <module>``; ``dev_port`` is its HTTP port under ``make dev`` (the
test stack picks free ports instead). Start order is this order: ingest last, so its
submits find every consumer already in its group.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    dev_port: int
    # /readyz: connected to Kafka and holding partitions (ingest: job status caught up).
    ready_path: str = "/readyz"

    def env(self, port: int) -> dict[str, str]:
        """What tells one process of this service who it is and where to listen."""
        return {"SERVICE_NAME": self.name, "HTTP_PORT": str(port)}


SERVICES = (
    Service("orchestrator", "orchestrator", 8081),
    Service("profile-analyzer", "profile_analyzer", 8082),
    Service("career-matcher", "career_matcher", 8083),
    Service("convex-sync", "convex_sync", 8084),
    Service("ingest", "ingest", 8000),
)


# Local brokers and short-lived processes: a killed consumer's partitions move to the others
# within seconds instead of the production session timeout (dev, tests and chaos alike).
LOCAL_KAFKA_ENV = {"KAFKA_SESSION_TIMEOUT_MS": "3000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500"}
