"""The Kafka side of the monitor: one FastStream batch subscriber of the request log, feedback and model registry
topics, in one consumer group.

Per batch: parse every record (a record that is not a valid event of its topic is poison: dead-lettered at once as
a DeadLetter event on `<topic>.dlq`, with its error) -> write the rest to PostgreSQL in one transaction (requests
assigned to windows, feedback, model events) -> commit the offsets (manual ack). A PostgreSQL outage is waited out
with backoff, never dead-lettered; a crash before the commit replays the batch, which the event ids absorb.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry import trace
from pydantic import ValidationError
from twin_common.events import DeadLetter, FeedbackGiven, ModelRegistered, RequestLogged
from twin_common.telemetry.kafka import batch_process_span, send_span
from twin_common.topics import dead_letter_topic

from twin_monitor.metrics import MonitorMetrics
from twin_monitor.records import FeedbackRow, RequestRow
from twin_monitor.settings import MonitorSettings
from twin_monitor.store import MonitorStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer("twin_monitor")

# A database error that says nothing about the data (server down, connection lost): wait it out.
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError)


@dataclass
class Stats:
    batches: int = 0
    messages: int = 0
    requests_stored: int = 0
    duplicates: int = 0
    feedback_stored: int = 0
    model_events: int = 0
    dead_letters: int = 0
    database_retries: int = 0
    last_error: str | None = None
    per_topic: dict[str, int] = field(default_factory=dict)


@dataclass
class Parsed:
    requests: list[tuple[object, RequestLogged]] = field(default_factory=list)
    feedback: list[tuple[object, FeedbackGiven]] = field(default_factory=list)
    models: list[tuple[object, ModelRegistered]] = field(default_factory=list)
    poison: list[tuple[object, str]] = field(default_factory=list)


class MonitorConsumer:
    def __init__(
        self,
        settings: MonitorSettings,
        store: MonitorStore,
        metrics: MonitorMetrics,
        on_windows_closed: Callable[[list[str]], None] | None = None,
    ):
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.stats = Stats()
        self.on_windows_closed = on_windows_closed
        self._stopping = False
        self.broker = KafkaBroker(settings.kafka.bootstrap_servers, enable_idempotence=True)
        self.topics = (settings.requests_topic, settings.feedback_topic, settings.models_topic)
        self.subscriber = self.broker.subscriber(
            *self.topics,
            group_id=settings.group_id,
            batch=True,
            max_records=settings.max_records,
            batch_timeout_ms=settings.batch_timeout_ms,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
        )
        self.subscriber(self.handle)

    # --- one batch ------------------------------------------------------------------------------------------

    async def handle(self, msg: KafkaMessage) -> None:
        records = msg.raw_message if isinstance(msg.raw_message, tuple | list) else (msg.raw_message,)
        started = time.perf_counter()
        # one CONSUMER span per batch, linked to each message's sender (the gateway's request, the trainer's run)
        with batch_process_span(records, group=self.settings.group_id):
            parsed = self.parse(list(records))
            for record, error in parsed.poison:
                await self._dead_letter(record, error)
            closed = await self._write_until_done(parsed)
            with tracer.start_as_current_span("monitor.commit"):
                await msg.ack()
        self.stats.batches += 1
        self.stats.messages += len(records)
        for record in records:
            self.stats.per_topic[record.topic] = self.stats.per_topic.get(record.topic, 0) + 1
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        if closed and self.on_windows_closed:
            self.on_windows_closed(closed)

    def parse(self, records: list) -> Parsed:
        s = self.settings
        out = Parsed()
        for record in records:
            try:
                if record.value is None:
                    raise ValueError("empty message (null value)")
                if record.topic == s.requests_topic:
                    out.requests.append((record, RequestLogged.from_bytes(record.value)))
                elif record.topic == s.feedback_topic:
                    out.feedback.append((record, FeedbackGiven.from_bytes(record.value)))
                elif record.topic == s.models_topic:
                    out.models.append((record, ModelRegistered.from_bytes(record.value)))
                else:
                    raise ValueError(f"unexpected topic {record.topic}")
            except (ValidationError, ValueError, UnicodeDecodeError) as exc:
                out.poison.append((record, f"{type(exc).__name__}: {exc}"[:2000]))
        return out

    async def _write_until_done(self, parsed: Parsed) -> list[str]:
        """Store the batch. A record that fails for another reason than an outage (a value PostgreSQL refuses, an
        event the windows cannot place) is found by storing the batch record by record, and dead-lettered; the rest
        is stored. Nothing is skipped silently: the offsets are committed only after this returns."""
        try:
            return await self._store(parsed)
        except Exception as exc:  # noqa: BLE001 - outages were waited out in _store; this is about the data
            log.warning("batch refused (%s: %s); storing it record by record", type(exc).__name__, exc)
        closed: list[str] = []
        singles = (
            [Parsed(requests=[item]) for item in parsed.requests]
            + [Parsed(feedback=[item]) for item in parsed.feedback]
            + [Parsed(models=[item]) for item in parsed.models]
        )
        for single in singles:
            record = (single.requests or single.feedback or single.models)[0][0]
            try:
                closed += await self._store(single)
            except Exception as exc:  # noqa: BLE001 - dead-lettered with its error
                await self._dead_letter(record, f"{type(exc).__name__}: {exc}"[:2000])
        return closed

    async def _store(self, parsed: Parsed) -> list[str]:
        """One write; while PostgreSQL is unavailable, retried with backoff (never dropped, never dead-lettered)."""
        delay = self.settings.backoff_s
        while True:
            try:
                with tracer.start_as_current_span("monitor.store"):
                    return await asyncio.to_thread(self._write, parsed)
            except TRANSIENT as exc:
                if self._stopping:
                    raise
                self.stats.database_retries += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                self.metrics.db_retries.inc()
                log.warning("PostgreSQL unavailable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.max_backoff_s)

    def _write(self, parsed: Parsed) -> list[str]:
        s = self.settings
        rows = [RequestRow.from_event(e, s.segment_by) for _, e in parsed.requests]
        result = self.store.ingest_requests(rows)
        feedback = self.store.ingest_feedback([FeedbackRow.from_event(e) for _, e in parsed.feedback])
        for _, event in parsed.models:
            if event.alias in s.pin_on_aliases:
                reset = self.store.reset_for_model(event.event_id, event.model_name, event.version, event.alias)
                if reset:
                    log.info(
                        "model %s v%s is now %s: references reset for %s",
                        event.model_name,
                        event.version,
                        event.alias,
                        ", ".join(f"{t}/{seg}" for t, seg in reset),
                    )
        self.stats.requests_stored += result.inserted
        self.stats.duplicates += result.duplicates
        self.stats.feedback_stored += feedback
        self.stats.model_events += len(parsed.models)
        m = self.metrics
        m.events.labels(s.requests_topic, "stored").inc(result.inserted)
        m.events.labels(s.requests_topic, "duplicate").inc(result.duplicates)
        m.events.labels(s.feedback_topic, "stored").inc(feedback)
        m.events.labels(s.feedback_topic, "duplicate").inc(len(parsed.feedback) - feedback)
        m.events.labels(s.models_topic, "stored").inc(len(parsed.models))
        return list(result.closed or [])

    async def _dead_letter(self, record, error: str) -> None:
        event = DeadLetter.of_record(record, error, attempts=1, consumer_group=self.settings.group_id)
        topic = dead_letter_topic(record.topic)
        with send_span(topic, key=record.key) as headers:
            await self.broker.publish(event.to_bytes(), topic, key=record.key, headers=headers)
        self.stats.dead_letters += 1
        self.stats.last_error = error
        self.metrics.dead_letters.labels(record.topic).inc()
        self.metrics.events.labels(record.topic, "dead_letter").inc()
        log.error("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, error)

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.broker.start()

    async def stop(self) -> None:
        self._stopping = True
        await self.broker.stop()
