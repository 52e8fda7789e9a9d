"""Insert, update and delete of a document reach the CDC topic as Debezium c/u/d (+ tombstone), in order."""

from __future__ import annotations

import uuid

import psycopg
from cdc_support import consume
from twin_cdc import connector
from twin_common.documents import DocumentRow
from twin_common.events import ChangeOp, DebeziumEnvelope


def _seed_author(conn: psycopg.Connection, tenant: str) -> str:
    conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant, tenant))
    return str(
        conn.execute("INSERT INTO authors (tenant_id, name) VALUES (%s, 'Ada') RETURNING id", (tenant,)).fetchone()[0]
    )


def test_register_is_idempotent_and_changes_stream_in_commit_order(cdc_rig):
    config = cdc_rig.config()
    assert connector.register(cdc_rig.connect_url, cdc_rig.name, config).action == "created"
    assert connector.register(cdc_rig.connect_url, cdc_rig.name, config).action == "unchanged"
    assert connector.wait_running(cdc_rig.connect_url, cdc_rig.name).running
    assert connector.restart_failed(cdc_rig.connect_url, cdc_rig.name) is False  # nothing failed

    with psycopg.connect(cdc_rig.dsn, autocommit=True) as conn:
        author = _seed_author(conn, "acme")
        doc_id = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO documents (id, tenant_id, author_id, kind, external_id, title, content, tags, metadata,"
            " content_hash) VALUES (%s, 'acme', %s, 'article', 'a.md', 'T1', 'one', ARRAY['x'], '{\"k\": 1}', 'h1')",
            (doc_id, author),
        )
        conn.execute("UPDATE documents SET content = 'two', content_hash = 'h2' WHERE id = %s", (doc_id,))
        conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,))

    records = consume(cdc_rig.topic("documents"), lambda r: len(r) >= 4)
    assert len(records) == 4
    keys = [key for key, *_ in records]
    assert keys == [{"id": doc_id}] * 4  # keyed by primary key: one partition, so commit order holds
    assert len({partition for _, _, partition, _ in records}) == 1
    insert, update, delete = (DebeziumEnvelope.model_validate(value) for _, value, *_ in records[:3])
    assert records[3][1] is None  # tombstone kept after the delete

    assert insert.op is ChangeOp.CREATE and insert.before is None
    row = DocumentRow.model_validate(insert.after)
    assert (row.id, row.content, row.tags, row.metadata, row.kind.value) == (doc_id, "one", ["x"], {"k": 1}, "article")
    assert update.op is ChangeOp.UPDATE
    assert update.before["content"] == "one" and update.after["content"] == "two"
    assert update.before["title"] == "T1"  # REPLICA IDENTITY FULL: the whole before image
    assert delete.op is ChangeOp.DELETE and delete.after is None
    assert delete.before["content"] == "two" and delete.before["content_hash"] == "h2"
    assert insert.source.lsn < update.source.lsn < delete.source.lsn
    assert insert.source.table == "documents" and insert.source.ts_ms > 0


def test_first_start_snapshots_existing_rows_then_streams(cdc_rig):
    with psycopg.connect(cdc_rig.dsn, autocommit=True) as conn:
        author = _seed_author(conn, "snap")
        conn.execute(
            "INSERT INTO documents (tenant_id, author_id, kind, external_id, content, content_hash)"
            " VALUES ('snap', %s, 'note', 'n1', 'before start', 'h')",
            (author,),
        )
    connector.register(cdc_rig.connect_url, cdc_rig.name, cdc_rig.config())
    connector.wait_running(cdc_rig.connect_url, cdc_rig.name)
    with psycopg.connect(cdc_rig.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO documents (tenant_id, author_id, kind, external_id, content, content_hash)"
            " VALUES ('snap', %s, 'post', 'p1', 'after start', 'h')",
            (author,),
        )
    records = consume(cdc_rig.topic("documents"), lambda r: len(r) >= 2)
    ops = {value["after"]["external_id"]: value["op"] for _, value, *_ in records}
    assert ops == {"n1": "r", "p1": "c"}
    authors = consume(cdc_rig.topic("authors"), lambda r: len(r) >= 1)
    assert authors[0][1]["op"] == "r" and authors[0][1]["after"]["name"] == "Ada"
