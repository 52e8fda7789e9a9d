"""The process bootstrap every service shares: logging, telemetry, an HTTP app with health routes."""

from __future__ import annotations

from fastapi import FastAPI

from twin_common.health import HealthRegistry
from twin_common.logs import setup_logging
from twin_common.settings import ServiceSettings
from twin_common.telemetry import setup_telemetry


def bootstrap(settings: ServiceSettings) -> None:
    """Configure structured logging and tracing for this process."""
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    setup_telemetry(settings.service_name, settings.telemetry)


def build_http_app(settings: ServiceSettings, health: HealthRegistry, **fastapi_kwargs) -> FastAPI:
    """A FastAPI app with /healthz and /readyz, traced by OpenTelemetry."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = FastAPI(title=settings.service_name, **fastapi_kwargs)
    app.include_router(health.router())
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz")
    return app


def serve_http(app: FastAPI, settings: ServiceSettings) -> None:
    import uvicorn

    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None)
