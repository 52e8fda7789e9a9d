"""Prometheus metrics of the embedder (served on /metrics) and the consumer-lag probe."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger(__name__)


class EmbedderMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.changes = Counter(
            "twin_embedder_changes_total", "Document changes applied", ["op", "skipped"], registry=self.registry
        )
        self.dead_letters = Counter(
            "twin_embedder_dead_letters_total", "Messages sent to the dead-letter topic", registry=self.registry
        )
        self.retries = Counter(
            "twin_embedder_retries_total", "Failed attempts that were retried", registry=self.registry
        )
        self.dependency_failures = Counter(
            "twin_embedder_dependency_failures_total",
            "Batch attempts that failed on a dependency (kept and retried, never dead-lettered)",
            ["dependency"],
            registry=self.registry,
        )
        self.paused = Gauge(
            "twin_embedder_paused",
            "1 while the consumer holds a batch waiting for a dependency, else 0",
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "twin_embedder_batch_seconds", "Time to apply one consumed batch", registry=self.registry
        )
        self.lag = Gauge(
            "twin_embedder_consumer_lag",
            "End offset minus committed offset",
            ["topic", "partition"],
            registry=self.registry,
        )


def consumer_lag(bootstrap: str, group_id: str, topic: str) -> dict[int, int]:
    """Partition -> (end offset - committed offset of the group); a partition never committed counts all."""
    from kafka import KafkaConsumer, TopicPartition

    # A consumer that names the group but never subscribes reads its committed offsets without joining it.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = consumer.end_offsets(tps)
        return {tp.partition: ends[tp] - (consumer.committed(tp) or 0) for tp in tps}
    finally:
        consumer.close()
