"""``python -m career_matcher``: the CareerMatcher Kafka service (health on HTTP_PORT)."""

import os

# One BLAS thread per agent process: the process is the unit of scaling (replicas, one per
# core), and a second BLAS thread doubled the matcher's CPU per profile for a small gain in
# latency (docs/benchmarks.md). Must be set before NumPy loads; the environment may override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from careers_runtime.app import serve
from careers_runtime.config import config_errors, load_settings

from career_matcher.app import create_app
from career_matcher.settings import MatcherSettings


def main() -> None:
    settings = load_settings(MatcherSettings, "career-matcher")
    with config_errors("career-matcher"):
        app = create_app(settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
