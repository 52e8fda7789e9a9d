"""A poison message on the CDC topic lands in the dead-letter topic at once (it fails the same way every time),
its offset is committed, and a later valid change is still applied; a dead letter replayed with `twin dlq replay`
after a fix is applied by the running worker."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
from embedder_support import BOOTSTRAP, Worker, read_topic, seed_author, start_connector, wait_for
from kafka import KafkaProducer
from twin_common.events import DeadLetter

REPO = Path(__file__).resolve().parents[3]


def test_poison_message_goes_to_dlq_and_stream_continues(rig, tmp_path):
    start_connector(rig)
    worker = Worker(rig, tmp_path)
    try:
        worker.wait_ready()
        # the read view shows tenant data: only with the service token (health and metrics stay open)
        base = f"http://127.0.0.1:{worker.port}"
        for path in ("/v1/stats", "/v1/tenants/acme/points", "/v1/tenants/acme/documents/x/points"):
            assert httpx.get(base + path, timeout=10).status_code == 401, path
            assert httpx.get(base + path, headers={"x-twin-service-token": "guess"}, timeout=10).status_code == 401
        assert httpx.get(base + "/readyz", timeout=10).status_code == 200
        assert httpx.get(base + "/metrics", timeout=10).status_code == 200
        with psycopg.connect(rig.dsn, autocommit=True) as conn:
            author = seed_author(conn, "acme")
            first = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO documents (id, tenant_id, author_id, kind, external_id, content, content_hash)"
                " VALUES (%s, 'acme', %s, 'note', 'n1', 'first note about bees', 'h1')",
                (first, author),
            )
            wait_for(lambda: worker.points("acme", first), what="first document applied")

            producer = KafkaProducer(bootstrap_servers=BOOTSTRAP)
            producer.send(rig.documents_topic, key=b'{"id": "poison"}', value=b'{"op": "c", "after": {not json')
            producer.send(rig.documents_topic, key=b'{"id": "wrong"}', value=b'{"op": "c", "after": {"id": "x"}}')
            producer.flush()
            producer.close()

            second = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO documents (id, tenant_id, author_id, kind, external_id, content, content_hash)"
                " VALUES (%s, 'acme', %s, 'note', 'n2', 'second note about wasps', 'h2')",
                (second, author),
            )
            points = wait_for(lambda: worker.points("acme", second), what="valid change after the poison applied")
            assert points[0]["content_hash"] == "h2"

        letters = wait_for(lambda: len(r := read_topic(rig.dlq_topic)) >= 2 and r, what="two dead letters")
        events = {e.key: e for e in (DeadLetter.from_bytes(r.value) for r in letters)}
        assert set(events) == {'{"id": "poison"}', '{"id": "wrong"}'}  # keys land on their own partitions
        poison, wrong = events['{"id": "poison"}'], events['{"id": "wrong"}']
        assert poison.value == '{"op": "c", "after": {not json' and poison.key == '{"id": "poison"}'
        assert poison.attempts == 1 and poison.consumer_group == rig.group
        assert poison.source_topic == rig.documents_topic and poison.offset >= 0
        assert "ValidationError" in poison.error or "json" in poison.error.lower()
        assert "InvalidChange" in wrong.error and "DocumentRow" in wrong.error
        assert worker.get("/v1/stats")["dead_letters"] == 2
        # offsets of the poison messages were committed: nothing is left for the group
        from embedder_support import group_caught_up

        wait_for(lambda: group_caught_up(rig), what="group caught up past the poison messages")

        # a valid change that an older worker dead-lettered (its inference service was down): replayed, applied
        third = str(uuid.uuid4())
        row = {
            "id": third,
            "tenant_id": "acme",
            "author_id": author,
            "kind": "note",
            "external_id": "n3",
            "content": "third note about moths",
            "content_hash": "h3",
        }
        letter = DeadLetter(
            source_topic=rig.documents_topic,
            partition=0,
            offset=0,
            key=json.dumps({"id": third}),
            value=json.dumps({"op": "c", "after": row, "source": {"lsn": 1}}),
            error="ModelUnavailable: twin-embed: failed to connect",
            attempts=3,
            consumer_group=rig.group,
        )
        producer = KafkaProducer(bootstrap_servers=BOOTSTRAP)
        producer.send(rig.dlq_topic, value=letter.to_bytes()).get(timeout=30)
        producer.close()
        twin_dlq = [sys.executable, "-m", "twin_cli.main", "dlq", "--topic", rig.dlq_topic]
        listed = subprocess.run([*twin_dlq, "list", "--json"], capture_output=True, text=True, check=True, cwd=REPO)
        [old] = [r for r in map(json.loads, listed.stdout.splitlines()) if r["error"].startswith("ModelUnavailable")]
        replayed = subprocess.run(
            [*twin_dlq, "replay", old["id"]], capture_output=True, text=True, cwd=REPO, check=True
        )
        assert "replayed 1 of 1" in replayed.stdout
        points = wait_for(lambda: worker.points("acme", third), what="the replayed change applied")
        assert points[0]["content_hash"] == "h3" and worker.get("/v1/stats")["dead_letters"] == 2
    finally:
        worker.stop()
