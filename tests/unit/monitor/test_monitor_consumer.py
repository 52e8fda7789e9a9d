"""The consumer's batch logic on a fake store: poison is recognised without touching the database, a database
outage is waited out (never dead-lettered), a record PostgreSQL refuses is found and dead-lettered alone."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest
from twin_common.events import DeadLetter, FeedbackGiven, RequestLogged
from twin_monitor.consumer import MonitorConsumer
from twin_monitor.metrics import MonitorMetrics
from twin_monitor.settings import MonitorSettings
from twin_monitor.store import IngestResult


@dataclass
class Record:
    topic: str
    value: bytes | None
    partition: int = 0
    offset: int = 0
    key: bytes | None = b"acme"
    headers: tuple = ()


def request(n: int, prompt: str = "hello") -> bytes:
    return RequestLogged(request_id=f"r{n}", tenant_id="acme", route="twin", prompt=prompt, latency_ms=10.0).to_bytes()


class FlakyStore:
    """Refuses with OperationalError `outages` times, then refuses any batch holding a prompt "refuse me"."""

    def __init__(self, outages: int):
        self.outages = outages
        self.stored: list[str] = []

    def ingest_requests(self, rows):
        if self.outages:
            self.outages -= 1
            raise psycopg.OperationalError("connection refused")
        if any(r.prompt == "refuse me" for r in rows):
            raise psycopg.errors.CheckViolation("new row violates check constraint")
        if any(r.prompt == "explode" for r in rows):
            raise TypeError("a bug that only this record triggers")
        self.stored += [r.request_id for r in rows]
        return IngestResult(inserted=len(rows), closed=[])

    def ingest_feedback(self, rows):
        return len(rows)


@pytest.fixture
def consumer():
    settings = MonitorSettings(backoff_s=0.01, max_backoff_s=0.02)
    consumer = MonitorConsumer(settings, FlakyStore(outages=3), MonitorMetrics())
    consumer.dead = []

    async def dead_letter(record, error):
        consumer.dead.append((record.offset, error))

    consumer._dead_letter = dead_letter
    return consumer


def test_poison_is_recognised_before_the_database(consumer):
    s = consumer.settings
    feedback = FeedbackGiven(request_id="r1", tenant_id="acme", rating=1).to_bytes()
    records = [
        Record(s.requests_topic, request(1), offset=1),
        Record(s.requests_topic, b"\xff\xfe", offset=2),
        Record(s.requests_topic, None, offset=3),
        Record(s.feedback_topic, feedback.replace(b'"rating":1', b'"rating":7'), offset=4),
        Record(s.feedback_topic, feedback, offset=5),
        Record(s.models_topic, request(2), offset=6),  # a request on the model registry topic
    ]
    parsed = consumer.parse(records)
    assert [r.offset for r, _ in parsed.poison] == [2, 3, 4, 6]
    assert all(error for _, error in parsed.poison)
    assert len(parsed.requests) == len(parsed.feedback) == 1


async def test_an_outage_is_waited_out_and_a_refused_record_dead_lettered_alone(consumer):
    s = consumer.settings
    records = [
        Record(s.requests_topic, request(1), offset=1),
        Record(s.requests_topic, request(2, "refuse me"), offset=2),
        Record(s.requests_topic, request(3), offset=3),
        Record(s.requests_topic, request(4, "explode"), offset=4),
    ]
    await consumer._write_until_done(consumer.parse(records))
    assert consumer.store.stored == ["r1", "r3"]
    assert [offset for offset, _ in consumer.dead] == [2, 4]
    assert "CheckViolation" in consumer.dead[0][1] and "TypeError" in consumer.dead[1][1]
    assert consumer.stats.database_retries == 3  # the outage: retried, never dead-lettered


def test_a_dead_letter_keeps_where_the_record_was_and_why():
    event = DeadLetter.of_record(Record("t", b"\xffabc", partition=2, offset=9, key=None), "bad", 1, "g")
    assert (event.source_topic, event.partition, event.offset, event.key) == ("t", 2, 9, None)
    assert event.value == "\ufffdabc" and event.error == "bad" and event.consumer_group == "g"


async def test_a_batch_is_one_consumer_span_linked_to_each_sender(consumer, spans):
    from opentelemetry import trace
    from twin_common.telemetry.kafka import current_traceparent, kafka_headers

    with trace.get_tracer("gateway").start_as_current_span("a gateway request") as sender:
        headers = tuple(kafka_headers({"traceparent": current_traceparent()}))

    class Batch:
        raw_message = (Record(consumer.settings.requests_topic, request(1), headers=headers),)
        acked = False

        async def ack(self):
            Batch.acked = True

    await consumer.handle(Batch())
    by_name = {s.name: s for s in spans.get_finished_spans()}
    batch = by_name[f"process {consumer.settings.requests_topic}"]
    assert [link.context.span_id for link in batch.links] == [sender.get_span_context().span_id]
    assert batch.context.trace_id == sender.get_span_context().trace_id  # one sender: the request's trace goes on
    assert by_name["monitor.store"].parent.span_id == batch.context.span_id and Batch.acked
