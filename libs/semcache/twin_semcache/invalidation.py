"""The invalidator: a consumer of `twin.documents.indexed` that removes every cached answer citing a document
that was updated, deleted or re-read by a snapshot (creates change no cached answer: an answer that retrieved
nothing cites nothing and was not cached).

The embedder publishes DocumentIndexed once the new text is searchable, so a lookup after the removal can only
produce an answer from the new text. Offsets are committed after the removal (at least once: removing twice is
harmless); Redis unreachable is waited out with backoff, never skipped. Delay from the event's time to the removal
is the `twin_cache_invalidation_delay_seconds` histogram.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry import trace
from pydantic import ValidationError
from twin_common.events import ChangeOp, DocumentIndexed

from twin_semcache.cache import AnswerCache

log = logging.getLogger(__name__)
tracer = trace.get_tracer("twin_semcache")
INVALIDATING_OPS = frozenset({ChangeOp.UPDATE, ChangeOp.DELETE, ChangeOp.READ})


class CacheInvalidator:
    def __init__(
        self,
        cache: AnswerCache,
        *,
        bootstrap_servers: str | None = None,
        group_id: str | None = None,
        topic: str | None = None,
        max_backoff_s: float = 10.0,
    ):
        settings = cache.settings
        self.cache = cache
        self.bootstrap_servers = bootstrap_servers or settings.kafka.bootstrap_servers
        self.group_id = group_id or settings.group_id
        self.topic = topic or settings.topic
        self.max_backoff_s = max_backoff_s
        self.handled = 0
        self.running = False
        self.broker = self._broker()
        self._starting: asyncio.Task | None = None

    def _broker(self) -> KafkaBroker:
        broker = KafkaBroker(self.bootstrap_servers)
        subscriber = broker.subscriber(
            self.topic,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            fetch_max_wait_ms=50,
        )
        subscriber(self.handle)
        return broker

    async def handle(self, msg: KafkaMessage) -> None:
        try:
            event = DocumentIndexed.from_bytes(msg.raw_message.value)
        except (ValidationError, ValueError) as exc:  # not ours to dead-letter: the producer's topic
            log.warning("skipping an unreadable DocumentIndexed message: %s", exc)
            await msg.ack()
            return
        if event.op in INVALIDATING_OPS:
            await self.invalidate(event)
        await msg.ack()
        self.handled += 1

    async def invalidate(self, event: DocumentIndexed) -> int:
        backoff = 0.1
        while True:
            try:
                with tracer.start_as_current_span("twin.cache.invalidate") as span:
                    span.set_attribute("twin.tenant_id", event.tenant_id)
                    span.set_attribute("twin.document_id", event.document_id)
                    # stamped with the time of removal (not the event's): a fill of any request that began before it
                    # is withdrawn, whichever clock the embedder had
                    removed = await asyncio.to_thread(self.cache.invalidate, event.tenant_id, event.document_id)
                    span.set_attribute("twin.cache.removed", removed)
                break
            except Exception as exc:  # Redis down: wait it out, the event stays uncommitted
                log.warning("cache invalidation of %s failed (%r); retrying in %.1f s", event.document_id, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(self.max_backoff_s, backoff * 2)
        delay = time.time() - _epoch(event.occurred_at)
        self.cache.metrics.invalidation_delay.observe(max(0.0, delay))
        if removed:
            log.info(
                "removed %d cached answers citing %s/%s (%.0f ms after the change)",
                removed,
                event.tenant_id,
                event.document_id,
                delay * 1000,
            )
        return removed

    async def start(self) -> None:
        """Connect and consume; raises when Kafka cannot be reached."""
        await self.broker.start()
        self.running = True

    def start_in_background(self) -> asyncio.Task:
        """Start without waiting for Kafka: retried with backoff until it connects, so a Kafka outage never keeps
        the gateway from starting (meanwhile a hit is still checked against the documents' content hashes)."""

        async def keep_trying() -> None:
            backoff = 0.5
            while True:
                try:
                    await self.start()
                    return
                except Exception as exc:  # Kafka unreachable: a fresh broker on the next try
                    log.warning("cache invalidator cannot reach Kafka (%r); retrying in %.1f s", exc, backoff)
                    with contextlib.suppress(Exception):
                        await self.broker.stop()
                    self.broker = self._broker()
                    await asyncio.sleep(backoff)
                    backoff = min(self.max_backoff_s, backoff * 2)

        self._starting = asyncio.get_running_loop().create_task(keep_trying())
        return self._starting

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        with contextlib.suppress(Exception):
            await self.broker.stop()
        self.running = False


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
