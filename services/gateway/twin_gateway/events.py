"""Events the gateway produces (request log, feedback), sent to Kafka off the request path.

`publish()` never waits: it puts the event in an in-memory buffer and returns. A background task sends the
buffer with aiokafka's idempotent producer (acks=all, no duplicates from its own retries), in order. While Kafka is
unreachable the events stay buffered (up to `TWIN_REQUEST_LOG_BUFFER_SIZE`) and are sent when it is back; past
that the oldest are dropped and counted in `twin_gateway_events_dropped_total{topic}`. A crash of the gateway
loses what is still buffered (the `twin_gateway_events_buffered` gauge says how much that is at any time).

Every event carries the W3C trace context twice: in its `traceparent` field and in the Kafka headers
(`traceparent`, `tracestate`), injected from a PRODUCER span that belongs to the request's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from twin_common.events import Event
from twin_common.settings import KafkaSettings
from twin_common.telemetry.kafka import kafka_headers, trace_headers

from twin_gateway.metrics import GatewayMetrics
from twin_gateway.settings import RequestLogSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("twin_gateway")

SEND_BATCH = 500


@dataclass(frozen=True)
class _Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


class EventSink:
    def __init__(self, kafka: KafkaSettings, settings: RequestLogSettings, metrics: GatewayMetrics):
        self.kafka = kafka
        self.settings = settings
        self.metrics = metrics
        self._buffer: deque[_Outgoing] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self._producer = None
        self.connected = False

    # --- the request path -------------------------------------------------------------------------

    def publish(self, topic: str, event: Event, key: str | None = None) -> None:
        """Queue one event for Kafka; returns at once."""
        if not self.settings.enabled:
            return
        with tracer.start_as_current_span(
            f"send {topic}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.name": "send",
                "messaging.destination.name": topic,
                "twin.event_type": event.EVENT_TYPE,
                "twin.event_id": event.event_id,
            },
        ):
            headers = kafka_headers(trace_headers())  # the W3C context of this PRODUCER span
        if len(self._buffer) >= self.settings.buffer_size:
            dropped = self._buffer.popleft()
            self.metrics.events_dropped.labels(dropped.topic).inc()
        self._buffer.append(
            _Outgoing(
                topic,
                key.encode() if key else None,
                event.to_bytes(),
                headers,
            )
        )
        self.metrics.events_buffered.set(len(self._buffer))
        self._wakeup.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # --- the background sender --------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="twin-gateway-events")

    async def _connect(self):
        from aiokafka import AIOKafkaProducer

        backoff = 0.5
        while not self._closing:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.kafka.bootstrap_servers,
                client_id="twin-gateway",
                enable_idempotence=True,
                acks="all",
                linger_ms=5,
                request_timeout_ms=15_000,
            )
            try:
                await producer.start()
                self.connected = True
                return producer
            except Exception as exc:  # noqa: BLE001 - Kafka down: keep buffering, try again
                log.warning("Kafka unreachable (%s); %d event(s) buffered", exc, len(self._buffer))
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        return None

    async def _run(self) -> None:
        while not self._closing:
            if self._producer is None:
                self._producer = await self._connect()
                if self._producer is None:
                    return
            if not self._buffer:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if not await self._send_batch():
                self.connected = False
                with contextlib.suppress(Exception):
                    await self._producer.stop()
                self._producer = None
                await asyncio.sleep(0.5)

    async def _send_batch(self) -> bool:
        batch = [self._buffer.popleft() for _ in range(min(SEND_BATCH, len(self._buffer)))]
        futures = []
        try:
            for item in batch:
                futures.append(await self._producer.send(item.topic, item.value, key=item.key, headers=item.headers))
            results = await asyncio.gather(*futures, return_exceptions=True)
        except Exception as exc:  # noqa: BLE001
            log.warning("sending %d event(s) failed: %s", len(batch), exc)
            results = [exc] * len(batch)
        failed = [item for item, result in zip(batch, results, strict=False) if isinstance(result, BaseException)]
        failed += batch[len(results) :]
        for item, result in zip(batch, results, strict=False):
            if not isinstance(result, BaseException):
                self.metrics.events_sent.labels(item.topic).inc()
        if failed:
            self._buffer.extendleft(reversed(failed))  # back in front, in their order
            while len(self._buffer) > self.settings.buffer_size:
                dropped = self._buffer.pop()
                self.metrics.events_dropped.labels(dropped.topic).inc()
        self.metrics.events_buffered.set(len(self._buffer))
        return not failed

    async def close(self, flush_timeout_s: float = 5.0) -> None:
        """Send what is buffered (for up to `flush_timeout_s`), then stop."""
        if self._task is not None and self._buffer and self._producer is not None:
            deadline = asyncio.get_running_loop().time() + flush_timeout_s
            while self._buffer and asyncio.get_running_loop().time() < deadline and not self._task.done():
                await asyncio.sleep(0.05)
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
        if self._buffer:
            log.warning("stopping with %d event(s) not sent to Kafka", len(self._buffer))
