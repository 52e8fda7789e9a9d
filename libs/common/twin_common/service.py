"""The process bootstrap every service shares: logging, telemetry, an HTTP app with health routes."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry

from twin_common.health import HealthRegistry
from twin_common.logs import setup_logging
from twin_common.settings import ServiceSettings
from twin_common.telemetry import setup_telemetry


def bootstrap(settings: ServiceSettings) -> None:
    """Configure structured logging and tracing for this process."""
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    setup_telemetry(settings.service_name, settings.telemetry)


def build_http_app(
    settings: ServiceSettings,
    health: HealthRegistry,
    *,
    metrics_registries: Sequence[CollectorRegistry] = (),
    **fastapi_kwargs,
) -> FastAPI:
    """A FastAPI app with /healthz, /readyz and /metrics (Prometheus: the process-wide registry with the HTTP RED
    metrics, plus `metrics_registries`), traced by OpenTelemetry."""
    from twin_common.telemetry.instrumentation import instrument_fastapi_app
    from twin_common.telemetry.metrics import metrics_response

    app = FastAPI(title=settings.service_name, **fastapi_kwargs)
    app.include_router(health.router())
    registries = tuple(metrics_registries)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return metrics_response(*registries)

    instrument_fastapi_app(app)
    return app


def serve_http(app: FastAPI, settings: ServiceSettings) -> None:
    import uvicorn

    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None)
