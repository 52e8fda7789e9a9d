"""Entry point of the cdc service: `twin-cdc` or `python -m twin_cdc`.

Scaffold only: it serves health endpoints; the service's work is tracked in the issues.
"""

from twin_common.health import HealthRegistry
from twin_common.service import bootstrap, build_http_app, serve_http
from twin_cdc.settings import CdcSettings


def main() -> None:
    settings = CdcSettings()
    bootstrap(settings)
    serve_http(build_http_app(settings, HealthRegistry()), settings)


if __name__ == "__main__":
    main()
