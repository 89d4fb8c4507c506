"""``python -m profile_analyzer``: the ProfileAnalyzer Kafka service (health on HTTP_PORT)."""

from careers_runtime.app import serve

from profile_analyzer.app import create_app
from profile_analyzer.settings import AnalyzerSettings


def main() -> None:
    settings = AnalyzerSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
