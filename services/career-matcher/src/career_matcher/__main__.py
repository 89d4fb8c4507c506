"""``python -m career_matcher``: the CareerMatcher Kafka service (health on HTTP_PORT)."""

from careers_runtime.app import serve

from career_matcher.app import create_app
from career_matcher.settings import MatcherSettings


def main() -> None:
    settings = MatcherSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
