"""`python -m twin_trainer` as a process on the real stack: it becomes ready, consumes DocumentIndexed events,
counts an author's changed documents (looked up in PostgreSQL), and reports them and its triggers over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from trainer_support import author_id_of, delete_tenant, delete_topics, free_port, ingest_corpus
from twin_common.events import ChangeOp, DocumentIndexed
from twin_common.settings import KafkaSettings, PostgresSettings
from twin_trainer.continuous.store import TriggerStore


@pytest.fixture
def service(tmp_path):
    suffix = uuid.uuid4().hex[:8]
    tenant = f"svc-{suffix}"
    ingest_corpus(tenant)
    port = free_port()
    env = {
        **os.environ,
        "TWIN_HTTP_PORT": str(port),
        "TWIN_INDEXED_TOPIC": f"test-trainer-svc-indexed-{suffix}",
        "TWIN_DRIFT_TOPIC": f"test-trainer-svc-drift-{suffix}",
        "TWIN_GROUP_ID": f"test-trainer-svc-{suffix}",
        "TWIN_DOCUMENTS_PER_RUN": "1000",  # counting only: no training run in this test
        "TWIN_LOG_JSON": "false",
        "TWIN_OTEL_SPANS_FILE": str(tmp_path / "spans.jsonl"),
    }
    log_path = tmp_path / "trainer.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "twin_trainer"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    yield tenant, env, f"http://127.0.0.1:{port}", process, log_path
    process.terminate()
    process.wait(timeout=30)
    delete_tenant(tenant)
    delete_topics(env["TWIN_INDEXED_TOPIC"], env["TWIN_DRIFT_TOPIC"])


def poll(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = condition()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def test_the_service_counts_changed_documents_per_author(service):
    from kafka import KafkaProducer

    tenant, env, url, process, log_path = service
    poll(
        lambda: process.poll() is None and httpx.get(f"{url}/readyz", timeout=2).status_code == 200,
        120,
        f"readiness ({log_path.read_text(errors='replace')[-2000:] if process.poll() is not None else 'running'})",
    )
    dsn = PostgresSettings().dsn()
    import psycopg

    with psycopg.connect(dsn) as conn:
        documents = [
            r[0] for r in conn.execute("SELECT id::text FROM documents WHERE tenant_id = %s LIMIT 2", (tenant,))
        ]
    producer = KafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers, acks="all")
    try:
        for document_id in documents:
            event = DocumentIndexed(
                tenant_id=tenant,
                document_id=document_id,
                content_hash="sha256:x",
                op=ChangeOp.CREATE,
                chunk_count=1,
                embedding_model="all-MiniLM-L6-v2",
            )
            producer.send(env["TWIN_INDEXED_TOPIC"], value=event.to_bytes()).get(timeout=30)
        producer.send(env["TWIN_INDEXED_TOPIC"], value=b"not an event").get(timeout=30)  # poison: dead-lettered
    finally:
        producer.close()
    stats = poll(lambda: (s := httpx.get(f"{url}/v1/stats").json())["indexed"] == 3 and s, 90, "three messages")
    assert stats["dead_letters"] == 1
    assert TriggerStore(dsn).pending_count(tenant, author_id_of(tenant)) == 2
    assert httpx.get(f"{url}/v1/triggers", params={"tenant": tenant}).json() == {"triggers": []}
