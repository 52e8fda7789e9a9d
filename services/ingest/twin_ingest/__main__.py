"""Entry point of the ingest service: `twin-ingest` or `python -m twin_ingest` (REST API on TWIN_HTTP_PORT)."""

from twin_common.service import bootstrap, serve_http

from twin_ingest.api import build_app
from twin_ingest.db import migrate
from twin_ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    bootstrap(settings)
    if settings.migrate_on_start:
        migrate(settings.dsn())
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
