"""``python -m convex_sync``: run the service (health, readiness and metrics on HTTP_PORT)."""

import sys

from careers_runtime.app import serve
from pydantic import ValidationError

from convex_sync.app import create_app
from convex_sync.settings import ConvexSyncSettings


def main() -> int:
    try:
        settings = ConvexSyncSettings()  # type: ignore[call-arg]  # secret comes from env
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        print(f"convex-sync: invalid configuration: {problems}", file=sys.stderr)
        return 2
    serve(create_app(settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
