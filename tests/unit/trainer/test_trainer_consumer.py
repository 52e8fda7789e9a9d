"""The trainer's consumer continues the sender's trace: each message is one CONSUMER span, the child of the span
that sent it, and the trigger's work runs inside it; poison is dead-lettered with the trace context in its headers."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from twin_common.events import ChangeOp, DocumentIndexed
from twin_common.telemetry.kafka import current_traceparent, kafka_headers
from twin_trainer.continuous.consumer import TrainerConsumer
from twin_trainer.settings import TrainerSettings


@dataclass
class Record:
    topic: str
    value: bytes
    headers: tuple
    partition: int = 0
    offset: int = 3
    key: bytes | None = b"d1"


class Message:
    def __init__(self, record: Record):
        self.raw_message = record
        self.acked = False

    async def ack(self) -> None:
        self.acked = True


class Coordinator:
    def __init__(self):
        self.seen: list[tuple[str, int]] = []

    def on_document_indexed(self, event: DocumentIndexed) -> None:
        self.seen.append((event.document_id, trace.get_current_span().get_span_context().trace_id))


def _sent(settings: TrainerSettings, value: bytes) -> tuple[Message, trace.Span]:
    with trace.get_tracer("embedder").start_as_current_span(f"send {settings.indexed_topic}") as sender:
        headers = tuple(kafka_headers({"traceparent": current_traceparent()}))
    return Message(Record(settings.indexed_topic, value, headers)), sender


async def test_each_message_continues_the_senders_trace(spans):
    settings = TrainerSettings(retrain_on_drift=False)
    coordinator = Coordinator()
    consumer = TrainerConsumer(settings, coordinator)
    event = DocumentIndexed(
        tenant_id="t", document_id="d1", content_hash="h", op=ChangeOp.CREATE, chunk_count=1, embedding_model="m"
    )
    message, sender = _sent(settings, event.to_bytes())

    await consumer.handle_indexed(message)

    (process,) = [s for s in spans.get_finished_spans() if s.name == f"process {settings.indexed_topic}"]
    assert process.kind is SpanKind.CONSUMER and process.parent.span_id == sender.get_span_context().span_id
    assert process.attributes["messaging.consumer.group.name"] == settings.group_id
    assert coordinator.seen == [("d1", sender.get_span_context().trace_id)]  # the trigger's work is in the trace
    assert message.acked


async def test_poison_is_dead_lettered_inside_the_trace_and_acked(spans):
    settings = TrainerSettings(retrain_on_drift=False)
    consumer = TrainerConsumer(settings, Coordinator())
    published = []

    async def publish(value, topic, key=None, headers=None):
        published.append((topic, headers))

    consumer.broker.publish = publish
    message, sender = _sent(settings, b"not an event")

    await consumer.handle_indexed(message)

    ((topic, headers),) = published
    assert topic == f"{settings.indexed_topic}.dlq" and message.acked
    assert headers["traceparent"].split("-")[1] == format(sender.get_span_context().trace_id, "032x")
