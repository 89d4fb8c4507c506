"""``python -m ingest``: serve the ingest API (default http://127.0.0.1:8000)."""

from careers_runtime.app import serve
from careers_runtime.config import config_errors, load_settings

from ingest.main import create_app
from ingest.settings import IngestSettings


def main() -> None:
    settings = load_settings(IngestSettings, "ingest")
    with config_errors("ingest"):
        app = create_app(settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
