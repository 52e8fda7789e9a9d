"""The twin-trainer's Kafka side: FastStream subscribers of `twin.documents.indexed` and `twin.drift.alerts`, and
a schedule loop, all feeding the TrainingCoordinator.

Each message is handled, then its offset committed (manual ack). A failing dependency (PostgreSQL, the Kubernetes
API) is waited out with backoff, never skipped; a message that is not the event it should be is poison and goes
to `<topic>.dlq` as a DeadLetter. Replays are harmless: changes are upserts and triggers are unique per event.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError
from twin_common.events import DeadLetter, DocumentIndexed, DriftAlert
from twin_common.telemetry.kafka import process_span, send_span
from twin_common.topics import dead_letter_topic

from twin_trainer.continuous.coordinator import TrainingCoordinator
from twin_trainer.settings import TrainerSettings

log = logging.getLogger(__name__)


@dataclass
class ConsumerStats:
    indexed: int = 0
    drift_alerts: int = 0
    schedule_ticks: int = 0
    dead_letters: int = 0
    last_error: str | None = None


class TrainerConsumer:
    def __init__(self, settings: TrainerSettings, coordinator: TrainingCoordinator, max_backoff_s: float = 30.0):
        self.settings = settings
        self.coordinator = coordinator
        self.max_backoff_s = max_backoff_s
        self.stats = ConsumerStats()
        self.broker = KafkaBroker(settings.kafka.bootstrap_servers)
        common = dict(group_id=settings.group_id, auto_offset_reset="earliest", ack_policy=AckPolicy.MANUAL)
        self.broker.subscriber(settings.indexed_topic, **common)(self.handle_indexed)
        if settings.retrain_on_drift:
            self.broker.subscriber(settings.drift_topic, **common)(self.handle_drift)
        self._schedule_task: asyncio.Task | None = None

    async def handle_indexed(self, msg: KafkaMessage) -> None:
        await self._handle(msg, DocumentIndexed, self.coordinator.on_document_indexed)
        self.stats.indexed += 1

    async def handle_drift(self, msg: KafkaMessage) -> None:
        await self._handle(msg, DriftAlert, self.coordinator.on_drift_alert)
        self.stats.drift_alerts += 1

    async def _handle(self, msg: KafkaMessage, model, apply) -> None:
        # a CONSUMER span continuing the sender's trace (the embedder's DocumentIndexed, the monitor's DriftAlert):
        # the trigger's PostgreSQL work and a run it starts join that trace
        with process_span(msg, group=self.settings.group_id):
            await self._apply(msg, model, apply)
        await msg.ack()

    async def _apply(self, msg: KafkaMessage, model, apply) -> None:
        record = msg.raw_message
        try:
            event = model.from_bytes(record.value)
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(record, f"not a {model.__name__}: {exc}"[:2000])
            return
        backoff = 0.5
        while True:
            try:
                await asyncio.to_thread(apply, event)
                return
            except Exception as exc:  # noqa: BLE001 - a dependency is down: wait it out, keep the offset
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("handling %s failed (%s); retrying in %.1f s", record.topic, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def _dead_letter(self, record, error: str) -> None:
        event = DeadLetter.of_record(record, error, attempts=1, consumer_group=self.settings.group_id)
        topic = dead_letter_topic(record.topic)
        with send_span(topic, key=record.key) as headers:
            await self.broker.publish(event.to_bytes(), topic, key=record.key, headers=headers)
        self.stats.dead_letters += 1
        log.error("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, error)

    async def _schedule(self) -> None:
        while True:
            await asyncio.sleep(self.settings.schedule_interval_s)
            try:
                await asyncio.to_thread(self.coordinator.on_schedule)
                self.stats.schedule_ticks += 1
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.exception("scheduled trigger failed")

    async def start(self) -> None:
        await self.broker.start()
        if self.settings.schedule_interval_s > 0:
            self._schedule_task = asyncio.create_task(self._schedule(), name="trainer-schedule")

    async def stop(self) -> None:
        if self._schedule_task is not None:
            self._schedule_task.cancel()
        await self.broker.stop()
