"""Stopping Kafka Connect in the middle of a stream of 2,000 changes and starting it again loses none of them.

The test runs a PRIVATE Connect worker (own REST port, group id and storage topics) so it can stop and
start it without touching the shared one. Delivery is at-least-once: duplicates are counted and printed.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest
from cdc_support import consume, delete_topics, make_rig, teardown_rig
from twin_cdc import connector
from twin_localstack.components import KafkaConnect

CHANGES = 2000
STOP_AFTER = 500  # commits before the worker is told to stop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_connect(local_stack):
    suffix = uuid.uuid4().hex[:8]
    storage = f"_twin-connect-test-{suffix}"
    worker = KafkaConnect(
        local_stack.paths,
        name=f"connect-test-{suffix}",
        url=f"http://127.0.0.1:{_free_port()}",
        group_id=f"twin-connect-test-{suffix}",
        storage_topic_prefix=storage,
        heap="384m",
    )
    worker.start()
    yield worker
    worker.stop()
    delete_topics(lambda topic: topic.startswith(storage))
    for leftover in (worker.logfile, local_stack.paths.conf / f"{worker.name}.properties"):
        leftover.unlink(missing_ok=True)


def _write_stream(dsn: str, author: str, stop_worker: threading.Event, committed: list[str]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for number in range(CHANGES):
            external_id = f"doc-{number:05d}"
            conn.execute(
                "INSERT INTO documents (tenant_id, author_id, kind, external_id, content, content_hash)"
                " VALUES ('acme', %s, 'note', %s, %s, %s)",
                (author, external_id, f"body {number}", f"h{number}"),
            )
            committed.append(external_id)
            if number + 1 == STOP_AFTER:
                stop_worker.set()
            time.sleep(0.002)  # a stream, not one burst: the stop lands in the middle of it


@pytest.mark.parametrize("how", ["stop", "kill"])  # SIGTERM (clean shutdown) and SIGKILL (a crash)
def test_no_change_is_lost_when_connect_stops_mid_stream(source_db, private_connect, how):
    rig = make_rig(source_db, private_connect.url)
    try:
        with psycopg.connect(source_db, autocommit=True) as conn:
            conn.execute("INSERT INTO tenants (id) VALUES ('acme')")
            author = str(
                conn.execute("INSERT INTO authors (tenant_id, name) VALUES ('acme', 'Ada') RETURNING id").fetchone()[0]
            )
        connector.register(rig.connect_url, rig.name, rig.config())
        connector.wait_running(rig.connect_url, rig.name, timeout=90)

        stop_worker, committed = threading.Event(), []
        writer = threading.Thread(target=_write_stream, args=(source_db, author, stop_worker, committed))
        writer.start()
        assert stop_worker.wait(60)
        private_connect.stop() if how == "stop" else private_connect.kill()
        committed_at_stop = len(committed)
        writer.join(120)
        assert len(committed) == CHANGES
        assert committed_at_stop < CHANGES, "the stop must land inside the stream"

        private_connect.start()
        connector.wait_running(rig.connect_url, rig.name, timeout=120)

        def seen_all(records: list) -> bool:
            return len({value["after"]["external_id"] for _, value, *_ in records if value}) >= CHANGES

        records = consume(rig.topic("documents"), seen_all, timeout=120)
        counts = Counter(value["after"]["external_id"] for _, value, *_ in records if value)
        duplicates = sum(count - 1 for count in counts.values())
        print(
            f"\n[{how}] {CHANGES} committed ({committed_at_stop} before the worker stopped), "
            f"{len(records)} events read, {len(counts)} distinct, {duplicates} duplicates"
        )
        assert set(counts) == set(committed)  # none lost
        assert all(value["op"] == "c" for _, value, *_ in records)
    finally:
        teardown_rig(rig)
