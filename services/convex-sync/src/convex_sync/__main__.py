"""``python -m convex_sync``: run the service (health, readiness and metrics on HTTP_PORT)."""

from careers_runtime.app import serve
from careers_runtime.config import config_errors, load_settings

from convex_sync.app import create_app
from convex_sync.settings import ConvexSyncSettings


def main() -> None:
    settings = load_settings(ConvexSyncSettings, "convex-sync")  # exits 78 without the secret
    with config_errors("convex-sync"):
        app = create_app(settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
