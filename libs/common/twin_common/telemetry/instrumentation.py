"""The standard OpenTelemetry instrumentations, switched on once per process by setup_telemetry.

gRPC (client and server, sync and asyncio), httpx, requests, psycopg and redis are instrumented globally:
whatever a service builds after setup_telemetry is traced, with W3C trace context sent on every outgoing call.
FastAPI apps are instrumented per app (twin_common.service.build_http_app, or instrument_fastapi_app for an app
a library creates, like KServe's). Kafka clients are not auto-instrumented: see twin_common.telemetry.kafka for
why and for the helpers every producer and consumer calls instead.

A library that is not installed is skipped; an instrumentation that fails is logged and skipped: telemetry
never stops a service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("twin.telemetry")

# Routes no span is made for: probes and scrapes would otherwise be most of the traces.
EXCLUDED_URLS = "healthz,readyz,metrics,v2/health/live,v2/health/ready"

_done = False
_lock = threading.Lock()


def _grpc() -> None:
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
        GrpcInstrumentorClient,
        GrpcInstrumentorServer,
    )

    GrpcInstrumentorClient().instrument()
    GrpcInstrumentorServer().instrument()
    GrpcAioInstrumentorClient().instrument()
    GrpcAioInstrumentorServer().instrument()


def _httpx() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()


def _requests() -> None:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().instrument(excluded_urls=EXCLUDED_URLS)


def _psycopg() -> None:
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    PsycopgInstrumentor().instrument(enable_commenter=False, skip_dep_check=True)


def _redis() -> None:
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().instrument()


INSTRUMENTATIONS: dict[str, Callable[[], None]] = {
    "grpc": _grpc,
    "httpx": _httpx,
    "requests": _requests,
    "psycopg": _psycopg,
    "redis": _redis,
}


def instrument_libraries() -> list[str]:
    """Switch every available instrumentation on (once per process); returns the names switched on."""
    global _done
    with _lock:
        if _done:
            return []
        _done = True
    enabled = []
    for name, switch_on in INSTRUMENTATIONS.items():
        try:
            switch_on()
            enabled.append(name)
        except ImportError:
            log.debug("instrumentation %s: library not installed", name)
        except Exception as exc:  # noqa: BLE001 - telemetry never stops a service
            log.warning("instrumentation %s failed: %s", name, exc)
    return enabled


def instrument_fastapi_app(app, *, metrics: bool = True) -> None:
    """Trace an app (server spans named by route, W3C context continued from the caller) and, with `metrics`,
    record its RED metrics (twin_common.telemetry.metrics); idempotent."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    if not getattr(app, "_is_instrumented_by_opentelemetry", False):
        # no spans per ASGI receive/send message: one server span per request
        FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"])
    if metrics and not getattr(app.state, "twin_http_metrics", False):
        from twin_common.telemetry.metrics import HttpServerMetricsMiddleware

        app.add_middleware(HttpServerMetricsMiddleware)
        app.state.twin_http_metrics = True
