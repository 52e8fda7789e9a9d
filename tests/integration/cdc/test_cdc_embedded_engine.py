"""The embedded Debezium engine (`twin cdc embedded`) honours the same topic contract as the Connect path.

Both run against the same database with their own slot and topic prefix; the same commits must come out
as the same events: same key, same partition, same op, same before/after images, same LSNs, same
tombstone after the delete.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import psycopg
from cdc_support import consume, make_rig, teardown_rig

from twin_cdc import connector


def _wait_slot_active(dsn: str, slot: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the embedded engine exited early"
            row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
            if row == (True,):
                return
            time.sleep(0.2)
    raise AssertionError(f"slot {slot} not streaming after {timeout}s")


def _by_partition(records: list) -> dict[int, list]:
    """Per partition, in offset order: what a consumer of that partition sees (connector identity left out)."""
    out: dict[int, list] = {}
    for key, value, partition, _offset in sorted(records, key=lambda r: (r[2], r[3])):
        if value is None:
            event = (key, "tombstone")
        else:
            source = value["source"]
            event = (key, value["op"], value["before"], value["after"], source["lsn"], source["table"])
        out.setdefault(partition, []).append(event)
    return out


def test_embedded_engine_emits_the_same_events_as_kafka_connect(cdc_rig, tmp_path):
    embedded_rig = make_rig(cdc_rig.dsn, cdc_rig.connect_url)
    log = (tmp_path / "embedded.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "twin_cli.main", "cdc", "embedded", "--name", embedded_rig.name,
         "--database", embedded_rig.database, "--topic-prefix", embedded_rig.topic_prefix,
         "--slot", embedded_rig.slot, "--publication", embedded_rig.publication,
         "--offsets", str(tmp_path / "offsets.dat")],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        connector.register(cdc_rig.connect_url, cdc_rig.name, cdc_rig.config())
        connector.wait_running(cdc_rig.connect_url, cdc_rig.name)
        _wait_slot_active(cdc_rig.dsn, cdc_rig.slot, process)
        _wait_slot_active(cdc_rig.dsn, embedded_rig.slot, process)

        with psycopg.connect(cdc_rig.dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO tenants (id) VALUES ('acme')")
            author = conn.execute("INSERT INTO authors (tenant_id, name) VALUES ('acme', 'Ada') RETURNING id")
            author_id = author.fetchone()[0]
            for number in range(5):
                doc_id = str(uuid.uuid4())
                conn.execute(
                    "INSERT INTO documents (id, tenant_id, author_id, kind, external_id, content, tags, metadata,"
                    " content_hash) VALUES (%s, 'acme', %s, 'note', %s, 'v1', ARRAY['t'], '{\"n\": 1}', 'h1')",
                    (doc_id, author_id, f"n{number}"),
                )
                conn.execute("UPDATE documents SET content = 'v2', content_hash = 'h2' WHERE id = %s", (doc_id,))
                if number % 2 == 0:
                    conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,))
        expected = 5 * 2 + 3 * 2  # 5 inserts, 5 updates, 3 deletes each followed by a tombstone

        via_connect = consume(cdc_rig.topic("documents"), lambda r: len(r) >= expected)
        via_engine = consume(embedded_rig.topic("documents"), lambda r: len(r) >= expected)

        assert len(via_engine) == expected
        assert _by_partition(via_engine) == _by_partition(via_connect)
        assert [v["op"] if v else None for _, v, *_ in via_engine].count(None) == 3
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        finally:
            log.close()
        teardown_rig(embedded_rig, delete_connector=False)
    assert process.returncode == 0, (tmp_path / "embedded.log").read_text()[-3000:]
    assert "stopped after forwarding" in (tmp_path / "embedded.log").read_text()
