"""The stack is real end to end: a row committed in PostgreSQL becomes a Debezium change event on a Kafka
topic, read by a FastStream consumer over the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
import pytest
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from twin_cdc import connector as connector_api
from twin_cdc.connector import connector_config
from twin_common.events import ChangeOp, DebeziumEnvelope
from twin_common.settings import ConnectSettings, KafkaSettings, PostgresSettings


@pytest.fixture
def smoke_source():
    """A private database, table, publication, slot and connector; all removed afterwards."""
    pg, connect_url = PostgresSettings(), ConnectSettings().url
    suffix = uuid.uuid4().hex[:8]
    database, connector, prefix = f"twin_smoke_{suffix}", f"smoke-{suffix}", f"smoke{suffix}"
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    with psycopg.connect(pg.dsn(database), autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)")
        conn.execute("ALTER TABLE notes REPLICA IDENTITY FULL")
    config = connector_config(
        database=database,
        topic_prefix=prefix,
        slot_name=f"smoke_{suffix}",
        publication_name="smoke_pub",
        tables=("notes",),
    )
    connector_api.register(connect_url, connector, config)
    yield {"dsn": pg.dsn(database), "topic": f"{prefix}.public.notes", "connector": connector}
    connector_api.delete(connect_url, connector)
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as admin:
        deadline = time.monotonic() + 30  # the slot stays active until the task has stopped
        while time.monotonic() < deadline:
            try:
                admin.execute(
                    "SELECT pg_drop_replication_slot(%s) FROM pg_replication_slots WHERE slot_name = %s",
                    (f"smoke_{suffix}", f"smoke_{suffix}"),
                )
                break
            except psycopg.errors.ObjectInUse:
                time.sleep(0.5)
        admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


async def test_row_commit_reaches_a_faststream_consumer(smoke_source):
    connector_api.wait_running(ConnectSettings().url, smoke_source["connector"])
    received: list[DebeziumEnvelope | None] = []
    done = asyncio.Event()
    broker = KafkaBroker(KafkaSettings().bootstrap_servers)

    @broker.subscriber(smoke_source["topic"], group_id=f"smoke-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest")
    async def on_change(message: KafkaMessage) -> None:
        received.append(DebeziumEnvelope.parse(message.body))  # raw bytes: a tombstone has an empty body
        if len(received) == 4:  # insert, update, delete, tombstone
            done.set()

    async with broker:
        await broker.start()
        with psycopg.connect(smoke_source["dsn"], autocommit=True) as conn:
            row_id = conn.execute("INSERT INTO notes (body) VALUES ('first') RETURNING id").fetchone()[0]
            conn.execute("UPDATE notes SET body = 'second' WHERE id = %s", (row_id,))
            conn.execute("DELETE FROM notes WHERE id = %s", (row_id,))
        await asyncio.wait_for(done.wait(), timeout=60)

    insert, update, delete, tombstone = received
    assert insert.op is ChangeOp.CREATE and insert.before is None and insert.after == {"id": row_id, "body": "first"}
    assert update.op is ChangeOp.UPDATE and update.before["body"] == "first" and update.after["body"] == "second"
    assert delete.op is ChangeOp.DELETE and delete.before["body"] == "second" and delete.after is None
    assert tombstone is None
    assert insert.source.lsn < update.source.lsn < delete.source.lsn
    assert insert.source.table == "notes"
