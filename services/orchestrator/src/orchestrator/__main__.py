"""``python -m orchestrator``: the orchestrator service (health on HTTP_PORT, default 8081)."""

from careers_runtime.app import serve

from orchestrator.app import build
from orchestrator.settings import OrchestratorSettings


def main() -> None:
    settings = OrchestratorSettings()
    app, _ = build(settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
