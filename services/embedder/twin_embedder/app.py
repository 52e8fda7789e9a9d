"""The Kafka side of the embedder: a FastStream batch consumer of the CDC documents topic.

Per batch: parse -> apply (ChangePipeline) -> publish DocumentIndexed -> commit (manual ack). A batch that
fails is replayed message by message with retries and backoff; a message that still fails after
`max_attempts` goes to the dead-letter topic as a DeadLetter event, and its offset is committed with the
rest, so one poison message never stops the stream. A crash before the commit replays the batch, which the
pipeline absorbs (deterministic ids, unchanged documents skipped).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry import trace
from twin_common.events import DeadLetter, DebeziumEnvelope, DocumentIndexed
from twin_common.telemetry.kafka import batch_process_span, debezium_trace_context, extract_context, send_span
from twin_common.topics import dead_letter_topic

from twin_embedder.metrics import EmbedderMetrics, consumer_lag
from twin_embedder.pipeline import Applied, ChangePipeline
from twin_embedder.settings import EmbedderSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("twin_embedder")


@dataclass
class Stats:
    batches: int = 0
    messages: int = 0
    dead_letters: int = 0
    last_error: str | None = None


class EmbedderConsumer:
    def __init__(self, settings: EmbedderSettings, pipeline: ChangePipeline, metrics: EmbedderMetrics):
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics
        self.stats = Stats()
        self.dlq_topic = settings.dead_letter_topic or dead_letter_topic(settings.topic)
        self.broker = KafkaBroker(settings.kafka.bootstrap_servers, enable_idempotence=True)
        self.subscriber = self.broker.subscriber(
            settings.topic,
            group_id=settings.group_id,
            batch=True,
            max_records=settings.max_records,
            batch_timeout_ms=settings.batch_timeout_ms,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
        )
        self.subscriber(self.handle)
        self._lag_task: asyncio.Task | None = None

    async def handle(self, msg: KafkaMessage) -> None:
        records = msg.raw_message if isinstance(msg.raw_message, tuple | list) else (msg.raw_message,)
        started = time.perf_counter()
        # Continue each change's trace: from the headers when the CDC forwarder set them, else from the traceparent
        # the ingest request wrote into the row (Debezium copies no headers from the database).
        contexts = [extract_context(r.headers) or debezium_trace_context(r.value) for r in records]
        with batch_process_span(records, group=self.settings.group_id, contexts=contexts):
            try:
                applied = await asyncio.to_thread(self._apply_records, list(records))
            except Exception as exc:  # noqa: BLE001 - isolate the failing message(s)
                log.warning("batch of %d failed (%s); replaying message by message", len(records), exc)
                applied = await self._apply_one_by_one(list(records))
            for result in applied:
                await self._publish_indexed(result)
            with tracer.start_as_current_span("embedder.commit"):
                await msg.ack()
        self.stats.batches += 1
        self.stats.messages += len(records)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        for result in applied:
            self.metrics.changes.labels(result.op.value, str(result.skipped).lower()).inc()

    def _apply_records(self, records: list) -> list[Applied]:
        with tracer.start_as_current_span("embedder.parse"):
            envelopes = [DebeziumEnvelope.parse(r.value) for r in records]
        with tracer.start_as_current_span("embedder.apply") as span:
            applied = self.pipeline.apply_batch(envelopes)
            span.set_attribute("documents", len(applied))
        return applied

    async def _apply_one_by_one(self, records: list) -> list[Applied]:
        applied: list[Applied] = []
        for record in records:
            for attempt in range(1, self.settings.max_attempts + 1):
                try:
                    applied.extend(await asyncio.to_thread(self._apply_records, [record]))
                    break
                except Exception as exc:  # noqa: BLE001
                    error = f"{type(exc).__name__}: {exc}"[:2000]
                    self.stats.last_error = error
                    if attempt == self.settings.max_attempts:
                        await self._dead_letter(record, error, attempt)
                    else:
                        self.metrics.retries.inc()
                        await asyncio.sleep(self.settings.backoff_s * 2 ** (attempt - 1))
        return applied

    async def _dead_letter(self, record, error: str, attempts: int) -> None:
        def text(data: bytes | None) -> str | None:
            return None if data is None else data.decode("utf-8", errors="replace")

        event = DeadLetter(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=text(record.key),
            value=text(record.value),
            error=error,
            attempts=attempts,
            consumer_group=self.settings.group_id,
        )
        with send_span(self.dlq_topic, key=record.key) as headers:
            await self.broker.publish(event.to_bytes(), self.dlq_topic, key=record.key, headers=headers)
        self.stats.dead_letters += 1
        self.metrics.dead_letters.inc()
        log.error(
            "dead-lettered %s[%d]@%d after %d attempts: %s",
            record.topic,
            record.partition,
            record.offset,
            attempts,
            error,
        )

    async def _publish_indexed(self, result: Applied) -> None:
        key = result.document_id.encode()
        with send_span(self.settings.indexed_topic, key=key) as headers:
            event = DocumentIndexed(
                tenant_id=result.tenant_id,
                document_id=result.document_id,
                content_hash=result.content_hash,
                op=result.op,
                chunk_count=result.chunk_count,
                embedding_model=self.pipeline.indexer.embedder.model_name,
                source_lsn=result.source_lsn,
                traceparent=headers.get("traceparent"),  # the header's context, kept with the event
            )
            await self.broker.publish(event.to_bytes(), self.settings.indexed_topic, key=key, headers=headers)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.broker.start()
        self._lag_task = asyncio.create_task(self._measure_lag())

    async def stop(self) -> None:
        if self._lag_task:
            self._lag_task.cancel()
        await self.broker.stop()

    async def _measure_lag(self) -> None:
        s = self.settings
        while True:
            try:
                lag = await asyncio.to_thread(consumer_lag, s.kafka.bootstrap_servers, s.group_id, s.topic)
                for partition, value in lag.items():
                    self.metrics.lag.labels(s.topic, str(partition)).set(value)
            except Exception as exc:  # noqa: BLE001 - a metric probe never stops the consumer
                log.debug("lag probe failed: %s", exc)
            await asyncio.sleep(s.lag_interval_s)
