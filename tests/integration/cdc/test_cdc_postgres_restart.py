"""A PostgreSQL restart while Debezium streams loses no committed change: the connector resumes from its replication
slot. A writer inserts and updates documents throughout (reconnecting while the server is down); afterwards every
committed change is on the topic and each document's last event carries its final version. Delivery is
at-least-once: duplicates are counted and printed with the lost and stale counts (those must be 0)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import psycopg
import pytest
from cdc_support import consume
from twin_cdc import connector

# a stack restart on a loaded 2-core machine: more than pytest's default 600 s
CHAOS_TIMEOUT_S = 1800
INSERTS, UPDATES = 600, 400  # 1,000 changes
RESTART_AFTER = 300  # committed changes before the restart


def _write(dsn: str, author: str, restart: threading.Event, committed: list, errors: list) -> None:
    """One change per transaction; a change whose commit failed (server going down) is retried until it commits,
    so `committed` holds exactly the changes PostgreSQL acknowledged."""
    plan = [("c", n) for n in range(INSERTS)] + [("u", n % INSERTS) for n in range(UPDATES)]
    conn = None
    try:
        for number, (op, doc) in enumerate(plan):
            while True:
                try:
                    if conn is None or conn.closed or conn.broken:
                        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
                    if op == "c":
                        conn.execute(
                            "INSERT INTO documents (tenant_id, author_id, kind, external_id, content, content_hash)"
                            " VALUES ('acme', %s, 'note', %s, %s, %s)"
                            " ON CONFLICT (tenant_id, author_id, external_id) DO NOTHING",
                            (author, f"doc-{doc:05d}", f"body {number}", f"h{number}"),
                        )
                    else:
                        conn.execute(
                            "UPDATE documents SET content = %s, content_hash = %s WHERE external_id = %s",
                            (f"body {number}", f"h{number}", f"doc-{doc:05d}"),
                        )
                    break
                except psycopg.OperationalError:
                    time.sleep(0.2)  # the server restarts: try the same change again
            committed.append((f"doc-{doc:05d}", f"h{number}"))
            if len(committed) == RESTART_AFTER:
                restart.set()
            time.sleep(0.003)
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)
        restart.set()
    finally:
        if conn is not None:
            conn.close()


@pytest.mark.timeout(CHAOS_TIMEOUT_S)
def test_postgres_restart_mid_stream_loses_no_change(cdc_rig, local_stack):
    with psycopg.connect(cdc_rig.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id) VALUES ('acme')")
        author = str(
            conn.execute("INSERT INTO authors (tenant_id, name) VALUES ('acme', 'Ada') RETURNING id").fetchone()[0]
        )
    connector.register(cdc_rig.connect_url, cdc_rig.name, cdc_rig.config())
    connector.wait_running(cdc_rig.connect_url, cdc_rig.name, timeout=120)

    restart, committed, errors = threading.Event(), [], []
    writer = threading.Thread(target=_write, args=(cdc_rig.dsn, author, restart, committed, errors))
    writer.start()
    try:
        assert restart.wait(120)
        before = len(committed)
        started = time.monotonic()
        local_stack.restart("postgres")  # pg_ctl stop -m fast, then start
        down_s = time.monotonic() - started
    finally:
        writer.join(300)
    assert not errors, errors
    assert len(committed) == INSERTS + UPDATES and before < len(committed)

    final = dict(committed)  # external id -> content hash of its last committed change
    wanted = Counter(committed)

    def seen_all(records: list) -> bool:
        seen = {(v["after"]["external_id"], v["after"]["content_hash"]) for _, v, *_ in records if v}
        return set(wanted) <= seen

    records = consume(cdc_rig.topic("documents"), seen_all, timeout=240)
    events = Counter((v["after"]["external_id"], v["after"]["content_hash"]) for _, v, *_ in records if v)
    last: dict[str, str] = {}
    for _, value, *_ in sorted(records, key=lambda r: (r[2], r[3])):  # per partition, in offset order
        if value:
            last[value["after"]["external_id"]] = value["after"]["content_hash"]
    lost = [change for change in wanted if change not in events]
    stale = [doc for doc, content_hash in final.items() if last.get(doc) != content_hash]
    duplicates = sum(count - 1 for count in events.values())
    print(
        f"\n[postgres restart] {len(committed)} changes committed ({before} before the restart, server down "
        f"{down_s:.1f} s): {len(records)} events, {len(lost)} lost, {len(stale)} stale, {duplicates} duplicates"
    )
    assert lost == [] and stale == []
    assert connector.status(cdc_rig.connect_url, cdc_rig.name).running
