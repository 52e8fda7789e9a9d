"""kill -9 of the Kafka broker while the embedder streams 2,000 document changes: when the broker is back, Debezium
(Kafka Connect) and the worker carry on by themselves, and the store ends exactly as the final rows say. Debezium
may send some events twice (at-least-once); the pipeline absorbs them. Prints lost / stale / duplicate counts
(lost and stale must be 0)."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
from embedder_support import (
    Worker,
    events_of,
    final_rows,
    group_caught_up,
    plan_changes,
    read_topic,
    seed_author,
    start_connector,
    store_convergence,
    wait_for,
    write_changes,
)
from twin_cdc import connector

# stack restarts, model loading and a worker start on a loaded 2-core machine: more than pytest's default 600 s
CHAOS_TIMEOUT_S = 1800
TENANT = "brokerkill"
N_DOCS, N_UPDATES, N_DELETES = 700, 900, 400  # 2,000 changes
BROKER_DOWN_S = 30


@pytest.mark.timeout(CHAOS_TIMEOUT_S)
def test_broker_killed_mid_stream_recovers_without_loss(rig, chunker, tmp_path, local_stack):
    start_connector(rig)
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        author = seed_author(conn, TENANT)
    ids = [str(uuid.uuid4()) for _ in range(N_DOCS)]
    ops = plan_changes(ids, N_UPDATES, N_DELETES, seed=23)
    worker = Worker(rig, tmp_path, TWIN_KAFKA_TIMEOUT_S="5", TWIN_BACKOFF_MAX_S="5")
    kafka = local_stack.component("kafka")
    errors: list[Exception] = []

    def write() -> None:
        try:
            write_changes(rig.dsn, TENANT, author, ops)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    writer = threading.Thread(target=write)
    try:
        worker.wait_ready()
        writer.start()
        wait_for(lambda: worker.get("/v1/stats")["messages"] >= 400, timeout=240, what="worker under way")
        seen_at_kill = worker.get("/v1/stats")["messages"]
        local_stack.kill("kafka")
        time.sleep(BROKER_DOWN_S)  # the outage itself: nothing to poll for while the broker is gone
        kafka.start()
        writer.join(300)
        assert not errors, errors
        assert seen_at_kill < events_of(ops), "the broker must die in the middle of the stream"

        wait_for(
            lambda: connector.status(rig.connect_url, rig.connector).running, timeout=180, what="connector running"
        )
        wait_for(lambda: len(read_topic(rig.documents_topic)) >= events_of(ops), timeout=300, what="every event")
        wait_for(lambda: group_caught_up(rig), timeout=300, interval=1.0, what="worker caught up")

        on_topic = len(read_topic(rig.documents_topic))
        rows = final_rows(rig.dsn, TENANT)
        assert len(rows) == N_DOCS - N_DELETES
        in_store = store_convergence(worker, chunker, rows, ids, TENANT)
        print(
            f"\n[broker kill -9, down {BROKER_DOWN_S} s] {len(ops)} changes ({seen_at_kill} messages handled before "
            f"the kill), {on_topic} events on the topic for {events_of(ops)} expected "
            f"({on_topic - events_of(ops)} sent twice by Debezium)\n  Qdrant: {in_store.line()}"
        )
        assert (in_store.lost, in_store.stale, in_store.duplicates) == ([], [], 0)
        assert worker.get("/v1/stats")["dead_letters"] == 0
    finally:
        if not kafka.running():
            kafka.start()
        worker.stop()
        # the servers only: since the platform merge the stack also lists the services, which this run did not start
        wait_for(lambda: local_stack.healthy(groups=["servers"]), timeout=180, what="the local servers healthy again")
