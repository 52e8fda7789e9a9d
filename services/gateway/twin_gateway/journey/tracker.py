"""The journey tracker: one Kafka consumer group (shared by the gateway's replicas) reading the CDC topic of the
documents table and the embedder's DocumentIndexed topic, writing per document into Redis what was last captured
and last indexed, and when.

Redis hash `<prefix>:<tenant>:<document id>` (expires `journey_ttl_s` after its last change):

    captured_op, captured_hash, captured_at, captured_lsn     from the Debezium envelope (op, after.content_hash,
                                                               ts_ms: when Debezium read the change, source.lsn)
    indexed_op, indexed_hash, indexed_at, indexed_lsn, chunks from DocumentIndexed

A write only lands when its LSN is not older than the one stored (a Lua script), so a redelivered or late event
never moves a document back. Offsets are committed after the writes. Kafka or Redis down: the consumer backs off
and retries; the gateway serves meanwhile (journeys then show what PostgreSQL and the index say).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from twin_common.events import DebeziumEnvelope, DocumentIndexed
from twin_common.settings import KafkaSettings

from twin_gateway.settings import WebAppSettings

log = logging.getLogger(__name__)

# KEYS[1]: the hash; ARGV[1]: the LSN field; ARGV[2]: the LSN ("" when unknown: no guard); ARGV[3]: TTL;
# ARGV[4..]: field, value pairs
_GUARDED_HSET = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and current and current ~= '' and tonumber(current) > tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


@dataclass(frozen=True)
class JourneyUpdate:
    """One fact about one document, from one event."""

    tenant_id: str
    document_id: str
    lsn_field: str
    lsn: int | None
    fields: dict[str, str]


def _iso_ms(ms: int | None) -> str:
    moment = datetime.now(UTC) if ms is None else datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat()


def from_cdc(value: bytes | None) -> JourneyUpdate | None:
    """A change of the documents table as Debezium captured it (None for a tombstone or another table's row)."""
    envelope = DebeziumEnvelope.parse(value)
    if envelope is None:
        return None
    row = envelope.row or {}
    tenant, document = row.get("tenant_id"), row.get("id")
    if not tenant or not document:
        return None
    op = envelope.op.value
    content_hash = "" if op == "d" else str((envelope.after or {}).get("content_hash") or "")
    return JourneyUpdate(
        str(tenant),
        str(document),
        "captured_lsn",
        envelope.source.lsn,
        {"captured_op": op, "captured_hash": content_hash, "captured_at": _iso_ms(envelope.ts_ms)},
    )


def from_indexed(value: bytes | None) -> JourneyUpdate | None:
    if not value:
        return None
    event = DocumentIndexed.from_bytes(value)
    return JourneyUpdate(
        event.tenant_id,
        event.document_id,
        "indexed_lsn",
        event.source_lsn,
        {
            "indexed_op": event.op.value,
            "indexed_hash": event.content_hash or "",
            "indexed_at": event.occurred_at.isoformat(),
            "chunks": str(event.chunk_count),
            "embedding_model": event.embedding_model,
        },
    )


def journey_key(prefix: str, tenant_id: str, document_id: str) -> str:
    return f"{prefix}:{tenant_id}:{document_id}"


class JourneyTracker:
    def __init__(self, redis, kafka: KafkaSettings, settings: WebAppSettings):
        self.redis = redis
        self.kafka = kafka
        self.settings = settings
        self._script = redis.register_script(_GUARDED_HSET)
        self._task: asyncio.Task | None = None
        self.running = False  # the consumer is assigned and reading
        self.applied = 0
        self.skipped = 0  # records that were not a document change (tombstones, poison)

    def key(self, tenant_id: str, document_id: str) -> str:
        return journey_key(self.settings.journey_key_prefix, tenant_id, document_id)

    async def apply(self, update: JourneyUpdate) -> bool:
        args = [update.lsn_field, "" if update.lsn is None else str(update.lsn), str(self.settings.journey_ttl_s)]
        for name, value in update.fields.items():
            args += [name, value]
        written = await self._script(keys=[self.key(update.tenant_id, update.document_id)], args=args)
        return bool(written)

    def parse(self, topic: str, value: bytes | None) -> JourneyUpdate | None:
        try:
            if topic == self.settings.indexed_topic:
                return from_indexed(value)
            return from_cdc(value)
        except (ValueError, json.JSONDecodeError) as exc:  # pydantic's ValidationError is a ValueError
            log.warning("journey: a record of %s is not an event (%s); skipped", topic, str(exc)[:200])
            return None

    async def read(self, records) -> None:
        for record in records:
            update = self.parse(record.topic, record.value)
            if update is None:
                self.skipped += 1
                continue
            await self.apply(update)
            self.applied += 1

    # --- the background consumer ------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None and self.settings.journey_enabled:
            self._task = asyncio.create_task(self._consume(), name="twin-gateway-journeys")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer

        backoff = 1.0
        while True:
            consumer = AIOKafkaConsumer(
                self.settings.cdc_topic,
                self.settings.indexed_topic,
                bootstrap_servers=self.kafka.bootstrap_servers,
                group_id=self.settings.journey_group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=500,
            )
            try:
                await consumer.start()
                self.running = True
                backoff = 1.0
                while True:
                    batches = await consumer.getmany(timeout_ms=1000)
                    for records in batches.values():
                        await self.read(records)
                    if batches:
                        await consumer.commit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka or Redis away: wait it out, read again from the last commit
                log.warning("journey consumer: %r; retrying in %.0f s", exc, backoff)
            finally:
                self.running = False
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


def tracker_for(resources) -> JourneyTracker:
    """The process's tracker (one per gateway, shared by the stages that read journeys)."""
    if "journeys" not in resources.extra:
        settings = resources.settings
        resources.extra["journeys"] = JourneyTracker(resources.redis, settings.kafka, settings.webapp)
    return resources.extra["journeys"]
