"""The invalidator consumes DocumentIndexed events from the real Kafka: an update or delete of a cited document
removes its cached answers within a measured delay; a create removes nothing."""

from __future__ import annotations

import asyncio
import socket
import time

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from twin_common.events import ChangeOp, DocumentIndexed
from twin_common.settings import KafkaSettings
from twin_semcache.cache import CachedAnswer
from twin_semcache.invalidation import CacheInvalidator
from twin_semcache.keys import Scope


def _event(op: ChangeOp, document: str) -> bytes:
    return DocumentIndexed(
        tenant_id="tenant-a", document_id=document, content_hash="h", op=op, chunk_count=1, embedding_model="m"
    ).to_bytes()


def test_updates_and_deletes_invalidate_within_a_measured_delay(make_cache, unique_name):
    cache = make_cache()
    scope = Scope("tenant-a", "twin", "v1", "tpl-1")
    questions = {"doc-u": "What is CDC?", "doc-d": "Why small batches?", "doc-c": "What is a replication slot?"}
    for document, question in questions.items():
        cache.fill(question, scope, CachedAnswer("a [1].", "tenant-a", question, [document]), requested_at=time.time())
    topic = unique_name("twin-test-indexed")
    bootstrap = KafkaSettings().bootstrap_servers
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()

    async def scenario() -> list[float]:
        invalidator = CacheInvalidator(cache, topic=topic, group_id=unique_name("twin-test-invalidator"))
        await invalidator.start()
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        delays = []
        try:
            for op, document in ((ChangeOp.CREATE, "doc-c"), (ChangeOp.UPDATE, "doc-u"), (ChangeOp.DELETE, "doc-d")):
                sent = time.perf_counter()
                producer.send(topic, _event(op, document)).get(timeout=30)
                deadline = time.monotonic() + 60
                while invalidator.handled < len(delays) + 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
                delays.append(time.perf_counter() - sent)
        finally:
            producer.close()
            await invalidator.stop()
        return delays

    delays = asyncio.run(scenario())
    assert len(delays) == 3 and all(d < 60 for d in delays)
    assert cache.lookup(questions["doc-c"], scope).hit  # a create changes no cited text
    assert not cache.lookup(questions["doc-u"], scope).hit
    assert not cache.lookup(questions["doc-d"], scope).hit
    assert cache.metrics.invalidation_delay._sum.get() > 0
    print(f"invalidation delays after the event was sent (ms): {[round(d * 1000, 1) for d in delays]}")


def test_kafka_unreachable_at_start_is_waited_out_in_the_background(make_cache):
    """The gateway starts with Kafka down (a Kafka outage never fails a request): the invalidator keeps trying in the
    background instead of failing the start."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"  # nothing listens there once the probe is closed

    async def scenario() -> tuple[bool, bool]:
        invalidator = CacheInvalidator(make_cache(), bootstrap_servers=dead, max_backoff_s=0.5)
        task = invalidator.start_in_background()
        await asyncio.sleep(3)
        still_trying = not task.done() and not invalidator.running
        await invalidator.stop()
        return still_trying, task.done()

    still_trying, stopped = asyncio.run(scenario())
    assert still_trying and stopped
