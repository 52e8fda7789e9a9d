"""CDC latency and throughput: PostgreSQL commit -> Debezium (Kafka Connect) -> Kafka -> consumer.

(a) commit-to-consumer latency over N single-row INSERT transactions, read by a FastStream (faststream[kafka])
    per-message subscriber: receive time minus Debezium `source.ts_ms` (the transaction's commit time).
(b) commit-to-topic latency and changes/s over M single-row UPDATE transactions: the topic uses
    LogAppendTime, so each record's Kafka timestamp is when the broker appended it; latency is that minus
    `source.ts_ms`; changes/s is M over (last append - first commit).

Each figure is printed for the low-latency connector config (twin_cdc.connector defaults: poll.interval.ms=10,
producer linger.ms=0) next to a baseline measured in the same run with Debezium's and Kafka's defaults.
Everything runs in a private database, slot, publication, connector and topics, removed at the end.

    .venv/bin/python benchmarks/cdc_latency.py [--inserts 1000] [--updates 10000] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from dataclasses import dataclass

import psycopg
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from twin_cdc import connector
from twin_cdc.replication import drop_slot_and_publication
from twin_common.settings import ConnectSettings, KafkaSettings, PostgresSettings
from twin_ingest.db import migrate

LOW_LATENCY_KEYS = ("poll.interval.ms", "producer.override.linger.ms")


@dataclass
class Figures:
    consumer_ms: list[float]
    topic_ms: list[float]
    changes_per_s: float
    writer_per_s: float


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


class Rig:
    """A private database with the source schema, a connector and its topics."""

    def __init__(self, label: str, low_latency: bool):
        suffix = uuid.uuid4().hex[:8]
        self.pg, self.connect_url = PostgresSettings(), ConnectSettings().url
        self.bootstrap = KafkaSettings().bootstrap_servers
        self.database = f"twin_bench_{suffix}"
        self.name, self.slot = f"bench-{label}-{suffix}", f"bench_{suffix}"
        self.prefix = f"bench{suffix}"
        self.topic = f"{self.prefix}.public.documents"
        self.low_latency = low_latency

    @property
    def dsn(self) -> str:
        return self.pg.dsn(self.database)

    def up(self) -> str:
        with psycopg.connect(self.pg.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        migrate(self.dsn)
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO tenants (id) VALUES ('bench')")
            author = conn.execute("INSERT INTO authors (tenant_id, name) VALUES ('bench', 'b') RETURNING id")
            author_id = str(author.fetchone()[0])
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:  # created here so the broker stamps each record with its append time
            admin.create_topics([NewTopic(self.topic, 3, 1, topic_configs={"message.timestamp.type": "LogAppendTime"})])
        finally:
            admin.close()
        config = connector.connector_config(
            database=self.database,
            pg=self.pg,
            topic_prefix=self.prefix,
            slot_name=self.slot,
            publication_name=self.slot,
        )
        if not self.low_latency:
            for key in LOW_LATENCY_KEYS:
                config.pop(key)
        connector.register(self.connect_url, self.name, config)
        connector.wait_running(self.connect_url, self.name, timeout=120)
        return author_id

    def down(self) -> None:
        try:
            connector.delete(self.connect_url, self.name)
            drop_slot_and_publication(self.dsn, self.slot, self.slot)
        finally:
            with psycopg.connect(self.pg.dsn("postgres"), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
            try:
                doomed = [t for t in admin.list_topics() if t.startswith(self.prefix + ".") or t.endswith(self.prefix)]
                if doomed:
                    admin.delete_topics(doomed)
            finally:
                admin.close()


def insert(conn: psycopg.Connection, author_id: str, external_id: str) -> None:
    conn.execute(
        "INSERT INTO documents (tenant_id, author_id, kind, external_id, content, content_hash)"
        " VALUES ('bench', %s, 'note', %s, 'x', 'h')",
        (author_id, external_id),
    )


async def commit_to_consumer(rig: Rig, author_id: str, rows: int, gap_s: float) -> list[float]:
    """(a): insert `rows` rows one transaction each; the FastStream handler notes when each arrives."""
    latencies: dict[str, float] = {}
    arrived = {"warmup": asyncio.Event(), "all": asyncio.Event()}
    broker = KafkaBroker(rig.bootstrap, logger=None)

    @broker.subscriber(rig.topic, group_id=f"bench-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest")
    async def on_change(message: KafkaMessage) -> None:
        received_ms = time.time() * 1000
        if not message.body:
            return  # tombstone
        event = json.loads(message.body)
        external_id = event["after"]["external_id"]
        if external_id == "warmup":
            arrived["warmup"].set()
            return
        latencies[external_id] = received_ms - event["source"]["ts_ms"]
        if len(latencies) >= rows:
            arrived["all"].set()

    async with broker:
        await broker.start()
        with psycopg.connect(rig.dsn, autocommit=True) as conn:
            insert(conn, author_id, "warmup")  # waits out the group join and first fetch
            await asyncio.wait_for(arrived["warmup"].wait(), 120)
            for number in range(rows):
                insert(conn, author_id, f"a-{number}")
                await asyncio.sleep(gap_s)
        await asyncio.wait_for(arrived["all"].wait(), 120)
    return list(latencies.values())


async def commit_to_topic(rig: Rig, author_id: str, updates: int) -> tuple[list[float], float, float]:
    """(b): `updates` single-row UPDATE transactions as fast as the writer commits them."""
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        existing = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        conn.execute(
            "INSERT INTO documents (tenant_id, author_id, kind, external_id, content, content_hash)"
            " SELECT 'bench', %s, 'note', 'b-' || n, 'x', 'h' FROM generate_series(1, %s) AS n",
            (author_id, max(0, updates - existing)),
        )
        ids = [row[0] for row in conn.execute("SELECT id FROM documents ORDER BY external_id LIMIT %s", (updates,))]
    consumer = AIOKafkaConsumer(
        rig.topic,
        bootstrap_servers=rig.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        started = time.monotonic()
        with psycopg.connect(rig.dsn, autocommit=True) as conn:
            conn.execute("SET synchronous_commit = off")
            with conn.pipeline():
                for number, doc_id in enumerate(ids):
                    conn.execute(
                        "UPDATE documents SET content = %s, content_hash = %s WHERE id = %s",
                        (f"v{number}", f"h{number}", doc_id),
                    )
        writer_per_s = len(ids) / (time.monotonic() - started)
        pairs: list[tuple[int, int]] = []  # (commit ms, append ms)
        deadline = time.monotonic() + 180
        while len(pairs) < len(ids) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    if record.value and b'"op":"u"' in record.value:
                        event = json.loads(record.value)
                        pairs.append((event["source"]["ts_ms"], record.timestamp))
    finally:
        await consumer.stop()
    if len(pairs) < len(ids):
        raise RuntimeError(f"only {len(pairs)} of {len(ids)} updates reached {rig.topic}")
    latencies = [float(append - commit) for commit, append in pairs]
    span_s = (max(a for _, a in pairs) - min(c for c, _ in pairs)) / 1000
    return latencies, len(pairs) / max(span_s, 1e-3), writer_per_s


async def measure(label: str, low_latency: bool, inserts: int, updates: int, gap_s: float) -> Figures:
    rig = Rig(label, low_latency)
    try:
        author_id = rig.up()
        consumer_ms = await commit_to_consumer(rig, author_id, inserts, gap_s)
        topic_ms, changes_per_s, writer_per_s = await commit_to_topic(rig, author_id, updates)
        return Figures(consumer_ms, topic_ms, changes_per_s, writer_per_s)
    finally:
        rig.down()


def describe(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):7.1f} ms   p95 {percentile(values, 95):7.1f} ms   "
        f"mean {statistics.fmean(values):7.1f} ms   (n={len(values)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inserts", type=int, default=1000, help="(a) rows inserted, one transaction each")
    parser.add_argument("--updates", type=int, default=10_000, help="(b) single-row update transactions")
    parser.add_argument("--gap-ms", type=float, default=5.0, help="(a) pause between inserts")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run with default settings")
    args = parser.parse_args(argv)
    runs = [("low-latency (poll.interval.ms=10, linger.ms=0)", True)]
    if not args.no_baseline:
        runs.append(("baseline (Debezium/Kafka defaults)", False))
    results = []
    for label, low_latency in runs:
        print(f"running {label} ...", file=sys.stderr, flush=True)
        results.append(
            (
                label,
                asyncio.run(
                    measure(
                        "ll" if low_latency else "base", low_latency, args.inserts, args.updates, args.gap_ms / 1000
                    )
                ),
            )
        )
    print(f"\n(a) commit-to-consumer latency, {args.inserts} INSERT transactions, FastStream subscriber")
    for label, figures in results:
        print(f"    {label:<50} {describe(figures.consumer_ms)}")
    print(f"\n(b) commit-to-topic latency, {args.updates} UPDATE transactions (LogAppendTime - source.ts_ms)")
    for label, figures in results:
        print(f"    {label:<50} {describe(figures.topic_ms)}")
    print(f"\n(b) throughput, {args.updates} UPDATE transactions (first commit to last append)")
    for label, figures in results:
        print(
            f"    {label:<50} {figures.changes_per_s:8.0f} changes/s   (writer committed {figures.writer_per_s:.0f}/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
