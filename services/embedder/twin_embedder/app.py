"""The Kafka side of the embedder: a FastStream batch consumer of the CDC documents topic.

Per batch: parse and check every message -> apply the valid ones (ChangePipeline) -> publish DocumentIndexed and
the dead letters -> commit (manual ack). Two kinds of failure, handled apart:

- Poison: a message that cannot be parsed or breaks the row contract (DebeziumEnvelope, InvalidChange). It can
  never succeed, so it goes to the dead-letter topic at once (a DeadLetter event with the error) and its offset is
  committed with the batch: one poison message never stops the stream.
- A failing or hanging dependency (Redis, Qdrant, Feast, the inference service, Kafka; every client has a bounded
  timeout): nothing is dead-lettered and nothing committed. The batch is retried with a capped exponential backoff
  (tenacity) while /readyz reports not ready and `twin_embedder_paused` is 1; after `hold_batch_s` the batch is
  handed back to Kafka (seek to its first offsets, so the consumer keeps polling within max.poll.interval) and
  comes again. Consumption resumes where it stopped when the dependency answers.

A crash before the commit replays the batch, which the pipeline absorbs (deterministic ids, unchanged documents
skipped).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiokafka.errors import CommitFailedError, IllegalStateError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry import trace
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_delay, wait_exponential_jitter
from twin_common.events import DeadLetter, DebeziumEnvelope, DocumentIndexed
from twin_common.telemetry.kafka import batch_process_span, debezium_trace_context, extract_context, send_span
from twin_common.topics import dead_letter_topic

from twin_embedder.metrics import EmbedderMetrics, consumer_lag
from twin_embedder.outage import Waiting, dependency_of
from twin_embedder.pipeline import Applied, ChangePipeline, check_change
from twin_embedder.settings import EmbedderSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("twin_embedder")


@dataclass
class Stats:
    batches: int = 0
    messages: int = 0
    dead_letters: int = 0
    last_error: str | None = None
    waiting: Waiting | None = None  # set while a dependency is down


class StepFailed(Exception):
    """A dependency failed during one step of a batch ('apply', 'publish' or 'commit')."""

    def __init__(self, step: str, cause: BaseException):
        super().__init__(f"{step}: {type(cause).__name__}: {cause}")
        self.step = step
        self.cause = cause
        self.dependency = dependency_of(cause, step)


def _transient(exc: BaseException) -> bool:
    # a rebalance took the partitions away: retrying cannot help, the batch is redelivered to the new owner
    return isinstance(exc, StepFailed) and not isinstance(exc.cause, CommitFailedError | IllegalStateError)


class EmbedderConsumer:
    def __init__(self, settings: EmbedderSettings, pipeline: ChangePipeline, metrics: EmbedderMetrics):
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics
        self.stats = Stats()
        self.dlq_topic = settings.dead_letter_topic or dead_letter_topic(settings.topic)
        self.broker = KafkaBroker(
            settings.kafka.bootstrap_servers,
            enable_idempotence=True,
            request_timeout_ms=int(settings.kafka_timeout_s * 1000),
        )
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
        # one thread applies every batch: the stores' and clients' calls (tritonclient's HTTP transport is not
        # thread-safe) always come from the same thread, and a hanging call never blocks the event loop
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder-apply")
        self._dead_lettered: set[tuple[str, int, int]] = set()  # published during this batch's retries
        self._stopping = False

    @property
    def ready(self) -> bool:
        """False while a batch waits for a dependency (and /readyz says which)."""
        return self.stats.waiting is None

    # --- one batch ----------------------------------------------------------------------------

    async def handle(self, msg: KafkaMessage) -> None:
        records = list(msg.raw_message if isinstance(msg.raw_message, tuple | list) else (msg.raw_message,))
        started = time.perf_counter()
        # Continue each change's trace: from the headers when the CDC forwarder set them, else from the traceparent
        # the ingest request wrote into the row (Debezium copies no headers from the database).
        contexts = [extract_context(r.headers) or debezium_trace_context(r.value) for r in records]
        with batch_process_span(records, group=self.settings.group_id, contexts=contexts) as span:
            valid, poison = self._sort(records)
            try:
                applied = await self._process(msg, valid, poison)
            except Exception as exc:  # noqa: BLE001 - never let a batch's offsets move without its writes
                span.set_attribute("twin.batch.handed_back", True)
                await self._hand_back(msg, records, exc)
                return
        self._dead_lettered.clear()
        self._recovered()
        self.stats.batches += 1
        self.stats.messages += len(records)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        for result in applied:
            self.metrics.changes.labels(result.op.value, str(result.skipped).lower()).inc()

    def _sort(self, records: list) -> tuple[list[DebeziumEnvelope | None], list[tuple[object, str]]]:
        """(envelopes to apply, in order; [(record, error)] of the poison messages)."""
        valid, poison = [], []
        with tracer.start_as_current_span("embedder.parse"):
            for record in records:
                try:
                    envelope = DebeziumEnvelope.parse(record.value)
                    check_change(envelope)
                except Exception as exc:  # noqa: BLE001 - parsing touches nothing but the message: it is poison
                    poison.append((record, f"{type(exc).__name__}: {exc}"[:2000]))
                    continue
                valid.append(envelope)
        return valid, poison

    async def _process(self, msg: KafkaMessage, valid: list, poison: list) -> list[Applied]:
        """Apply, publish, commit; a failing step is retried with backoff until it works or the hold runs out."""
        s = self.settings
        retrying = AsyncRetrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential_jitter(initial=s.backoff_s, max=s.backoff_max_s),
            stop=stop_after_delay(s.hold_batch_s) | (lambda _: self._stopping),
            before_sleep=self._waiting,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                applied = await self._step("apply", self._apply(valid))
                await self._step("publish", self._publish(applied, poison))
                await self._step("commit", msg.ack(), timeout=s.kafka_timeout_s)
        return applied

    async def _step(self, name: str, work, timeout: float | None = None):
        try:
            with tracer.start_as_current_span(f"embedder.{name}"):
                return await (asyncio.wait_for(work, timeout) if timeout else work)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified by the retry policy
            raise StepFailed(name, exc) from exc

    async def _apply(self, envelopes: list) -> list[Applied]:
        if not envelopes:
            return []
        loop = asyncio.get_running_loop()
        # the current span goes along, so the embedding and store spans are children of the batch's
        context = contextvars.copy_context()
        applied = await loop.run_in_executor(self._worker, context.run, self.pipeline.apply_batch, envelopes)
        trace.get_current_span().set_attribute("documents", len(applied))
        return applied

    async def _publish(self, applied: list[Applied], poison: list) -> None:
        timeout = self.settings.kafka_timeout_s
        for record, error in poison:
            where = (record.topic, record.partition, record.offset)
            if where not in self._dead_lettered:
                await asyncio.wait_for(self._dead_letter(record, error), timeout)
                self._dead_lettered.add(where)
        for result in applied:
            await asyncio.wait_for(self._publish_indexed(result), timeout)

    # --- waiting out a dependency ---------------------------------------------------------------

    def _waiting(self, state: RetryCallState) -> None:
        """tenacity's before_sleep: record and report what is down."""
        exc = state.outcome.exception() if state.outcome else None
        dependency = getattr(exc, "dependency", "pipeline")
        error = f"{exc}"[:2000]
        self.stats.last_error = error
        if self.stats.waiting is None or self.stats.waiting.dependency != dependency:
            self.stats.waiting = Waiting(dependency, error, time.time())
            log.warning("waiting for %s (batch kept, nothing committed or dead-lettered): %s", dependency, error)
        else:
            self.stats.waiting.error = error
            self.stats.waiting.attempts += 1
        self.metrics.retries.inc()
        self.metrics.dependency_failures.labels(dependency).inc()
        self.metrics.paused.set(1)

    def _recovered(self) -> None:
        if self.stats.waiting is not None:
            waited = time.time() - self.stats.waiting.since
            log.warning("%s answers again after %.1f s; consuming", self.stats.waiting.dependency, waited)
            self.stats.waiting = None
        self.metrics.paused.set(0)

    async def _hand_back(self, msg: KafkaMessage, records: list, exc: Exception) -> None:
        """Give the batch back to Kafka uncommitted: seek to its first offsets so it is fetched again."""
        first = {(r.topic, r.partition): r.offset for r in reversed(records)}
        if isinstance(exc, StepFailed) and not _transient(exc):
            log.warning("partitions were reassigned during the batch (%s); it is redelivered", exc)
            return
        if self.stats.waiting is None:  # failed for the first time at the very end of the hold
            self.stats.waiting = Waiting(getattr(exc, "dependency", "pipeline"), str(exc)[:2000], time.time())
            self.metrics.paused.set(1)
        log.warning("batch at %s handed back uncommitted after %.0f s: %s", first, self.settings.hold_batch_s, exc)
        try:
            await msg.nack()
        except Exception as seek_error:  # noqa: BLE001 - not assigned any more: the new owner reads from the commit
            log.warning("could not seek back (%s); the batch is redelivered from the committed offsets", seek_error)

    # --- Kafka writes ---------------------------------------------------------------------------

    async def _dead_letter(self, record, error: str) -> None:
        # poison fails the same way every time: it is not retried (one attempt)
        event = DeadLetter.of_record(record, error, attempts=1, consumer_group=self.settings.group_id)
        with send_span(self.dlq_topic, key=record.key) as headers:
            await self.broker.publish(event.to_bytes(), self.dlq_topic, key=record.key, headers=headers)
        self.stats.dead_letters += 1
        self.metrics.dead_letters.inc()
        log.error("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, error)

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
        self._stopping = True
        if self._lag_task:
            self._lag_task.cancel()
        await self.broker.stop()
        self._worker.shutdown(wait=False, cancel_futures=True)

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
