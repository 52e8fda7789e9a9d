"""OpenTelemetry bootstrap: one call per process.

Spans go to an OTLP collector when `TWIN_OTEL_OTLP_ENDPOINT` is set (the Kubernetes path), else to a
JSON-lines file under .local/telemetry (the local stack has no collector binary to run).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from twin_common.settings import TelemetrySettings

_lock = threading.Lock()
_provider: TracerProvider | None = None


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span as one JSON object per line."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file_lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(json.loads(span.to_json()), separators=(",", ":")) for span in spans]
        with self._file_lock, self.path.open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def setup_telemetry(service_name: str, settings: TelemetrySettings | None = None) -> TracerProvider:
    """Install the global tracer provider for this process (idempotent) and return it."""
    global _provider
    settings = settings or TelemetrySettings()
    with _lock:
        if _provider is not None:
            return _provider
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        if settings.enabled:
            exporter: SpanExporter | None = None
            if settings.otlp_endpoint:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

                exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True)
            elif settings.spans_file is not None:
                exporter = JsonLinesSpanExporter(settings.spans_file)
            if exporter is not None:
                provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        trace.set_tracer_provider(provider)
        _provider = provider
        return provider


def shutdown_telemetry() -> None:
    """Flush and stop the exporter (call at process exit)."""
    global _provider
    with _lock:
        if _provider is not None:
            _provider.shutdown()
            _provider = None
