"""Entry point of the gateway service: `twin-gateway` or `python -m twin_gateway`.

Scaffold only: it serves health endpoints; the service's work is tracked in the issues.
"""

from twin_common.health import HealthRegistry
from twin_common.service import bootstrap, build_http_app, serve_http

from twin_gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    bootstrap(settings)
    serve_http(build_http_app(settings, HealthRegistry()), settings)


if __name__ == "__main__":
    main()
