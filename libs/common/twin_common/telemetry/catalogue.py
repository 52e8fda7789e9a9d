"""What each long-running service must emit: the one table behind the telemetry test suite
(tests/integration/telemetry) and the catalogue in docs/observability.md (scripts/gen_telemetry_catalogue.py).

Span names may hold placeholders for topic names ({cdc_documents}, {documents_indexed}, {models_registered},
{requests});
`ServiceTelemetry.spans_for(topics)` fills them (a test's private topics, or twin_common.topics by default).
A service with no spans or no /metrics fails the suite; a new service adds its row here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin_common import topics as topic_names


@dataclass(frozen=True)
class Span:
    name: str  # exact span name, placeholders allowed
    kind: str  # SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL
    what: str  # one line for the catalogue
    attributes: tuple[str, ...] = ()  # attributes it must carry


@dataclass(frozen=True)
class Propagation:
    """A span of this service that continues a trace started upstream: its parent (or a link) is a span of
    `from_service` named `from_span`, across the hop named by `via`."""

    span: str
    from_service: str
    from_span: str
    via: str


@dataclass(frozen=True)
class Metric:
    name: str  # as exposed on /metrics (counters with their _total suffix)
    what: str


@dataclass(frozen=True)
class ServiceTelemetry:
    service: str  # service.name
    health_path: str
    metrics_path: str
    spans: tuple[Span, ...]
    metrics: tuple[Metric, ...]
    propagation: tuple[Propagation, ...] = field(default=())
    notes: str = ""

    def spans_for(self, topics: dict[str, str] | None = None) -> list[Span]:
        names = {**DEFAULT_TOPICS, **(topics or {})}
        return [Span(s.name.format(**names), s.kind, s.what, s.attributes) for s in self.spans]

    def propagation_for(self, topics: dict[str, str] | None = None) -> list[Propagation]:
        names = {**DEFAULT_TOPICS, **(topics or {})}
        return [
            Propagation(p.span.format(**names), p.from_service, p.from_span.format(**names), p.via)
            for p in self.propagation
        ]


DEFAULT_TOPICS = {
    "cdc_documents": topic_names.CDC_DOCUMENTS,
    "documents_indexed": topic_names.DOCUMENTS_INDEXED,
    "models_registered": topic_names.MODELS_REGISTERED,
    "requests": topic_names.REQUESTS,
}

HTTP_RED = Metric("http_server_request_duration_seconds", "HTTP requests by method, route and status (RED)")
CONSUMED = (
    Metric("messaging_process_duration_seconds", "time to process a consumed message or batch, by topic and error"),
    Metric("messaging_client_consumed_messages_total", "messages processed, by topic"),
)
PROCESS = ("process_cpu_seconds_total", "process_resident_memory_bytes")

SERVICES: tuple[ServiceTelemetry, ...] = (
    ServiceTelemetry(
        service="twin-ingest",
        health_path="/healthz",
        metrics_path="/metrics",
        spans=(
            Span(
                "POST /v1/tenants/{{tenant}}/documents",
                "SERVER",
                "a document import request",
                ("http.request.method", "http.route", "http.response.status_code"),
            ),
            Span(
                "ingest.import",
                "INTERNAL",
                "one import run: its outcome counts",
                ("twin.tenant.id", "twin.ingest.stored"),
            ),
            Span("INSERT", "CLIENT", "each PostgreSQL statement (psycopg)", ("db.system.name", "db.namespace")),
        ),
        metrics=(HTTP_RED,),
        notes="Writes the request's traceparent into each document row it changes (column `traceparent`).",
    ),
    ServiceTelemetry(
        service="twin-embedder",
        health_path="/healthz",
        metrics_path="/metrics",
        spans=(
            Span(
                "process {cdc_documents}",
                "CONSUMER",
                "one consumed batch of CDC events, linked to each change's writer",
                ("messaging.system", "messaging.batch.message_count", "messaging.consumer.group.name"),
            ),
            Span("embedder.apply", "INTERNAL", "clean, chunk, embed and write the batch's documents", ("documents",)),
            Span(
                "embeddings all-MiniLM-L6-v2",
                "INTERNAL",
                "embedding the batch's chunks",
                ("gen_ai.operation.name", "gen_ai.request.model"),
            ),
            Span(
                "upsert twin_chunks",
                "CLIENT",
                "the Qdrant write of the batch's points",
                ("db.system.name", "db.collection.name", "db.operation.batch.size"),
            ),
            Span(
                "send {documents_indexed}",
                "PRODUCER",
                "one DocumentIndexed event (its headers carry the trace on)",
                ("messaging.destination.name",),
            ),
            Span("embedder.commit", "INTERNAL", "the offset commit after the writes"),
        ),
        metrics=(
            HTTP_RED,
            Metric("messaging_process_duration_seconds", "time to process a consumed batch, by topic and error"),
            Metric("messaging_client_consumed_messages_total", "CDC events processed"),
            Metric("messaging_client_sent_messages_total", "DocumentIndexed / dead-letter events sent"),
            Metric("twin_embedder_changes_total", "document changes applied, by op and skipped"),
            Metric("twin_embedder_consumer_lag", "end offset minus committed offset, by partition"),
        ),
        propagation=(
            Propagation("process {cdc_documents}", "twin-ingest", "ingest.import", "PostgreSQL row -> Debezium"),
        ),
        notes="`feast.push` too when a Feast project is configured.",
    ),
    ServiceTelemetry(
        service="twin-cdc",
        health_path="/healthz",
        metrics_path="/metrics",
        spans=(
            Span("cdc.supervise", "INTERNAL", "one supervisor check of the connector", ("twin.cdc.connector.state",)),
            Span("GET", "CLIENT", "its Kafka Connect REST calls (httpx)", ("http.request.method", "url.full")),
        ),
        metrics=(HTTP_RED, Metric("twin_cdc_checks_total", "supervisor checks by the connector state found")),
        notes="`twin cdc embedded` sends each traced row as `send <topic>` (PRODUCER) inside the writer's trace.",
    ),
    ServiceTelemetry(
        service="twin-inference",
        health_path="/v2/health/live",
        metrics_path="/metrics",
        spans=(
            Span(
                "POST /v2/models/{{model_name}}/infer",
                "SERVER",
                "a V2 REST inference request",
                ("http.request.method", "http.route"),
            ),
            Span(
                "text_completion twin-llm",
                "INTERNAL",
                "one generation (chat twin-llm for chat messages)",
                (
                    "gen_ai.operation.name",
                    "gen_ai.request.model",
                    "gen_ai.usage.input_tokens",
                    "gen_ai.usage.output_tokens",
                    "gen_ai.response.finish_reasons",
                ),
            ),
            Span(
                "embeddings twin-embed",
                "INTERNAL",
                "one embedding request",
                ("gen_ai.operation.name", "gen_ai.request.model"),
            ),
            Span(
                "process {models_registered}",
                "CONSUMER",
                "one ModelRegistered event read by the registry watcher",
                ("messaging.destination.name", "messaging.kafka.offset"),
            ),
        ),
        metrics=(
            HTTP_RED,
            Metric("rpc_server_call_duration_seconds", "gRPC calls by method and status (RED)"),
            Metric("gen_ai_server_request_duration_seconds", "model calls by operation, model and error"),
            Metric("gen_ai_server_time_to_first_token_seconds", "time to the first generated token"),
            Metric("twin_model_tokens_total", "input and output tokens by model"),
        ),
        propagation=(
            Propagation(
                "text_completion twin-llm", "caller", "POST /v2/models/{{model_name}}/infer", "HTTP traceparent"
            ),
            Propagation("process {models_registered}", "caller", "send {models_registered}", "Kafka headers"),
        ),
        notes="Continues the caller's trace over HTTP, gRPC and the ModelRegistered topic (the trainer's send).",
    ),
    ServiceTelemetry(
        service="twin-gateway",
        health_path="/healthz",
        metrics_path="/metrics",
        spans=(
            Span(
                "POST /v1/ask",
                "SERVER",
                "a grounded question over REST (other routes and the gRPC surface alike)",
                ("http.request.method", "http.route", "http.response.status_code"),
            ),
            Span("twin.ask", "INTERNAL", "the request's pipeline", ("twin.request_id", "twin.operation")),
            Span(
                "twin.stage.retrieve", "INTERNAL", "hybrid retrieval in the caller's tenant", ("twin.retrieval.hits",)
            ),
            Span("twin.stage.generate", "INTERNAL", "prompt and the model's stream opened", ("twin.endpoint",)),
            Span(
                "/inference.GRPCInferenceService/ModelStreamInfer",
                "CLIENT",
                "the generation streamed from the inference server (its traceparent in the gRPC metadata)",
                ("rpc.system", "rpc.method"),
            ),
            Span(
                "send {requests}",
                "PRODUCER",
                "one RequestLogged event (its headers carry the request's trace)",
                ("messaging.destination.name",),
            ),
        ),
        metrics=(
            HTTP_RED,
            Metric("twin_gateway_requests_total", "requests by surface, operation and outcome code"),
            Metric("twin_gateway_stage_seconds", "time in each pipeline stage"),
            Metric("twin_gateway_ttft_seconds", "time from a request's arrival to its first token"),
            Metric("twin_gateway_events_sent_total", "request log / feedback events delivered to Kafka"),
        ),
        propagation=(Propagation("POST /v1/ask", "caller", "POST /v1/ask", "HTTP traceparent"),),
        notes="One trace runs from the request through retrieval to the inference server's generation span.",
    ),
    ServiceTelemetry(
        service="twin-monitor",
        health_path="/healthz",
        metrics_path="/metrics",
        spans=(
            Span(
                "process {requests}",
                "CONSUMER",
                "one consumed batch, linked to each message's sender (`process` when it spans several topics)",
                ("messaging.system", "messaging.batch.message_count", "messaging.consumer.group.name"),
            ),
            Span("monitor.store", "INTERNAL", "the batch written to PostgreSQL in one transaction"),
            Span("monitor.commit", "INTERNAL", "the offset commit after the write"),
        ),
        metrics=(
            HTTP_RED,
            *CONSUMED,
            Metric("twin_monitor_events_total", "events consumed, by topic and outcome"),
            Metric("twin_monitor_batch_seconds", "time to store one consumed batch"),
        ),
        propagation=(Propagation("process {requests}", "twin-gateway", "send {requests}", "Kafka headers (links)"),),
        notes="Its DriftAlert and dead-letter sends are `send <topic>` PRODUCER spans (the trainer continues alerts).",
    ),
    ServiceTelemetry(
        service="twin-trainer",
        health_path="/healthz",
        metrics_path="/metrics",
        spans=(
            Span(
                "process {documents_indexed}",
                "CONSUMER",
                "one DocumentIndexed event counted for its author (DriftAlert events alike)",
                ("messaging.destination.name", "messaging.kafka.offset", "messaging.consumer.group.name"),
            ),
        ),
        metrics=(HTTP_RED, *CONSUMED),
        propagation=(
            Propagation("process {documents_indexed}", "twin-embedder", "send {documents_indexed}", "Kafka headers"),
        ),
        notes="The `twin-trainer` consumer: the trigger's PostgreSQL work runs inside the process span; poison goes "
        "to `<topic>.dlq` as a `send` span in the same trace.",
    ),
)


def service(name: str) -> ServiceTelemetry:
    for entry in SERVICES:
        if entry.service == name:
            return entry
    raise KeyError(name)
