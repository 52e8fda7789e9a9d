"""The local stack's telemetry backend: the OpenTelemetry Collector distribution and the trace store (Jaeger v2).

Services send OTLP to the collector (twin_common.telemetry finds it on 127.0.0.1 at LOCAL_OTLP_GRPC_PORT); the
collector sends traces to Jaeger (kept in memory; query API and UI at LOCAL_TRACE_QUERY_PORT), turns spans into
RED metrics (Prometheus endpoint) and writes OTLP logs to .local/telemetry/logs.jsonl. Both programs are built
from Go modules once into the cache folder (twin_localstack.gobuild). When a build is impossible here (no Go
toolchain, no module proxy), the component says why in `twin-stack status` and services fall back to writing
spans to a file; a build that runs and fails is an error.

Configuration: libs/localstack/otel/{collector.yaml, collector-without-trace-store.yaml, jaeger.yaml}; every
address comes from the environment set here, so the same files serve compose (with its own environment).
"""

from __future__ import annotations

import logging
from pathlib import Path

from twin_common.settings import LOCAL_OTLP_GRPC_PORT, LOCAL_OTLP_HTTP_PORT, LOCAL_TRACE_QUERY_PORT, local_port

from twin_localstack.components import Component, http_ok
from twin_localstack.gobuild import OTEL_DIR, BuildImpossible, ensure_collector, ensure_jaeger
from twin_localstack.paths import StackPaths
from twin_localstack.process import spawn

log = logging.getLogger("twin.stack")

HOST = "127.0.0.1"
COLLECTOR_HEALTH_PORT = local_port(14133)
COLLECTOR_METRICS_PORT = local_port(18889)  # span metrics and OTLP metrics, Prometheus format
JAEGER_OTLP_GRPC_PORT = local_port(14327)  # Jaeger's own OTLP receiver: only the collector sends there
JAEGER_QUERY_GRPC_PORT = local_port(16685)
JAEGER_MAX_TRACES = 50_000


class _GoComponent(Component):
    """A component whose binary is built from Go modules; unavailable (with a reason) where it cannot be built."""

    start_timeout = 60.0

    def __init__(self, paths: StackPaths):
        super().__init__(paths)
        self.unavailable: str | None = self._read_reason()

    @property
    def _reason_file(self) -> Path:
        return self.paths.run / f"{self.name}.unavailable"

    def _read_reason(self) -> str | None:
        try:
            return self._reason_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    def _build(self) -> Path:
        raise NotImplementedError

    def binary(self) -> Path | None:
        """The built program; None when it cannot be built here (self.unavailable says why)."""
        try:
            path = self._build()
        except BuildImpossible as exc:
            self.unavailable = str(exc)
            self.paths.run.mkdir(parents=True, exist_ok=True)
            self._reason_file.write_text(self.unavailable)
            return None
        self.unavailable = None
        self._reason_file.unlink(missing_ok=True)
        return path

    def start(self) -> None:
        if self.binary() is None:
            log.warning("%s unavailable, telemetry falls back to files: %s", self.name, self.unavailable)
            return
        super().start()

    def healthy(self) -> bool:
        # an unavailable backend is not part of this stack: it never makes the stack unhealthy
        return self.unavailable is not None or self._answers()

    def _answers(self) -> bool:
        raise NotImplementedError

    def state(self) -> str | None:
        """A word for `twin-stack status` when the plain states do not fit."""
        return f"unavailable: {self.unavailable}" if self.unavailable else None


class TraceStore(_GoComponent):
    """Jaeger v2: OTLP in, traces in memory, query API (/api/traces, /api/v3/traces) and UI on the query port."""

    name = "jaeger"

    def ports(self) -> list[tuple[str, int]]:
        return [(HOST, p) for p in (LOCAL_TRACE_QUERY_PORT, JAEGER_QUERY_GRPC_PORT, JAEGER_OTLP_GRPC_PORT)]

    def __init__(self, paths: StackPaths):
        super().__init__(paths)
        self.query_url = f"http://{HOST}:{LOCAL_TRACE_QUERY_PORT}"

    def _build(self) -> Path:
        return ensure_jaeger(self.paths.cache)

    def endpoint(self) -> str:
        return self.query_url

    def env(self) -> dict[str, str]:
        return {
            "TWIN_JAEGER_QUERY_PORT": str(LOCAL_TRACE_QUERY_PORT),
            "TWIN_JAEGER_QUERY_GRPC_PORT": str(JAEGER_QUERY_GRPC_PORT),
            "TWIN_JAEGER_OTLP_GRPC_PORT": str(JAEGER_OTLP_GRPC_PORT),
            "TWIN_JAEGER_MAX_TRACES": str(JAEGER_MAX_TRACES),
        }

    def _launch(self) -> None:
        binary = self.binary()
        assert binary is not None
        spawn([str(binary), "--config", str(OTEL_DIR / "jaeger.yaml")], self.pidfile, self.logfile, env=self.env())

    def _answers(self) -> bool:
        return http_ok(f"{self.query_url}/api/services")


class Collector(_GoComponent):
    """twin-otelcol: OTLP gRPC and HTTP in; traces to the trace store, span metrics, OTLP logs to a file."""

    name = "otelcol"
    after = ("jaeger",)

    def ports(self) -> list[tuple[str, int]]:
        ports = (LOCAL_OTLP_GRPC_PORT, LOCAL_OTLP_HTTP_PORT, COLLECTOR_HEALTH_PORT, COLLECTOR_METRICS_PORT)
        return [(HOST, p) for p in ports]

    def __init__(self, paths: StackPaths):
        super().__init__(paths)
        self.telemetry_dir = paths.home / "telemetry"

    def _build(self) -> Path:
        return ensure_collector(self.paths.cache)

    def endpoint(self) -> str:
        return f"{HOST}:{LOCAL_OTLP_GRPC_PORT}"

    def env(self) -> dict[str, str]:
        return {
            "TWIN_OTELCOL_HEALTH_PORT": str(COLLECTOR_HEALTH_PORT),
            "TWIN_OTELCOL_OTLP_GRPC_PORT": str(LOCAL_OTLP_GRPC_PORT),
            "TWIN_OTELCOL_OTLP_HTTP_PORT": str(LOCAL_OTLP_HTTP_PORT),
            "TWIN_OTELCOL_TRACE_STORE_PORT": str(JAEGER_OTLP_GRPC_PORT),
            "TWIN_OTELCOL_METRICS_PORT": str(COLLECTOR_METRICS_PORT),
            "TWIN_OTELCOL_TELEMETRY_DIR": str(self.telemetry_dir),
        }

    def config_files(self) -> list[Path]:
        files = [OTEL_DIR / "collector.yaml"]
        if TraceStore(self.paths).unavailable:
            files.append(OTEL_DIR / "collector-without-trace-store.yaml")
        return files

    def _launch(self) -> None:
        binary = self.binary()
        assert binary is not None
        self.telemetry_dir.mkdir(parents=True, exist_ok=True)
        argv = [str(binary)]
        for config in self.config_files():
            argv += ["--config", str(config)]
        spawn(argv, self.pidfile, self.logfile, env=self.env())

    def _answers(self) -> bool:
        return http_ok(f"http://{HOST}:{COLLECTOR_HEALTH_PORT}/")


def telemetry_components(paths: StackPaths) -> list[Component]:
    """In start order (the trace store before the collector that sends to it)."""
    return [TraceStore(paths), Collector(paths)]


def telemetry_summary(paths: StackPaths) -> str:
    """One line for `twin-stack status`: where services' telemetry goes and where to look at it."""
    store, collector = TraceStore(paths), Collector(paths)
    if collector.unavailable:
        return f"spans to files under {paths.home / 'telemetry'} (collector unavailable: {collector.unavailable})"
    if not collector.running():
        return f"collector not running: spans to file {paths.home / 'telemetry' / 'spans.jsonl'}"
    if store.unavailable:
        return f"OTLP to {collector.endpoint()}; traces to {collector.telemetry_dir / 'traces.jsonl'} ({store.unavailable})"
    return f"OTLP to {collector.endpoint()}; traces: {store.query_url} (Jaeger query API; `twin traces`)"
