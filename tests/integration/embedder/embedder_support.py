"""Helpers of the embedder integration tests: a private database + Debezium connector, and the worker process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from twin_cdc import connector
from twin_cdc.replication import drop_slot_and_publication
from twin_common.documents import DocumentRow
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
    with psycopg.connect(PostgresSettings().dsn("postgres"), autocommit=True) as admin:
        for (slot,) in admin.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (rig.database,)
        ).fetchall():
            admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        admin.execute(f'DROP DATABASE IF EXISTS "{rig.database}" WITH (FORCE)')
    admin_client = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        mine = [t for t in admin_client.list_topics() if t.startswith(rig.topic_prefix + ".")]
        if mine:
            admin_client.delete_topics(mine)
        try:
            admin_client.delete_consumer_groups([rig.group])
        except Exception:  # noqa: BLE001 - a group that never committed does not exist
            pass
    finally:
        admin_client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Worker:
    """The `twin-embedder` process, configured for one rig."""

    def __init__(self, rig: Rig, log_dir: Path, **extra_env: str):
        self.rig = rig
        self.port = free_port()
        self.log_path = log_dir / f"worker-{self.port}.log"
        self.spans_path = log_dir / "spans.jsonl"
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TWIN_TOPIC": rig.documents_topic,
            "TWIN_GROUP_ID": rig.group,
            "TWIN_INDEXED_TOPIC": rig.indexed_topic,
            "TWIN_STORE_PATH": str(rig.store_path),
            "TWIN_HTTP_PORT": str(self.port),
            "TWIN_BACKOFF_S": "0.05",
            "TWIN_OTEL_SPANS_FILE": str(self.spans_path),
            "TWIN_OTEL_LOCAL_COLLECTOR": "",  # spans to the file above even when the stack's collector runs
            **extra_env,
        }
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "twin_embedder"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def wait_ready(self, timeout: float = 300.0) -> None:  # imports alone take minutes on a loaded 2-core machine
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}: {self.tail()}")
            try:
                if self.http.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout}s: {self.tail()}")

    def get(self, path: str) -> dict:
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()

    def points(self, tenant: str, document_id: str) -> list[dict]:
        return self.get(f"/v1/tenants/{tenant}/documents/{document_id}/points")["points"]

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._close()

    def _close(self) -> None:
        self.http.close()
        self.log.close()


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition", interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not met after {timeout}s (last: {last!r})")


def read_topic(topic: str, timeout_ms: int = 1000) -> list:
    """Every record of `topic` from the beginning (empty if the topic does not exist yet)."""
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        records = []
        deadline = time.monotonic() + timeout_ms / 1000 + 5
        while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


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
