"""Entry point of the cdc service: `twin-cdc` or `python -m twin_cdc`.

Registers the Debezium connector (idempotently), restarts failed tasks every few seconds, and serves
/healthz and /readyz (ready while the connector and its tasks run) plus GET /v1/connector.
"""

import threading

from twin_common.health import HealthRegistry
from twin_common.service import bootstrap, build_http_app, serve_http

from twin_cdc import connector
from twin_cdc.settings import CdcSettings
from twin_cdc.supervisor import Supervisor


def main() -> None:
    settings = CdcSettings()
    bootstrap(settings)
    supervisor = Supervisor(settings)
    health = HealthRegistry()
    health.add("connector", supervisor.ready)
    app = build_http_app(settings, health)

    @app.get("/v1/connector")
    def connector_status() -> dict:
        current = connector.status(settings.connect.url, settings.connector_name)
        if current is None:
            return {"name": settings.connector_name, "state": "MISSING", "tasks": []}
        return {"name": current.name, "state": current.connector_state, "tasks": current.task_states}

    stop = threading.Event()
    threading.Thread(target=supervisor.run, args=(stop,), name="cdc-supervisor", daemon=True).start()
    try:
        serve_http(app, settings)
    finally:
        stop.set()


if __name__ == "__main__":
    main()
