"""``python -m ingest``: serve the ingest API (default http://127.0.0.1:8000)."""

from careers_runtime.app import serve

from ingest.main import create_app
from ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
