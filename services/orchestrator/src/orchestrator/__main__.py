"""``python -m orchestrator``: the orchestrator service (health on HTTP_PORT, default 8081)."""

from careers_runtime.app import serve
from careers_runtime.config import config_errors, load_settings

from orchestrator.app import build
from orchestrator.settings import OrchestratorSettings


def main() -> None:
    settings = load_settings(OrchestratorSettings, "orchestrator")
    with config_errors("orchestrator"):
        app, _ = build(settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
