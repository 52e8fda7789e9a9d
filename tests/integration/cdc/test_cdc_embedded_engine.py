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
from pathlib import Path

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


def _streaming_offsets_flushed(offsets: Path) -> bool:
    """The offsets file (a Java-serialized map whose values are the connector's JSON offsets) holds a streaming
    position: an LSN and no unfinished snapshot."""
    data = offsets.read_bytes() if offsets.exists() else b""
    return b'"lsn":' in data and b'"snapshot_completed":false' not in data


def _start_embedded(rig, offsets, log_path) -> subprocess.Popen:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "twin_cli.main",
                "cdc",
                "embedded",
                "--name",
                rig.name,
                "--database",
                rig.database,
                "--topic-prefix",
                rig.topic_prefix,
                "--slot",
                rig.slot,
                "--publication",
                rig.publication,
                "--offsets",
                str(offsets),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


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
    process = _start_embedded(embedded_rig, tmp_path / "offsets.dat", tmp_path / "embedded.log")
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
        process.wait(60)
        teardown_rig(embedded_rig, delete_connector=False)
    assert process.returncode == 0, (tmp_path / "embedded.log").read_text()[-3000:]
    assert "stopped after forwarding" in (tmp_path / "embedded.log").read_text()


def test_embedded_engine_resumes_from_its_offsets_after_a_crash(source_db, tmp_path):
    rig = make_rig(source_db, "")
    offsets, log_path = tmp_path / "offsets.dat", tmp_path / "embedded.log"
    with psycopg.connect(source_db, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id) VALUES ('acme')")
        author = conn.execute("INSERT INTO authors (tenant_id, name) VALUES ('acme', 'Ada') RETURNING id").fetchone()[0]

    def write(numbers: range) -> None:
        with psycopg.connect(source_db, autocommit=True) as conn:
            for number in numbers:
                conn.execute(
                    "INSERT INTO documents (tenant_id, author_id, kind, external_id, content, content_hash)"
                    " VALUES ('acme', %s, 'note', %s, 'x', 'h')",
                    (author, f"d{number}"),
                )

    process = _start_embedded(rig, offsets, log_path)
    try:
        _wait_slot_active(source_db, rig.slot, process)
        write(range(300))
        consume(rig.topic("documents"), lambda r: len(r) >= 100)  # part of it is through
        # offsets are flushed every second; a crash before a streaming position is flushed (the first flush
        # can still hold the initial snapshot's, "snapshot_completed": false) would rightly snapshot again
        deadline = time.monotonic() + 30
        while not _streaming_offsets_flushed(offsets) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _streaming_offsets_flushed(offsets), "the engine never flushed a streaming position"
        process.kill()  # a crash: no clean close, offsets as last flushed
        process.wait(30)
        write(range(300, 600))  # committed while nothing reads the slot
        process = _start_embedded(rig, offsets, log_path)
        _wait_slot_active(source_db, rig.slot, process)
        records = consume(
            rig.topic("documents"), lambda r: len({v["after"]["external_id"] for _, v, *_ in r}) >= 600, timeout=90
        )
        ids = [value["after"]["external_id"] for _, value, *_ in records]
        print(f"\n[embedded kill] 600 committed, {len(ids)} events read, {len(ids) - len(set(ids))} duplicates")
        assert set(ids) == {f"d{n}" for n in range(600)}
        assert {value["op"] for _, value, *_ in records} == {"c"}  # resumed streaming, no second snapshot
        assert offsets.exists()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        teardown_rig(rig, delete_connector=False)
