"""`twin dlq list|replay|purge` against the real Kafka broker: dead letters listed with their errors, replayed to
the partition they came from (never over a newer change of the same document unless forced), purged."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from embedder_support import BOOTSTRAP, read_topic
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from twin_common.events import DeadLetter

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def topics(local_stack):
    suffix = uuid.uuid4().hex[:10]
    source, dlq = f"twintestdlq{suffix}.public.documents", f"twintestdlq{suffix}.public.documents.dlq"
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics([NewTopic(source, 2, 1), NewTopic(dlq, 1, 1)])
    yield source, dlq
    admin.delete_topics([source, dlq])
    admin.close()


def twin_dlq(topic: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "twin_cli.main", "dlq", "--topic", topic, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_list_replay_and_purge_dead_letters(topics):
    source, dlq = topics
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP)

    def send(topic, key, value, partition):
        meta = producer.send(topic, key=key.encode(), value=value.encode(), partition=partition).get(timeout=30)
        return meta.offset

    # the source topic: document a changed twice (the first change dead-lettered), b and c once each
    a_old = send(source, '{"id": "a"}', '{"op": "u", "v": "a-old"}', 0)
    b = send(source, '{"id": "b"}', '{"op": "u", "v": "b"}', 0)
    send(source, '{"id": "a"}', '{"op": "u", "v": "a-new"}', 0)
    c = send(source, '{"id": "c"}', '{"op": "u", "v": "c"}', 1)
    for key, value, partition, offset, error in [
        ('{"id": "a"}', '{"op": "u", "v": "a-old"}', 0, a_old, "InvalidChange: row does not match DocumentRow"),
        ('{"id": "b"}', '{"op": "u", "v": "b"}', 0, b, "ValidationError: 1 validation error\nmore lines"),
        ('{"id": "c"}', '{"op": "u", "v": "c"}', 1, c, "InvalidChange: truncate is not supported"),
    ]:
        letter = DeadLetter(
            source_topic=source,
            partition=partition,
            offset=offset,
            key=key,
            value=value,
            error=error,
            attempts=1,
            consumer_group="g",
        )
        producer.send(dlq, key=key.encode(), value=letter.to_bytes()).get(timeout=30)
    producer.close()

    rows = [json.loads(line) for line in twin_dlq(dlq, "list", "--json").stdout.splitlines()]
    assert [(r["id"], r["source"], r["key"]) for r in rows] == [
        ("0:0", f"{source}[0]@{a_old}", '{"id": "a"}'),
        ("0:1", f"{source}[0]@{b}", '{"id": "b"}'),
        ("0:2", f"{source}[1]@{c}", '{"id": "c"}'),
    ]
    assert rows[0]["error"].startswith("InvalidChange") and rows[1]["attempts"] == 1
    text = twin_dlq(dlq, "list").stdout
    assert "3 dead letter(s)" in text and "ValidationError: 1 validation error" in text and "more lines" not in text

    one = twin_dlq(dlq, "replay", "0:1").stdout
    assert f"0:1: replayed to {source}[0]" in one
    replayed = [r for r in read_topic(source) if r.headers]
    assert [(r.partition, r.key, r.value, dict(r.headers)) for r in replayed] == [
        (0, b'{"id": "b"}', b'{"op": "u", "v": "b"}', {"twin-replayed-from": b"0:1"})
    ]

    everything = twin_dlq(dlq, "replay", "--all").stdout
    assert f"0:0: skipped, superseded by {source}[0]@{a_old + 2}" in everything  # the newer change of a
    assert "0:1: skipped, superseded" in everything  # its own replay is the newer message now
    assert f"0:2: replayed to {source}[1]" in everything and "replayed 1 of 3" in everything
    forced = twin_dlq(dlq, "replay", "0:0", "--force").stdout
    assert "replayed 1 of 1" in forced
    assert sorted((r.partition, r.value) for r in read_topic(source) if r.headers) == [
        (0, b'{"op": "u", "v": "a-old"}'),
        (0, b'{"op": "u", "v": "b"}'),
        (1, b'{"op": "u", "v": "c"}'),
    ]

    missing = twin_dlq(dlq, "replay", "0:9", check=False)
    assert missing.returncode == 2 and "no dead letter 0:9" in missing.stderr
    assert twin_dlq(dlq, "purge", check=False).returncode == 2  # --yes is required
    assert "purged 1 dead letter(s)" in twin_dlq(dlq, "purge", "--yes", "--through", "0:0").stdout
    assert [json.loads(line)["id"] for line in twin_dlq(dlq, "list", "--json").stdout.splitlines()] == ["0:1", "0:2"]
    assert "purged 2 dead letter(s)" in twin_dlq(dlq, "purge", "--yes").stdout
    assert twin_dlq(dlq, "list", "--json").stdout == ""
