"""Helpers every test tier shares: a free local port, polling for a condition, reading a Kafka topic whole.

Importable as `stack_support` from any test module (pytest puts `tests/` on sys.path for tests/conftest.py)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

from twin_common.settings import KafkaSettings


def free_port() -> int:
    """A port nothing listens on right now, on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    condition: Callable[[], Any],
    timeout: float = 60.0,
    what: str = "condition",
    interval: float = 0.5,
    tolerate: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll `condition` until it returns something truthy (returned), or fail after `timeout` seconds.
    Exceptions of the `tolerate` types count as "not yet" (a server still starting)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except tolerate as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} not met after {timeout:.0f} s (last: {last!r})")


def read_topic(topic: str, timeout_s: float | None = 10.0, bootstrap: str | None = None) -> list:
    """Every record of `topic` from the beginning (empty if the topic does not exist yet); with `timeout_s`, what
    arrived within it, with None up to the end offsets however long that takes."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap or KafkaSettings().bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        records: list = []
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if deadline is not None and time.monotonic() > deadline:
                break
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def json_values(records: list) -> list[dict]:
    """The JSON values of Kafka records, tombstones left out."""
    return [json.loads(r.value) for r in records if r.value]
