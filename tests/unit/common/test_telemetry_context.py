"""twin_common.telemetry: where telemetry goes, context across Kafka and CDC rows, RED metrics, GenAI spans."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from twin_common.health import HealthRegistry
from twin_common.service import build_http_app
from twin_common.settings import ServiceSettings, TelemetrySettings
from twin_common.telemetry import resolve_target
from twin_common.telemetry.genai import generation_attributes, model_call
from twin_common.telemetry.kafka import (
    batch_process_span,
    current_traceparent,
    debezium_trace_context,
    extract_context,
    kafka_headers,
    process_span,
    send_span,
)


@dataclass
class Record:
    """The shape of an aiokafka / kafka-python ConsumerRecord."""

    topic: str
    value: bytes | None = None
    headers: list | tuple = ()
    partition: int = 0
    offset: int = 0
    key: bytes | None = None


def _settings(**values) -> TelemetrySettings:
    values.setdefault("local_collector", None)
    values.setdefault("spans_file", Path("/tmp/spans.jsonl"))
    return TelemetrySettings(**values)


# --- where telemetry goes ------------------------------------------------------------------------------------


def test_twin_endpoint_wins_over_standard_variables_and_protocol_comes_from_either():
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    target = resolve_target(_settings(otlp_endpoint="http://collector:4317"), env)
    assert (target.kind, target.endpoint, target.protocol) == ("otlp", "http://collector:4317", "http/protobuf")
    target = resolve_target(_settings(otlp_endpoint="http://collector:4317", otlp_protocol="grpc"), env)
    assert target.protocol == "grpc"


def test_standard_endpoint_variables_are_honoured_and_left_to_the_exporter():
    target = resolve_target(_settings(), {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert target.kind == "otlp" and target.endpoint is None and target.protocol == "grpc"


@pytest.mark.parametrize(
    ("settings", "env", "kind"),
    [
        ({"enabled": False}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, "none"),
        ({}, {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, "none"),
        ({}, {"OTEL_TRACES_EXPORTER": "none"}, "none"),
        ({}, {"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({}, {}, "file"),
        ({"spans_file": None}, {}, "none"),
    ],
)
def test_disabled_console_and_file_fallback(settings, env, kind):
    assert resolve_target(_settings(**settings), env).kind == kind


def test_the_local_collector_is_used_only_when_it_answers():
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        target = resolve_target(_settings(local_collector=address), {})
        assert (target.kind, target.endpoint) == ("otlp", f"http://{address}")
    fallback = resolve_target(_settings(local_collector=address), {})
    assert fallback.kind == "file" and address in fallback.reason


# --- Kafka ---------------------------------------------------------------------------------------------------


def test_a_consumer_continues_the_producers_trace_from_the_headers(spans):
    with trace.get_tracer("t").start_as_current_span("request"):
        with send_span("twin.requests", key=b"k1") as headers:
            sent = kafka_headers(headers)
    record = Record("twin.requests", b"{}", sent, partition=2, offset=7, key=b"k1")
    with process_span(record, group="twin-monitor"):
        pass
    by_name = {s.name: s for s in spans.get_finished_spans()}
    producer, consumer = by_name["send twin.requests"], by_name["process twin.requests"]
    assert producer.kind is SpanKind.PRODUCER and consumer.kind is SpanKind.CONSUMER
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent.span_id == producer.context.span_id
    assert producer.attributes["messaging.destination.name"] == "twin.requests"
    assert consumer.attributes["messaging.consumer.group.name"] == "twin-monitor"
    assert consumer.attributes["messaging.kafka.offset"] == 7
    assert consumer.attributes["messaging.destination.partition.id"] == "2"


def test_a_message_without_context_starts_a_trace_and_errors_are_recorded(spans):
    with pytest.raises(RuntimeError):
        with process_span(Record("t")):
            raise RuntimeError("poison")
    (span,) = spans.get_finished_spans()
    assert span.parent is None and span.attributes["error.type"] == "RuntimeError"
    assert not span.status.is_ok


def test_a_batch_of_one_trace_is_its_child_and_links_each_message(spans):
    tracer = trace.get_tracer("t")
    with tracer.start_as_current_span("ingest request") as request:
        headers = [kafka_headers(h) for h in ({"traceparent": current_traceparent()},) * 3]
    with batch_process_span([Record("cdc", headers=h, offset=i) for i, h in enumerate(headers)], group="g"):
        pass
    batch = next(s for s in spans.get_finished_spans() if s.name == "process cdc")
    assert batch.parent.span_id == request.get_span_context().span_id
    assert batch.attributes["messaging.batch.message_count"] == 3
    assert [link.context.span_id for link in batch.links] == [request.get_span_context().span_id]


def test_a_batch_mixing_traces_is_a_root_linked_to_all_of_them(spans):
    tracer = trace.get_tracer("t")
    parents = []
    for name in ("a", "b"):
        with tracer.start_as_current_span(name) as span:
            parents.append((span.get_span_context(), kafka_headers({"traceparent": current_traceparent()})))
    records = [Record("cdc", headers=h) for _, h in parents] + [Record("cdc")]
    with batch_process_span(records):
        pass
    batch = next(s for s in spans.get_finished_spans() if s.name == "process cdc")
    assert batch.parent is None
    assert {link.context.trace_id for link in batch.links} == {c.trace_id for c, _ in parents}


def test_a_batch_of_several_topics_is_named_process_without_a_destination(spans):
    with batch_process_span([Record("twin.requests"), Record("twin.feedback"), Record("twin.requests")], group="g"):
        pass
    (batch,) = spans.get_finished_spans()
    assert batch.name == "process" and batch.kind is SpanKind.CONSUMER
    assert "messaging.destination.name" not in batch.attributes
    assert batch.attributes["messaging.batch.message_count"] == 3


def test_debezium_events_carry_the_writers_context_in_the_after_image():
    with trace.get_tracer("t").start_as_current_span("writer") as writer:
        traceparent = current_traceparent()
    old = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    update = {"before": {"traceparent": old}, "after": {"id": "d1", "traceparent": traceparent}, "op": "u"}
    context = debezium_trace_context(json.dumps(update).encode())
    assert trace.get_current_span(context).get_span_context().span_id == writer.get_span_context().span_id
    assert debezium_trace_context(json.dumps({"payload": update})) is not None  # with the schema envelope
    assert debezium_trace_context(json.dumps({"before": {"traceparent": old}, "after": None, "op": "d"})) is None
    assert debezium_trace_context(json.dumps({"after": {"id": "d1", "traceparent": None}})) is None
    assert debezium_trace_context(b"not json") is None and debezium_trace_context(None) is None
    assert extract_context({"traceparent": "garbage"}) is None


# --- metrics -------------------------------------------------------------------------------------------------


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_app_serves_metrics_with_red_metrics_labelled_by_route(spans):
    app = build_http_app(ServiceSettings(service_name="svc"), HealthRegistry())

    @app.get("/v1/items/{item_id}")
    def item(item_id: str) -> dict:
        if item_id == "bad":
            raise ValueError("boom")
        return {"id": item_id}

    labels = {"http_request_method": "GET", "http_route": "/v1/items/{item_id}", "http_response_status_code": "200"}
    before = _sample("http_server_request_duration_seconds_count", labels)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/v1/items/a1").status_code == 200
    assert client.get("/v1/items/bad").status_code == 500
    assert _sample("http_server_request_duration_seconds_count", labels) == before + 1
    assert _sample("http_server_request_duration_seconds_count", {**labels, "http_response_status_code": "500"}) >= 1
    text = client.get("/metrics").text
    assert "http_server_request_duration_seconds_bucket" in text and "process_cpu_seconds_total" in text
    names = [s.name for s in spans.get_finished_spans()]
    assert "GET /v1/items/{item_id}" in names and not any("metrics" in n or "healthz" in n for n in names)


# --- GenAI ---------------------------------------------------------------------------------------------------


def test_model_calls_carry_the_genai_attributes_and_feed_the_metrics(spans):
    labels = {"gen_ai_operation_name": "chat", "gen_ai_request_model": "m-test", "error_type": ""}
    before = _sample("gen_ai_server_request_duration_seconds_count", labels)

    @dataclass
    class Params:
        max_tokens: int = 16
        temperature: float = 0.0
        top_p: float = 1.0
        top_k: int = 0
        stop: tuple = ()
        seed: int | None = None

    with model_call("chat", "m-test", params=vars(Params())) as call:
        call.first_token()
        call.finish(input_tokens=5, output_tokens=3, finish_reason="stop", response_model="base", version="4")
    (span,) = [s for s in spans.get_finished_spans() if s.name == "chat m-test"]
    assert span.attributes["gen_ai.request.max_tokens"] == 16
    assert "gen_ai.request.stop_sequences" not in span.attributes and "gen_ai.request.seed" not in span.attributes
    assert span.attributes["gen_ai.usage.input_tokens"] == 5 and span.attributes["gen_ai.usage.output_tokens"] == 3
    assert tuple(span.attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert span.attributes["twin.model.version"] == "4" and span.attributes["gen_ai.provider.name"] == "twin"
    assert [e.name for e in span.events] == ["gen_ai.first_token"]
    assert _sample("gen_ai_server_request_duration_seconds_count", labels) == before + 1
    assert _sample("twin_model_tokens_total", {"gen_ai_request_model": "m-test", "gen_ai_token_type": "output"}) >= 3
    assert generation_attributes(Params(stop=("\n",), seed=3)) == {
        "gen_ai.request.max_tokens": 16,
        "gen_ai.request.temperature": 0.0,
        "gen_ai.request.top_p": 1.0,
        "gen_ai.request.top_k": 0,
        "gen_ai.request.stop_sequences": ["\n"],
        "gen_ai.request.seed": 3,
    }
