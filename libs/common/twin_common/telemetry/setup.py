"""OpenTelemetry bootstrap: one call per process installs tracing, OTLP logs and the standard instrumentations.

Where telemetry goes (first match wins; `twin-stack status` and the service's first log line say which):
1. nowhere, when TWIN_OTEL_ENABLED=false, OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none;
2. the console, when OTEL_TRACES_EXPORTER=console;
3. the OTLP endpoint of TWIN_OTEL_OTLP_ENDPOINT, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT
   (protocol: TWIN_OTEL_OTLP_PROTOCOL, else OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, else grpc); the Kubernetes path;
4. the local stack's collector (127.0.0.1:14317 + TWIN_LOCAL_PORT_OFFSET) when it answers: the `make up` path;
5. a JSON-lines file of spans (TWIN_OTEL_SPANS_FILE, default .local/telemetry/spans.jsonl): the fallback when
   no collector runs.
The other standard variables keep their meaning: OTEL_SERVICE_NAME (overrides the service's name),
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS/TIMEOUT/COMPRESSION,
OTEL_PROPAGATORS (default W3C tracecontext + baggage).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from twin_common.settings import TelemetrySettings

log = logging.getLogger("twin.telemetry")

_lock = threading.Lock()
_provider: TracerProvider | None = None
_logger_provider = None
_log_handler: logging.Handler | None = None
_target: ExportTarget | None = None

SERVICE_NAMESPACE = "twin"
SEMCONV_OPT_IN = "http,database"  # OTEL_SEMCONV_STABILITY_OPT_IN: instrumentations emit the stable names


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span as one JSON object per line (the fallback when no collector runs)."""

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


@dataclass(frozen=True)
class ExportTarget:
    """Where this process sends its spans (and, for OTLP, its logs)."""

    kind: str  # "otlp", "file", "console" or "none"
    endpoint: str | None = None  # OTLP endpoint as configured (None: the OTLP exporter reads OTEL_* itself)
    protocol: str = "grpc"
    path: Path | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.kind == "otlp":
            return f"OTLP/{self.protocol} to {self.endpoint or os.environ.get('OTEL_EXPORTER_OTLP_ENDPOINT')}"
        if self.kind == "file":
            return f"spans to file {self.path} ({self.reason})"
        return f"{self.kind} ({self.reason})" if self.reason else self.kind


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _port_open(address: str, timeout: float = 0.2) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def resolve_target(settings: TelemetrySettings, environ: Mapping[str, str] | None = None) -> ExportTarget:
    """Apply the precedence in this module's docstring (pure but for the local collector probe)."""
    env = os.environ if environ is None else environ
    if not settings.enabled or _truthy(env.get("OTEL_SDK_DISABLED")):
        return ExportTarget("none", reason="telemetry disabled")
    exporter = (env.get("OTEL_TRACES_EXPORTER") or "").strip().lower()
    if exporter == "none":
        return ExportTarget("none", reason="OTEL_TRACES_EXPORTER=none")
    if exporter == "console":
        return ExportTarget("console", reason="OTEL_TRACES_EXPORTER=console")
    protocol = (
        settings.otlp_protocol
        or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    )
    if settings.otlp_endpoint:
        return ExportTarget("otlp", settings.otlp_endpoint, protocol, reason="TWIN_OTEL_OTLP_ENDPOINT")
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return ExportTarget("otlp", None, protocol, reason="OTEL_EXPORTER_OTLP_* variables")
    if settings.local_collector and _port_open(settings.local_collector):
        return ExportTarget("otlp", f"http://{settings.local_collector}", "grpc", reason="the local stack's collector")
    if settings.spans_file is not None:
        where = f"no collector answers at {settings.local_collector}" if settings.local_collector else "no collector"
        return ExportTarget("file", path=settings.spans_file, reason=f"no OTLP endpoint configured and {where}")
    return ExportTarget("none", reason="no OTLP endpoint and no spans file configured")


def _http_signal_url(endpoint: str, signal: str) -> str:
    """OTLP/HTTP wants the full URL of a signal; TWIN_OTEL_OTLP_ENDPOINT names the collector's base URL."""
    base = endpoint.rstrip("/")
    return base if base.endswith(f"/v1/{signal}") else f"{base}/v1/{signal}"


def _span_exporter(target: ExportTarget) -> SpanExporter | None:
    if target.kind == "file" and target.path is not None:
        return JsonLinesSpanExporter(target.path)
    if target.kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if target.kind != "otlp":
        return None
    if target.protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

        return HttpSpanExporter(endpoint=_http_signal_url(target.endpoint, "traces") if target.endpoint else None)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    if target.endpoint:
        return OTLPSpanExporter(endpoint=target.endpoint, insecure=not target.endpoint.startswith("https://"))
    return OTLPSpanExporter()


def _log_exporter(target: ExportTarget):
    if target.protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

        return HttpLogExporter(endpoint=_http_signal_url(target.endpoint, "logs") if target.endpoint else None)
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

    if target.endpoint:
        return OTLPLogExporter(endpoint=target.endpoint, insecure=not target.endpoint.startswith("https://"))
    return OTLPLogExporter()


def service_resource(service_name: str, environ: Mapping[str, str] | None = None) -> Resource:
    """service.name (OTEL_SERVICE_NAME wins), service.namespace, service.instance.id, plus OTEL_RESOURCE_ATTRIBUTES."""
    env = os.environ if environ is None else environ
    name = env.get("OTEL_SERVICE_NAME") or service_name
    return Resource.create(
        {
            "service.name": name,
            "service.namespace": SERVICE_NAMESPACE,
            "service.instance.id": str(uuid.uuid4()),
        }
    )


class _NotOwnTelemetry(logging.Filter):
    """Keeps the exporters' own complaints (about an unreachable collector, say) out of the OTLP log stream."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("opentelemetry")


def _install_otlp_logs(resource: Resource, target: ExportTarget) -> None:
    global _logger_provider, _log_handler
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    _logger_provider = LoggerProvider(resource=resource)
    _logger_provider.add_log_record_processor(BatchLogRecordProcessor(_log_exporter(target), schedule_delay_millis=500))
    set_logger_provider(_logger_provider)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _log_handler = LoggingHandler(logger_provider=_logger_provider)
    _log_handler.addFilter(_NotOwnTelemetry())
    logging.getLogger().addHandler(_log_handler)


def setup_telemetry(service_name: str, settings: TelemetrySettings | None = None) -> TracerProvider:
    """Install the global tracer provider for this process (idempotent) and return it; instruments the standard
    client and server libraries (see instrumentation.py) and, when spans go to OTLP, sends log records there too."""
    global _provider, _target
    settings = settings or TelemetrySettings()
    # the current (stable) HTTP and database semantic conventions, unless the deployment chose otherwise
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", SEMCONV_OPT_IN)
    with _lock:
        if _provider is not None:
            return _provider
        resource = service_resource(service_name)
        provider = TracerProvider(resource=resource)
        target = resolve_target(settings)
        exporter = _span_exporter(target)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        trace.set_tracer_provider(provider)
        if target.kind == "otlp" and settings.logs:
            _install_otlp_logs(resource, target)
        _provider, _target = provider, target
    from twin_common.telemetry.instrumentation import instrument_libraries

    instrument_libraries()
    log.info("telemetry of %s: %s", resource.attributes.get("service.name"), target.describe())
    return provider


def export_target() -> ExportTarget | None:
    """Where this process sends telemetry (None before setup_telemetry)."""
    return _target


def shutdown_telemetry() -> None:
    """Flush and stop the exporters (call at process exit)."""
    global _provider, _logger_provider, _log_handler, _target
    with _lock:
        if _provider is not None:
            _provider.shutdown()
            _provider = None
        if _log_handler is not None:
            logging.getLogger().removeHandler(_log_handler)
            _log_handler = None
        if _logger_provider is not None:
            _logger_provider.shutdown()
            _logger_provider = None
        _target = None


def force_flush(timeout_millis: int = 5000) -> None:
    """Export what is buffered now (tests and short-lived commands)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)
    if _logger_provider is not None:
        _logger_provider.force_flush(timeout_millis)
