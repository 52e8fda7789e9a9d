"""The twin-trainer consumer on the real Kafka and PostgreSQL: a run starts after N new documents of an author;
triggers during a run start nothing (documents wait, a drift alert is skipped), and the waiting documents start
the next run only after the first has finished: never two runs of one author at once."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from stack_support import wait_for
from trainer_support import author_id_of, delete_tenant, document_ids, ingest_corpus, publish_indexed
from twin_common.events import DriftAlert
from twin_common.settings import KafkaSettings, PostgresSettings
from twin_trainer.continuous.consumer import TrainerConsumer
from twin_trainer.continuous.coordinator import TrainingCoordinator
from twin_trainer.continuous.launcher import InProcessLauncher, RunRequest
from twin_trainer.continuous.store import TriggerStore
from twin_trainer.runlock import AuthorRunLock
from twin_trainer.settings import TrainerSettings

N = 3


class StubRuns:
    """Stands in for the training run: records when each run starts and ends, finishes when released."""

    def __init__(self):
        self.started: list[tuple[RunRequest, float]] = []
        self.ended: list[float] = []
        self.release = [threading.Event() for _ in range(5)]
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, request: RunRequest):
        with self._lock:
            index = len(self.started)
            self.started.append((request, time.monotonic()))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        assert self.release[index].wait(120), "the test never released the run"
        with self._lock:
            self.active -= 1
            self.ended.append(time.monotonic())
        return None


@pytest.fixture
def rig():
    suffix = uuid.uuid4().hex[:10]
    tenant = f"trig-{suffix}"
    ingest_corpus(tenant)
    settings = TrainerSettings(
        indexed_topic=f"test-trainer-indexed-{suffix}",
        drift_topic=f"test-trainer-drift-{suffix}",
        group_id=f"test-trainer-{suffix}",
        documents_per_run=N,
    )
    yield tenant, settings
    delete_tenant(tenant)
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=KafkaSettings().bootstrap_servers)
    try:
        existing = set(admin.list_topics())
        admin.delete_topics([t for t in (settings.indexed_topic, settings.drift_topic) if t in existing])
    finally:
        admin.close()


def run_consumer(consumer: TrainerConsumer, stop: threading.Event, ready: threading.Event) -> None:
    async def main():
        await consumer.start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await consumer.stop()

    asyncio.run(main())


def test_runs_start_after_n_documents_and_never_overlap(rig):
    from kafka import KafkaProducer

    tenant, settings = rig
    author = author_id_of(tenant)
    dsn = PostgresSettings().dsn()
    store = TriggerStore(dsn)
    store.ensure_schema()
    runs = StubRuns()
    coordinator = TrainingCoordinator(
        store, None, documents_per_run=N, drift_targets=lambda alert: [(alert.tenant_id, author)]
    )
    coordinator.launcher = InProcessLauncher(dsn, runs, on_finished=coordinator.on_run_finished)
    consumer = TrainerConsumer(settings, coordinator)
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=run_consumer, args=(consumer, stop, ready), daemon=True)
    thread.start()
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    documents = document_ids(tenant)

    def indexed(document_id: str) -> None:  # as the embedder publishes it: no author id, the trainer looks it up
        publish_indexed(settings.indexed_topic, tenant, [document_id])

    try:
        assert ready.wait(60), "consumer did not start"
        # N-1 changed documents (one of them twice: a replay or a second edit counts once): no run
        for document_id in [documents[0], documents[1], documents[1]]:
            indexed(document_id)
        wait_for(lambda: consumer.stats.indexed == 3, timeout=90, what="three events consumed")
        assert runs.started == [] and store.pending_count(tenant, author) == 2

        # the N-th document starts a run
        indexed(documents[2])
        wait_for(lambda: len(runs.started) == 1, timeout=90, what="the first run")
        first = runs.started[0][0]
        assert (first.tenant_id, first.author_id, first.kind) == (tenant, author, "documents")
        assert "3 new or changed documents" in first.reason
        assert store.pending_count(tenant, author) == 0
        # a run of this author holds the lock: `twin train twin` elsewhere would find it taken
        assert not AuthorRunLock(dsn, tenant, author).try_acquire()

        # during the run: N more documents and a drift alert start nothing
        for document_id in documents[3:6]:
            indexed(document_id)
        alert = DriftAlert(
            alert_id=f"a-{uuid.uuid4().hex[:6]}",
            tenant_id=tenant,
            metric="query_embedding_drift",
            score=0.4,
            threshold=0.1,
            window_id="w1",
        )
        producer.send(settings.drift_topic, value=alert.to_bytes()).get(timeout=30)
        wait_for(
            lambda: consumer.stats.indexed == 7 and consumer.stats.drift_alerts == 1, timeout=90, what="events consumed"
        )
        time.sleep(1.0)  # give a wrongly started run the chance to show up
        assert len(runs.started) == 1
        outcomes = {(r.kind, r.outcome) for r in store.triggers(tenant, author)}
        assert ("documents", "deferred") in outcomes and ("drift", "skipped") in outcomes

        # the first run ends: the waiting documents start the second run, after it
        runs.release[0].set()
        wait_for(lambda: len(runs.started) == 2, timeout=90, what="the second run")
        assert runs.started[1][1] >= runs.ended[0]
        assert "during the previous run" in runs.started[1][0].reason
        runs.release[1].set()
        wait_for(lambda: runs.active == 0 and len(runs.ended) == 2, timeout=90, what="the second run to end")
        assert runs.max_active == 1

        def final():  # in trigger order; a run's outcome is written once the launcher has released the lock
            return [(r.kind, r.outcome) for r in reversed(store.triggers(tenant, author))]

        wait_for(lambda: final()[-1] == ("documents", "succeeded"), timeout=90, what="the second run's outcome")
        assert final()[0] == ("documents", "succeeded") and len(final()) == 4
        # the lock is free again
        lock = AuthorRunLock(dsn, tenant, author)
        assert lock.try_acquire()
        lock.release()
    finally:
        for event in runs.release:
            event.set()
        stop.set()
        thread.join(30)
        producer.close()
