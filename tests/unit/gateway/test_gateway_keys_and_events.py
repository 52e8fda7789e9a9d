"""Key format and hashing; the event sink's buffer when Kafka is away (never blocks, drops the oldest, counts)."""

from __future__ import annotations

from twin_common.events import FeedbackGiven
from twin_common.settings import KafkaSettings
from twin_gateway.events import EventSink
from twin_gateway.keys.key_format import hash_key, matches, new_key, parse_key
from twin_gateway.metrics import GatewayMetrics
from twin_gateway.settings import RequestLogSettings


def test_keys_parse_hash_and_compare():
    key = new_key()
    assert parse_key(key.clear) == key and len(key.key_id) == 12
    assert parse_key("twin_0123456789ab_short") is None
    assert parse_key("Bearer " + key.clear) is None
    digest = hash_key(b"pepper", key.clear)
    assert len(digest) == 32 and key.clear.encode() not in digest
    assert matches(b"pepper", key.clear, digest)
    assert not matches(b"other pepper", key.clear, digest)  # a stolen table is useless without the pepper
    assert new_key().clear != new_key().clear


def _event(i: int) -> FeedbackGiven:
    return FeedbackGiven(request_id=f"r{i}", tenant_id="t", rating=1)


def test_publish_never_waits_and_a_full_buffer_drops_the_oldest_counting_them():
    metrics = GatewayMetrics()
    sink = EventSink(KafkaSettings(bootstrap_servers="127.0.0.1:9"), RequestLogSettings(buffer_size=3), metrics)
    for i in range(5):  # never started: as if Kafka had been down all along
        sink.publish("twin.feedback", _event(i), key="t")
    assert sink.buffered == 3
    assert metrics.events_dropped.labels("twin.feedback")._value.get() == 2
    assert metrics.events_buffered._value.get() == 3
    kept = [item.value for item in sink._buffer]
    assert b'"r2"' in kept[0] and b'"r4"' in kept[-1]  # the newest kept, in order


def test_each_event_carries_the_requests_trace_context_in_its_headers():
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    sink = EventSink(KafkaSettings(), RequestLogSettings(), GatewayMetrics())
    with trace.get_tracer("test").start_as_current_span("request") as span:
        sink.publish("twin.feedback", _event(1), key="t")
    headers = dict(sink._buffer[0].headers)
    assert headers["traceparent"].decode().split("-")[1] == f"{span.get_span_context().trace_id:032x}"


def test_a_disabled_request_log_publishes_nothing():
    sink = EventSink(KafkaSettings(), RequestLogSettings(enabled=False), GatewayMetrics())
    sink.publish("twin.requests", _event(0))
    assert sink.buffered == 0
