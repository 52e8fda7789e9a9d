"""The embedded CDC forwarder carries a traced row's context into the Kafka message headers."""

from __future__ import annotations

import json
import sys
import types

from twin_common.telemetry.kafka import extract_context


class FakeFuture:
    def get(self, timeout=None):
        return None


class FakeProducer:
    def __init__(self):
        self.sent = []

    def send(self, topic, key=None, value=None, headers=None):
        self.sent.append((topic, key, value, headers))
        return FakeFuture()

    def flush(self):
        pass


class FakeRecord:
    def __init__(self, value: dict | None):
        self._value = json.dumps(value) if value is not None else None

    def destination(self):
        return "twin.cdc.public.documents"

    def key(self):
        return '{"id": "d1"}'

    def value(self):
        return self._value


def test_traced_rows_travel_with_their_context_and_others_without_headers(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydbzengine", types.SimpleNamespace(BasePythonChangeHandler=object))
    from twin_cdc.embedded import make_forwarder

    producer = FakeProducer()
    forwarder = make_forwarder(producer)
    writer = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    forwarder.handleJsonBatch(
        [
            FakeRecord({"after": {"id": "d1", "traceparent": writer}, "op": "c"}),
            FakeRecord({"after": {"id": "d2", "traceparent": None}, "op": "c"}),
            FakeRecord(None),  # a tombstone
        ]
    )
    assert forwarder.forwarded == 3
    (_, _, _, traced), (_, _, _, untraced), (_, _, _, tombstone) = producer.sent
    assert untraced is None and tombstone is None
    context = extract_context(traced)
    from opentelemetry import trace

    span_context = trace.get_current_span(context).get_span_context()
    assert format(span_context.trace_id, "032x") == "a" * 32  # the writer's trace goes on
