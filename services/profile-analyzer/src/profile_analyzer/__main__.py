"""``python -m profile_analyzer``: the ProfileAnalyzer Kafka service (health on HTTP_PORT)."""

import os

# One BLAS thread per agent process: the process is the unit of scaling (replicas, one per
# core), and a second BLAS thread doubled the matcher's CPU per profile for a small gain in
# latency (docs/benchmarks.md). Must be set before NumPy loads; the environment may override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from careers_runtime.app import serve
from careers_runtime.config import config_errors, load_settings

from profile_analyzer.app import create_app
from profile_analyzer.settings import AnalyzerSettings


def main() -> None:
    settings = load_settings(AnalyzerSettings, "profile-analyzer")
    with config_errors("profile-analyzer"):
        app = create_app(settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
