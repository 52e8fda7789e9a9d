"""`python -m twin_trainer` as a process on the real stack: it becomes ready, consumes DocumentIndexed events,
counts an author's changed documents (looked up in PostgreSQL), and reports them and its triggers over HTTP."""

from __future__ import annotations

import uuid

import httpx
import pytest
from stack_support import wait_for
from trainer_support import TrainerService, author_id_of, delete_tenant, document_ids, ingest_corpus
from twin_common.settings import KafkaSettings, PostgresSettings
from twin_trainer.continuous.store import TriggerStore


@pytest.fixture
def service(tmp_path):
    suffix = uuid.uuid4().hex[:8]
    tenant = f"svc-{suffix}"
    ingest_corpus(tenant)
    service = TrainerService.start(suffix, tmp_path, TWIN_DOCUMENTS_PER_RUN="1000")  # counting only: no run here
    yield tenant, service
    service.stop()
    delete_tenant(tenant)


def test_the_service_counts_changed_documents_per_author(service):
    from kafka import KafkaProducer

    tenant, svc = service
    svc.wait_ready()
    svc.publish_indexed(tenant, document_ids(tenant, 2))
    producer = KafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers, acks="all")
    try:
        producer.send(svc.env["TWIN_INDEXED_TOPIC"], value=b"not an event").get(timeout=30)  # poison: dead-lettered
    finally:
        producer.close()
    stats = wait_for(
        lambda: (s := httpx.get(f"{svc.url}/v1/stats").json())["indexed"] == 3 and s,
        90,
        "three messages",
        tolerate=(httpx.HTTPError,),
    )
    assert stats["dead_letters"] == 1
    assert TriggerStore(PostgresSettings().dsn()).pending_count(tenant, author_id_of(tenant)) == 2
    assert httpx.get(f"{svc.url}/v1/triggers", params={"tenant": tenant}).json() == {"triggers": []}
