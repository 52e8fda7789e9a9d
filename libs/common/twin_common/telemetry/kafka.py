"""Trace context across Kafka: W3C `traceparent` in message headers on produce, continued on consume.

Every producer and consumer of the platform calls these (span names and attributes follow the OpenTelemetry
messaging semantic conventions; metrics go to twin_common.telemetry.metrics):

    from twin_common.telemetry.kafka import send_span, process_span, batch_process_span, kafka_headers

    # produce (FastStream): a PRODUCER span "send <topic>"; the headers carry its context
    with send_span(topic, key=key) as headers:
        await broker.publish(body, topic, key=key, headers=headers)
    # aiokafka / kafka-python take a list of (str, bytes): headers=kafka_headers(headers)

    # consume one message (an aiokafka / kafka-python ConsumerRecord or a FastStream KafkaMessage):
    with process_span(record, group="twin-monitor"):      # CONSUMER "process <topic>", child of the sender
        handle(record)

    # consume a batch: one CONSUMER "process <topic>" span linked to every message's creation context
    with batch_process_span(records, group="twin-embedder"):
        handle_all(records)

Batches follow the messaging conventions: the creation context of each message is a span link. When every
traced message of a batch belongs to one trace (one upstream request, the common case), that context is also
the batch span's parent, so the request's trace runs through the batch's work; a batch that mixes traces is a
root of its own, reached from each request's trace through its links.

Why not the aiokafka / kafka-python auto-instrumentations: their consumer spans end before the application
processes the message (nothing the consumer does joins the producer's trace), a batch poll opens one root span
per message that carries no context (every CDC event would make a one-span trace), and their span names predate
the current conventions ("<topic> send"). Producing through them would inject headers as these helpers do.

Debezium cannot copy a header from the database, so the ingest service writes its traceparent into the row it
changes (column `traceparent`, twin_common.documents) and `debezium_trace_context` reads it back from the CDC
event; see docs/observability.md.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from twin_common.telemetry.metrics import observe_processed, observe_sent

tracer = trace.get_tracer("twin_common.telemetry.kafka")

MESSAGING_SYSTEM = "kafka"
TRACEPARENT = "traceparent"
TRACEPARENT_COLUMN = "traceparent"  # the documents column the ingest service writes (crosses Debezium)

Headers = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


class _HeadersGetter(Getter):
    """Reads a dict (FastStream) or a list of (name, bytes) pairs (aiokafka, kafka-python)."""

    def get(self, carrier: Headers, key: str) -> list[str] | None:
        if not carrier:
            return None
        if isinstance(carrier, Mapping):
            value = carrier.get(key)
            values = [value] if value is not None else []
        else:
            values = [v for k, v in carrier if k == key]
        decoded = [v.decode("utf-8", "replace") if isinstance(v, bytes | bytearray) else str(v) for v in values]
        return decoded or None

    def keys(self, carrier: Headers) -> list[str]:
        if not carrier:
            return []
        return list(carrier.keys()) if isinstance(carrier, Mapping) else [k for k, _ in carrier]


_getter = _HeadersGetter()


def trace_headers(context: Context | None = None) -> dict[str, str]:
    """The W3C trace context (and baggage) of `context` (default: the current one) as message headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return carrier


def kafka_headers(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """Headers as aiokafka and kafka-python take them."""
    return [(key, value.encode()) for key, value in headers.items()]


def extract_context(headers: Headers) -> Context | None:
    """The sender's context from message headers; None when they carry none."""
    context = propagate.extract(headers, getter=_getter)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def context_from_traceparent(traceparent: str | None) -> Context | None:
    """A context from a bare W3C traceparent value (as stored in a row); None for a missing or invalid one."""
    return extract_context({TRACEPARENT: traceparent}) if traceparent else None


def current_traceparent() -> str | None:
    """The current span's W3C traceparent, for writing into a row that a CDC consumer continues from."""
    return trace_headers().get(TRACEPARENT)


def debezium_trace_context(value: bytes | str | Mapping | None, column: str = TRACEPARENT_COLUMN) -> Context | None:
    """The context written into the row of a Debezium change event (its `after` image: the writer of this
    version). A delete has no `after` and carries no context (its `before` holds the previous writer's)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        try:
            value = json.loads(value)
        except (ValueError, TypeError):
            return None
    if not isinstance(value, Mapping):
        return None
    payload = value.get("payload", value)  # with or without the JSON converter's schema envelope
    after = payload.get("after") if isinstance(payload, Mapping) else None
    if not isinstance(after, Mapping):
        return None
    traceparent = after.get(column)
    return context_from_traceparent(traceparent) if isinstance(traceparent, str) else None


def _record(message: Any) -> Any:
    """The Kafka record of a FastStream KafkaMessage, or the record itself."""
    raw = getattr(message, "raw_message", None)
    return raw if raw is not None else message


def _key_text(key: Any) -> str | None:
    if key is None:
        return None
    if isinstance(key, bytes | bytearray):
        return bytes(key).decode("utf-8", "replace")
    return str(key)


def _base_attributes(operation: str, topic: str | None) -> dict[str, Any]:
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.name": operation,
        "messaging.operation.type": operation,
    }
    if topic is not None:
        attributes["messaging.destination.name"] = topic
    return attributes


@contextmanager
def send_span(
    topic: str, *, key: Any = None, partition: int | None = None, context: Context | None = None
) -> Iterator[dict[str, str]]:
    """A PRODUCER span `send <topic>` around a publish; yields the headers to send (they carry this span)."""
    attributes = _base_attributes("send", topic)
    if (key_text := _key_text(key)) is not None:
        attributes["messaging.kafka.message.key"] = key_text
    if partition is not None:
        attributes["messaging.destination.partition.id"] = str(partition)
    with tracer.start_as_current_span(
        f"send {topic}", context=context, kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        try:
            yield trace_headers(trace.set_span_in_context(span))
        except BaseException as exc:
            observe_sent(topic, error=exc)
            raise
        observe_sent(topic)


def _consumer_attributes(record: Any, group: str | None) -> dict[str, Any]:
    attributes = _base_attributes("process", record.topic)
    if group:
        attributes["messaging.consumer.group.name"] = group
    if getattr(record, "partition", None) is not None:
        attributes["messaging.destination.partition.id"] = str(record.partition)
    if getattr(record, "offset", None) is not None:
        attributes["messaging.kafka.offset"] = record.offset
    if (key_text := _key_text(getattr(record, "key", None))) is not None:
        attributes["messaging.kafka.message.key"] = key_text
    return attributes


@contextmanager
def _processing(span, counts: Mapping[str, int], group: str | None) -> Iterator[None]:
    """Times the work inside a process span; one observation per topic of the messages it processed."""
    started = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        span.set_attribute("error.type", type(exc).__name__)
        span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        for topic, count in counts.items():
            observe_processed(topic, group, count, time.perf_counter() - started, exc)
        raise
    for topic, count in counts.items():
        observe_processed(topic, group, count, time.perf_counter() - started)


@contextmanager
def process_span(message: Any, *, group: str | None = None, context: Context | None = None) -> Iterator[trace.Span]:
    """A CONSUMER span `process <topic>` for one message, the child of the span that sent it (from its headers,
    or `context` when the caller found it elsewhere, as in a CDC row)."""
    record = _record(message)
    parent = context or extract_context(getattr(record, "headers", None))
    with tracer.start_as_current_span(
        f"process {record.topic}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=_consumer_attributes(record, group),
        record_exception=True,
        set_status_on_exception=False,
    ) as span:
        with _processing(span, {record.topic: 1}, group):
            yield span


def batch_links(contexts: Sequence[Context | None]) -> list[Link]:
    """One link per distinct message context (the creation context of each message in a batch)."""
    links: dict[tuple[int, int], Link] = {}
    for context in contexts:
        if context is None:
            continue
        span_context = trace.get_current_span(context).get_span_context()
        links.setdefault((span_context.trace_id, span_context.span_id), Link(span_context))
    return list(links.values())


def batch_parent(contexts: Sequence[Context | None]) -> Context | None:
    """The parent of a batch span: the first message context when every traced message shares its trace."""
    traced = [c for c in contexts if c is not None]
    if not traced:
        return None
    trace_ids = {trace.get_current_span(c).get_span_context().trace_id for c in traced}
    return traced[0] if len(trace_ids) == 1 else None


@contextmanager
def batch_process_span(
    messages: Sequence[Any],
    *,
    group: str | None = None,
    contexts: Sequence[Context | None] | None = None,
) -> Iterator[trace.Span]:
    """A CONSUMER span `process <topic>` for a batch: linked to each message's creation context (from headers,
    or from `contexts`, one per message, when the caller found them elsewhere), parented as the module says.
    A batch of several topics (one subscriber of many) is named `process`, without a destination name."""
    records = [_record(m) for m in messages]
    if not records:
        raise ValueError("a batch span needs at least one message")
    if contexts is None:
        contexts = [extract_context(getattr(r, "headers", None)) for r in records]
    if len(contexts) != len(records):
        raise ValueError(f"{len(contexts)} contexts for {len(records)} messages")
    counts = Counter(r.topic for r in records)
    topic = records[0].topic if len(counts) == 1 else None  # several topics: no single destination
    attributes = _base_attributes("process", topic)
    attributes["messaging.batch.message_count"] = len(records)
    if group:
        attributes["messaging.consumer.group.name"] = group
    partitions = {r.partition for r in records if getattr(r, "partition", None) is not None}
    if topic is not None and len(partitions) == 1:
        attributes["messaging.destination.partition.id"] = str(partitions.pop())
    parent = batch_parent(contexts)
    with tracer.start_as_current_span(
        f"process {topic}" if topic is not None else "process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        links=batch_links(contexts),
        record_exception=True,
        set_status_on_exception=False,
    ) as span:
        with _processing(span, counts, group):
            yield span
