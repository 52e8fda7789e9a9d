"""The consumer's two kinds of failure on FastStream's in-memory broker: a dependency that fails is waited out
(the change applied once it answers, nothing dead-lettered, not ready meanwhile); poison is dead-lettered at once."""

from __future__ import annotations

import asyncio
import json

import redis
from faststream.kafka import TestKafkaBroker
from twin_common.events import DeadLetter
from twin_embedder.app import EmbedderConsumer
from twin_embedder.metrics import EmbedderMetrics
from twin_embedder.outage import dependency_of
from twin_embedder.settings import EmbedderSettings
from twin_inference_client.errors import InferenceTimeout

ROW = {
    "id": "d1",
    "tenant_id": "acme",
    "author_id": "a1",
    "kind": "note",
    "external_id": "n1",
    "content": "a note about bees",
    "content_hash": "h1",
}


class FlakySink:
    """A feature sink whose dependency is down for the first `failures` calls."""

    def __init__(self, failures: int):
        self.failures = failures
        self.pushed = []

    def push(self, features):
        if self.failures:
            self.failures -= 1
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.pushed.extend(features)


def _settings(**overrides) -> EmbedderSettings:
    values = {"topic": "docs", "backoff_s": 0.01, "backoff_max_s": 0.05, "hold_batch_s": 30, "lag_interval_s": 3600}
    return EmbedderSettings(**{**values, **overrides}, telemetry={"enabled": False, "spans_file": None})


def test_errors_are_attributed_to_their_dependency():
    assert dependency_of(redis.exceptions.TimeoutError("Timeout reading"), "apply") == "redis"
    assert dependency_of(InferenceTimeout("twin-embed: timed out"), "apply") == "inference"
    wrapped = RuntimeError("push failed")
    wrapped.__cause__ = redis.exceptions.ConnectionError("down")
    assert dependency_of(wrapped, "apply") == "redis"
    assert dependency_of(ValueError("bug"), "apply") == "pipeline"
    assert dependency_of(TimeoutError(), "commit") == "kafka"


async def test_a_failing_dependency_is_waited_out_and_poison_goes_straight_to_the_dlq(pipeline):
    sink = FlakySink(failures=3)
    pipeline.features = sink
    consumer = EmbedderConsumer(_settings(), pipeline, EmbedderMetrics())
    letters: list[DeadLetter] = []
    states: list[str | None] = []

    @consumer.broker.subscriber("docs.dlq")
    async def dead_letters(body: dict) -> None:
        letters.append(DeadLetter.model_validate(body))

    real_waiting = consumer._waiting

    def spy(state):
        real_waiting(state)
        states.append(consumer.stats.waiting.dependency if consumer.stats.waiting else None)
        assert not consumer.ready and consumer.metrics.paused._value.get() == 1

    consumer._waiting = spy
    async with TestKafkaBroker(consumer.broker) as broker:
        await broker.publish(json.dumps({"op": "c", "after": ROW, "source": {"lsn": 5}}).encode(), "docs")
        await broker.publish(b'{"op": "c", "after": {not json', "docs", key=b"poison")
        for _ in range(100):
            if consumer.stats.messages >= 2:
                break
            await asyncio.sleep(0.05)
    assert states == ["redis", "redis", "redis"]  # three failed attempts, each reported
    assert [f.document_id for f in sink.pushed] == ["d1"]  # then applied
    assert consumer.ready and consumer.stats.waiting is None and consumer.metrics.paused._value.get() == 0
    assert pipeline.store.document_point_ids("acme", "d1")
    assert consumer.metrics.dependency_failures.labels("redis")._value.get() == 3
    assert [(letter.key, letter.attempts) for letter in letters] == [("poison", 1)]  # only the poison
    assert "ValidationError" in letters[0].error


async def test_a_batch_held_too_long_is_handed_back_uncommitted(pipeline):
    pipeline.features = FlakySink(failures=10_000)
    consumer = EmbedderConsumer(_settings(hold_batch_s=0.2), pipeline, EmbedderMetrics())
    handed_back = []
    real = consumer._hand_back

    async def spy(msg, records, exc):
        handed_back.append((len(records), exc.dependency))
        await real(msg, records, exc)

    consumer._hand_back = spy
    async with TestKafkaBroker(consumer.broker) as broker:
        await broker.publish(json.dumps({"op": "c", "after": ROW, "source": {"lsn": 5}}).encode(), "docs")
        for _ in range(100):
            if handed_back:
                break
            await asyncio.sleep(0.05)
    assert handed_back[0] == (1, "redis")
    assert consumer.stats.messages == 0 and consumer.stats.dead_letters == 0  # neither committed nor dead-lettered
    assert not consumer.ready and consumer.stats.waiting.dependency == "redis"
