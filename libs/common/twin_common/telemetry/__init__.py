"""Telemetry of every service: tracing bootstrap, the standard instrumentations, context across Kafka, Prometheus
RED metrics and GenAI spans. One call per process (twin_common.service.bootstrap does it):

    setup_telemetry(service_name, settings.telemetry)

Modules: setup (where telemetry goes, OTEL_* and TWIN_OTEL_* variables), instrumentation (gRPC, FastAPI, httpx,
requests, psycopg, redis), kafka (send/process spans with W3C context in headers, CDC rows), metrics (/metrics),
genai (model-call spans and metrics). docs/observability.md has the catalogue of spans and metrics.
"""

from twin_common.telemetry.setup import (
    ExportTarget,
    JsonLinesSpanExporter,
    export_target,
    force_flush,
    resolve_target,
    setup_telemetry,
    shutdown_telemetry,
)

__all__ = [
    "ExportTarget",
    "JsonLinesSpanExporter",
    "export_target",
    "force_flush",
    "resolve_target",
    "setup_telemetry",
    "shutdown_telemetry",
]
