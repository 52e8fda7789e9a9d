"""Helpers of the embedder integration tests: a private database + Debezium connector, and the worker process."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from stack_support import ServiceProcess, delete_kafka_resources, drop_test_database, free_port, read_topic  # noqa: F401 (the tests import them from here)
from stack_support import wait_for as shared_wait_for
from twin_cdc import connector
from twin_cdc.replication import drop_slot_and_publication
from twin_common.documents import DocumentRow
from twin_common.service_auth import service_token_header
from twin_common.settings import ConnectSettings, KafkaSettings, PostgresSettings
from twin_embedder.feast_sink import open_ledger, open_store
from twin_ingest.db import migrate

BOOTSTRAP = KafkaSettings().bootstrap_servers


@dataclass
class Rig:
    """One test's private world: database, connector, slot, publication, topic prefix, group, store path."""

    dsn: str
    database: str
    suffix: str
    store_path: Path
    connect_url: str = field(default_factory=lambda: ConnectSettings().url)

    @property
    def connector(self) -> str:
        return f"twin-test-emb-{self.suffix}"

    @property
    def slot(self) -> str:
        return f"twin_test_emb_{self.suffix}"

    @property
    def topic_prefix(self) -> str:
        return f"twintestemb{self.suffix}"

    @property
    def documents_topic(self) -> str:
        return f"{self.topic_prefix}.public.documents"

    @property
    def indexed_topic(self) -> str:
        return f"{self.topic_prefix}.indexed"

    @property
    def dlq_topic(self) -> str:
        return f"{self.documents_topic}.dlq"

    @property
    def group(self) -> str:
        return f"twin-test-emb-{self.suffix}"


def create_rig(tmp_path: Path) -> Rig:
    pg = PostgresSettings()
    suffix = uuid.uuid4().hex[:10]
    name = f"twin_test_emb_{suffix}"
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    migrate(pg.dsn(name))
    return Rig(dsn=pg.dsn(name), database=name, suffix=suffix, store_path=tmp_path / "store")


def start_connector(rig: Rig) -> None:
    config = connector.connector_config(
        database=rig.database, topic_prefix=rig.topic_prefix, slot_name=rig.slot, publication_name=rig.slot
    )
    connector.register(rig.connect_url, rig.connector, config)
    assert connector.wait_running(rig.connect_url, rig.connector).running


def teardown_rig(rig: Rig) -> None:
    connector.delete(rig.connect_url, rig.connector)
    drop_slot_and_publication(rig.dsn, rig.slot, rig.slot)
    drop_test_database(rig.database)
    delete_kafka_resources(rig.topic_prefix, [rig.group], BOOTSTRAP)


class Worker(ServiceProcess):
    """The `twin-embedder` process, configured for one rig."""

    def __init__(self, rig: Rig, log_dir: Path, **extra_env: str):
        self.rig = rig
        port = free_port()
        self.spans_path = log_dir / "spans.jsonl"
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TWIN_TOPIC": rig.documents_topic,
            "TWIN_GROUP_ID": rig.group,
            "TWIN_INDEXED_TOPIC": rig.indexed_topic,
            "TWIN_STORE_PATH": str(rig.store_path),
            "TWIN_HTTP_PORT": str(port),
            "TWIN_BACKOFF_S": "0.05",
            "TWIN_OTEL_SPANS_FILE": str(self.spans_path),
            "TWIN_OTEL_LOCAL_COLLECTOR": "",  # spans to the file above even when the stack's collector runs
            **extra_env,
        }
        super().__init__("twin_embedder", env, log_dir / f"worker-{port}.log", port, headers=service_token_header())

    def wait_ready(self, timeout: float = 300.0) -> None:  # imports alone take minutes on a loaded 2-core machine
        super().wait_ready(timeout, interval=0.2)

    def get(self, path: str) -> dict:
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()

    def points(self, tenant: str, document_id: str) -> list[dict]:
        return self.get(f"/v1/tenants/{tenant}/documents/{document_id}/points")["points"]


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition", interval=0.2):
    return shared_wait_for(condition, timeout, what, interval)


def group_caught_up(rig: Rig) -> bool:
    """The worker's group has committed up to the end of the documents topic."""
    from twin_embedder.metrics import consumer_lag

    lag = consumer_lag(BOOTSTRAP, rig.group, rig.documents_topic)
    return bool(lag) and all(v == 0 for v in lag.values())


def seed_author(conn: psycopg.Connection, tenant: str) -> str:
    conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", (tenant, tenant))
    return str(
        conn.execute("INSERT INTO authors (tenant_id, name) VALUES (%s, 'Ada') RETURNING id", (tenant,)).fetchone()[0]
    )


def json_value(record) -> dict | None:
    return json.loads(record.value) if record.value else None


class FeastView:
    """The worker's Feast project, read from the test: online document and author features."""

    def __init__(self, project: str, data_dir):
        self.store = open_store(project, data_dir)
        self.ledger = open_ledger(project)

    def document(self, document_id: str) -> dict:
        out = self.store.get_online_features(
            features=[
                "document_stats:chunk_count",
                "document_stats:token_count",
                "document_stats:deleted",
                "document_stats:author_id",
            ],
            entity_rows=[{"document_id": document_id}],
        ).to_dict()
        return {k: v[0] for k, v in out.items()}

    def author_documents(self, author_id: str) -> int | None:
        out = self.store.get_online_features(
            features=["author_stats:document_count"], entity_rows=[{"author_id": author_id}]
        ).to_dict()
        return out["document_count"][0]

    def holds(self, chunker, row: DocumentRow) -> bool:
        chunks = chunker.chunk(row)
        return self.document(row.id) == {
            "document_id": row.id,
            "chunk_count": len(chunks),
            "deleted": False,
            "token_count": sum(c.token_count for c in chunks),
            "author_id": row.author_id,
        }

    def close(self) -> None:
        self.store.teardown()
        self.ledger.clear()

    def documents(self, document_ids: list[str]) -> dict[str, dict]:
        out = self.store.get_online_features(
            features=["document_stats:chunk_count", "document_stats:token_count", "document_stats:deleted"],
            entity_rows=[{"document_id": d} for d in document_ids],
        ).to_dict()
        return {
            d: {k: out[k][i] for k in ("chunk_count", "token_count", "deleted")} for i, d in enumerate(document_ids)
        }

    def author(self, author_id: str) -> dict:
        out = self.store.get_online_features(
            features=["author_stats:document_count", "author_stats:token_count"], entity_rows=[{"author_id": author_id}]
        ).to_dict()
        return {"document_count": out["document_count"][0], "token_count": out["token_count"][0]}


# --- streams of changes and what the stores must hold afterwards (crash and outage tests) ---------------------


def document_content(rng, n: int) -> str:
    """Small documents; one in twenty has 60 sentences (two article chunks), so updates grow and shrink some."""
    return " ".join(
        f"Sentence {i} mentions {rng.choice(['bees', 'wasps', 'ants', 'hives'])} and {n}."
        for i in range(rng.choice([1] * 10 + [4] * 9 + [60]))
    )


def plan_changes(ids: list[str], updates: int, deletes: int, seed: int = 7) -> list[tuple[str, str]]:
    """(op, document id) for one insert per id, then `updates` random updates, then `deletes` distinct deletes."""
    import random

    rng = random.Random(seed)
    ops = [("c", doc_id) for doc_id in ids]
    ops += [("u", rng.choice(ids)) for _ in range(updates)]
    ops += [("d", doc_id) for doc_id in rng.sample(ids, deletes)]
    return ops


def events_of(ops: list[tuple[str, str]]) -> int:
    """Messages Debezium writes for these changes (a delete is followed by a tombstone)."""
    return sum(2 if op == "d" else 1 for op, _ in ops)


def write_changes(
    dsn: str, tenant: str, author: str, ops: list[tuple[str, str]], first: int = 0, seed: int = 7
) -> None:
    """Apply `ops` to public.documents, 20 to a transaction; change number n gets content hash h<n>."""
    import random

    rng = random.Random(seed + first)
    with psycopg.connect(dsn) as conn:
        for start in range(0, len(ops), 20):
            with conn.transaction():
                for n, (op, doc_id) in enumerate(ops[start : start + 20], first + start):
                    if op == "c":
                        conn.execute(
                            "INSERT INTO documents (id, tenant_id, author_id, kind, external_id, title,"
                            " content, content_hash) VALUES (%s, %s, %s, 'article', %s, 'T', %s, %s)",
                            (doc_id, tenant, author, f"e{doc_id}", document_content(rng, n), f"h{n}"),
                        )
                    elif op == "u":
                        conn.execute(
                            "UPDATE documents SET content = %s, content_hash = %s WHERE id = %s",
                            (document_content(rng, n), f"h{n}", doc_id),
                        )
                    else:
                        conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,))


def final_rows(dsn: str, tenant: str) -> dict[str, DocumentRow]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("SELECT * FROM documents WHERE tenant_id = %s", (tenant,))
        names = [d.name for d in cur.description]
        rows = {}
        for values in cur.fetchall():
            record = {k: (str(v) if k in ("id", "author_id") else v) for k, v in zip(names, values, strict=True)}
            rows[record["id"]] = DocumentRow.model_validate(record)
        return rows


@dataclass
class Convergence:
    """How the stores differ from the final rows: documents lost (missing or partly missing), stale (an older
    version or wrong features), and chunks held twice or left over (duplicates)."""

    documents: int = 0
    lost: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    duplicates: int = 0

    def line(self) -> str:
        return f"{self.documents} documents: {len(self.lost)} lost, {len(self.stale)} stale, {self.duplicates} duplicate chunks"


def store_convergence(
    worker: Worker, chunker, rows: dict[str, DocumentRow], ids: list[str], tenant: str
) -> Convergence:
    """Compare every document's points in the worker's store with the chunks of its final row (none if deleted)."""
    result = Convergence(documents=len(ids))
    for doc_id in ids:
        expected = {c.chunk_id for c in chunker.chunk(rows[doc_id])} if doc_id in rows else set()
        stored = worker.points(tenant, doc_id)
        stored_ids = [p["id"] for p in stored]
        result.duplicates += len(stored_ids) - len(set(stored_ids)) + len(set(stored_ids) - expected)
        if expected - set(stored_ids):
            result.lost.append(doc_id)
        elif set(stored_ids) != expected or any(p["content_hash"] != rows[doc_id].content_hash for p in stored):
            result.stale.append(doc_id)
    return result


def feast_convergence(
    feast: FeastView, chunker, rows: dict[str, DocumentRow], ids: list[str], author: str
) -> Convergence:
    """Compare Feast's online document_stats of every document, and the author's author_stats, with the rows."""
    result = Convergence(documents=len(ids))
    online = feast.documents(ids)
    live_tokens = 0
    for doc_id in ids:
        if doc_id in rows:
            chunks = chunker.chunk(rows[doc_id])
            tokens = sum(c.token_count for c in chunks)
            live_tokens += tokens
            expected = {"chunk_count": len(chunks), "token_count": tokens, "deleted": False}
        else:
            expected = {"chunk_count": 0, "token_count": 0, "deleted": True}
        if online[doc_id]["chunk_count"] is None:
            result.lost.append(doc_id)
        elif online[doc_id] != expected:
            result.stale.append(doc_id)
    if feast.author(author) != {"document_count": len(rows), "token_count": live_tokens}:
        result.stale.append(f"author {author}: {feast.author(author)} != {len(rows)} documents / {live_tokens} tokens")
    return result
