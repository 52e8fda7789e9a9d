"""Entry point of the monitor service: `twin-monitor` or `python -m twin_monitor`.

Scaffold only: it serves health endpoints; the service's work is tracked in the issues.
"""

from twin_common.health import HealthRegistry
from twin_common.service import bootstrap, build_http_app, serve_http

from twin_monitor.settings import MonitorSettings


def main() -> None:
    settings = MonitorSettings()
    bootstrap(settings)
    serve_http(build_http_app(settings, HealthRegistry()), settings)


if __name__ == "__main__":
    main()
