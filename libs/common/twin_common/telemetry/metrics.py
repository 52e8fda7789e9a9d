"""Prometheus metrics every long-running service serves on GET /metrics: the RED metrics (rate, errors, duration)
of its surface (HTTP, gRPC) and of its work (Kafka messages processed and sent; a service adds its own).

Names follow the OpenTelemetry semantic conventions the way OpenTelemetry's Prometheus exporters write them
(dots become underscores, the unit is a suffix, counters end in _total): `http.server.request.duration` is
`http_server_request_duration_seconds`. Label names are the semantic-convention attribute names likewise.
Our own metrics are named `twin_<service>_...`.

All of them live in prometheus_client's default registry (one per process), which also carries the process
collector (CPU, memory, open files); KServe serves the same registry on its own /metrics.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Seconds; from a cache hit (ms) to a long generation or an embedding batch (a minute).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

HTTP_SERVER_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests (http.server.request.duration)",
    ["http_request_method", "http_route", "http_response_status_code"],
    buckets=DURATION_BUCKETS,
)
RPC_SERVER_DURATION = Histogram(
    "rpc_server_call_duration_seconds",
    "Duration of RPCs served (rpc.server.call.duration)",
    ["rpc_system", "rpc_method", "rpc_response_status_code"],
    buckets=DURATION_BUCKETS,
)
MESSAGING_PROCESS_DURATION = Histogram(
    "messaging_process_duration_seconds",
    "Duration of processing one consumed message or batch (messaging.process.duration)",
    ["messaging_system", "messaging_destination_name", "messaging_consumer_group_name", "error_type"],
    buckets=DURATION_BUCKETS,
)
MESSAGING_CONSUMED = Counter(
    "messaging_client_consumed_messages",
    "Messages processed by this consumer (messaging.client.consumed.messages)",
    ["messaging_system", "messaging_destination_name", "messaging_consumer_group_name", "error_type"],
)
MESSAGING_SENT = Counter(
    "messaging_client_sent_messages",
    "Messages this producer sent (messaging.client.sent.messages)",
    ["messaging_system", "messaging_destination_name", "error_type"],
)

UNMATCHED_ROUTE = ""  # http.route is unknown for a path no route matched


def metrics_text(*registries: CollectorRegistry) -> bytes:
    """The exposition text of the default registry and any extra ones (a service's own registry)."""
    return b"".join(generate_latest(r) for r in (REGISTRY, *registries))


def metrics_response(*registries: CollectorRegistry):
    from starlette.responses import Response

    return Response(metrics_text(*registries), media_type=CONTENT_TYPE_LATEST)


def _route_template(scope) -> str:
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return route.path
    app = scope.get("app")
    if app is not None:
        from starlette.routing import Match

        for candidate in getattr(app, "routes", ()):
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                return getattr(candidate, "path", UNMATCHED_ROUTE)
    return UNMATCHED_ROUTE


class HttpServerMetricsMiddleware:
    """Pure ASGI middleware: one observation of http_server_request_duration_seconds per request, labelled with
    the route template (never the raw path, which holds ids), method and status (500 when the app raised)."""

    def __init__(self, app, excluded_paths: Iterable[str] = ("/metrics",)):
        self.app = app
        self.excluded = frozenset(excluded_paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") in self.excluded:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_and_note_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            HTTP_SERVER_DURATION.labels(scope.get("method", ""), _route_template(scope), str(status[0])).observe(
                time.perf_counter() - started
            )


def observe_processed(
    topic: str, group: str | None, count: int, seconds: float, error: BaseException | None = None
) -> None:
    """Record one processed message or batch (called by the consumer helpers in twin_common.telemetry.kafka)."""
    error_type = type(error).__name__ if error is not None else ""
    labels = ("kafka", topic, group or "", error_type)
    MESSAGING_PROCESS_DURATION.labels(*labels).observe(seconds)
    MESSAGING_CONSUMED.labels(*labels).inc(count)


def observe_sent(topic: str, count: int = 1, error: BaseException | None = None) -> None:
    MESSAGING_SENT.labels("kafka", topic, type(error).__name__ if error is not None else "").inc(count)


def _grpc_server_interceptor_class():
    import grpc

    class GrpcServerMetricsInterceptor(grpc.aio.ServerInterceptor):
        """asyncio gRPC server interceptor: one observation of rpc_server_call_duration_seconds per call (streams
        included, timed to their end), labelled with the full method name and the status code."""

        async def intercept_service(self, continuation, handler_call_details):
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            method = handler_call_details.method.lstrip("/")

            def record(started: float, context) -> None:
                code = context.code() if hasattr(context, "code") else None
                status = getattr(code, "name", None) or ("OK" if code in (None, 0) else str(code))
                RPC_SERVER_DURATION.labels("grpc", method, status).observe(time.perf_counter() - started)

            def unary_response(behaviour):
                if not inspect.iscoroutinefunction(behaviour):
                    return behaviour

                async def timed(request_or_iterator, context):
                    started = time.perf_counter()
                    try:
                        response = await behaviour(request_or_iterator, context)
                    except BaseException:
                        RPC_SERVER_DURATION.labels("grpc", method, "UNKNOWN").observe(time.perf_counter() - started)
                        raise
                    record(started, context)
                    return response

                return timed

            def stream_response(behaviour):
                if not inspect.isasyncgenfunction(behaviour):
                    return behaviour

                async def timed(request_or_iterator, context):
                    started = time.perf_counter()
                    try:
                        async for item in behaviour(request_or_iterator, context):
                            yield item
                    except BaseException:
                        RPC_SERVER_DURATION.labels("grpc", method, "UNKNOWN").observe(time.perf_counter() - started)
                        raise
                    record(started, context)

                return timed

            if handler.unary_unary:
                return handler._replace(unary_unary=unary_response(handler.unary_unary))
            if handler.stream_unary:
                return handler._replace(stream_unary=unary_response(handler.stream_unary))
            if handler.unary_stream:
                return handler._replace(unary_stream=stream_response(handler.unary_stream))
            if handler.stream_stream:
                return handler._replace(stream_stream=stream_response(handler.stream_stream))
            return handler

    return GrpcServerMetricsInterceptor


def grpc_server_metrics_interceptor():
    """An interceptor for grpc.aio.server(interceptors=...) recording the RED metrics of every RPC served."""
    return _grpc_server_interceptor_class()()
