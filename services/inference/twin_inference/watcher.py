"""Keeps served models on the version their alias points at.

Two triggers, both ending in `VersionedModel.refresh()` (which loads only when the version differs):
- ModelRegistered events on Kafka (read from the beginning of the topic by a group-less consumer, so
  every replica sees every event and none is missed while the consumer starts);
- a periodic poll of each alias, the safety net for a lost event or a broker outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from opentelemetry import trace
from pydantic import ValidationError
from twin_common.events import ModelRegistered
from twin_common.telemetry.kafka import process_span

if TYPE_CHECKING:  # no kserve import at run time: unit tests share a process with tritonclient.grpc
    from twin_inference.versioned import VersionedModel

log = logging.getLogger(__name__)
tracer = trace.get_tracer("twin_inference")


class RegistryWatcher:
    def __init__(
        self,
        models: list[VersionedModel],
        *,
        bootstrap_servers: str | None,
        topic: str,
        poll_interval_s: float,
    ):
        self.models = models
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.poll_interval_s = poll_interval_s
        self.events_seen = 0

    def matching(self, event: ModelRegistered) -> list[VersionedModel]:
        return [
            m
            for m in self.models
            if m.registered_name == event.model_name and (event.alias is None or event.alias == m.alias)
        ]

    async def handle(self, raw: bytes | None) -> None:
        if not raw:
            return
        try:
            event = ModelRegistered.from_bytes(raw)
        except (ValidationError, ValueError) as exc:
            log.warning("skipping a message on %s that is not a ModelRegistered event: %s", self.topic, exc)
            return
        self.events_seen += 1
        matching = self.matching(event)
        log.info(
            "ModelRegistered %s version %s alias %s: refreshing %s",
            event.model_name,
            event.version,
            event.alias,
            [m.name for m in matching],
        )
        for model in matching:
            await model.refresh()

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._poll(), name="alias-poll")]
        if self.bootstrap_servers:
            tasks.append(asyncio.create_task(self._consume(), name="models-registered-consumer"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            with tracer.start_as_current_span("inference.alias_poll"):  # one trace for its registry calls
                for model in self.models:
                    try:
                        await model.refresh()
                    except Exception:
                        log.exception("alias poll of %s failed", model.name)

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer

        backoff = 1.0
        while True:
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self.bootstrap_servers,
                group_id=None,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                metadata_max_age_ms=5000,
            )
            try:
                await consumer.start()
                log.info("watching %s for ModelRegistered events", self.topic)
                backoff = 1.0
                async for message in consumer:
                    with process_span(message):  # continues the trace of the job that registered the model
                        await self.handle(message.value)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Kafka consumer of %s failed; retrying in %.0f s", self.topic, backoff)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
