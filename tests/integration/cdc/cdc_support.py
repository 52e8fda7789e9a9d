"""Helpers of the CDC integration tests (a module with its own name, imported by tests and conftest)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from twin_cdc import connector
from twin_cdc.replication import drop_slot_and_publication
from twin_common.settings import KafkaSettings, PostgresSettings
from twin_ingest.db import migrate


def create_source_db() -> str:
    """A fresh database twin_test_<uuid> with the source schema migrated; returns its DSN."""
    pg = PostgresSettings()
    name = f"twin_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    migrate(pg.dsn(name))
    return pg.dsn(name)


def drop_source_db(dsn: str, timeout: float = 30.0) -> None:
    """Drop the test database, first ending and dropping any replication slot still in it.

    A connector task deleted while it was starting can create its slot after the test dropped it; every
    slot in this uniquely named database belongs to this test.
    """
    name = dsn.rsplit("/", 1)[1]
    with psycopg.connect(PostgresSettings().dsn("postgres"), autocommit=True) as admin:
        deadline = time.monotonic() + timeout
        while True:
            slots = admin.execute(
                "SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = %s", (name,)
            ).fetchall()
            if not slots:
                break
            for slot, active_pid in slots:
                if active_pid is not None:
                    admin.execute("SELECT pg_terminate_backend(%s)", (active_pid,))
                else:  # a logical slot is dropped from its own database
                    with psycopg.connect(dsn, autocommit=True) as own:
                        own.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            if time.monotonic() > deadline:
                raise AssertionError(f"replication slots {slots} in {name} would not go away")
            time.sleep(0.2)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class CdcRig:
    dsn: str
    database: str
    name: str
    slot: str
    publication: str
    topic_prefix: str
    connect_url: str

    def topic(self, table: str) -> str:
        return f"{self.topic_prefix}.public.{table}"

    def config(self, **overrides) -> dict[str, str]:
        return connector.connector_config(
            database=self.database,
            topic_prefix=self.topic_prefix,
            slot_name=self.slot,
            publication_name=self.publication,
            **overrides,
        )


def make_rig(dsn: str, connect_url: str) -> CdcRig:
    suffix = uuid.uuid4().hex[:10]
    return CdcRig(
        dsn=dsn,
        database=dsn.rsplit("/", 1)[1],
        name=f"twin-test-{suffix}",
        slot=f"twin_test_{suffix}",
        publication=f"twin_test_{suffix}",
        topic_prefix=f"twintest{suffix}",
        connect_url=connect_url,
    )


def teardown_rig(rig: CdcRig, delete_connector: bool = True) -> None:
    """Remove the connector, then its slot and publication, then every topic it wrote."""
    if delete_connector:
        connector.delete(rig.connect_url, rig.name)
    drop_slot_and_publication(rig.dsn, rig.slot, rig.publication)
    delete_topics(lambda topic: topic.startswith(rig.topic_prefix + ".") or topic.endswith("." + rig.topic_prefix))


def delete_topics(matches: Callable[[str], bool]) -> None:
    """Delete this test's own topics (names it generated; never another test's)."""
    admin = KafkaAdminClient(bootstrap_servers=KafkaSettings().bootstrap_servers)
    try:
        doomed = [topic for topic in admin.list_topics() if matches(topic)]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


def consume(topic: str, stop: Callable[[list], bool], timeout: float = 60.0) -> list:
    """Read `topic` from the beginning until stop(records) holds; records are (key, value|None, offset).

    The value is the parsed JSON envelope, or None for a tombstone.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=KafkaSettings().bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=500,
    )
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not consumer.assignment():
                partitions = consumer.partitions_for_topic(topic)
                if partitions:
                    consumer.assign([TopicPartition(topic, p) for p in partitions])
                    consumer.seek_to_beginning()
                else:
                    time.sleep(0.2)
                    continue
            for batch in consumer.poll(timeout_ms=200).values():
                for message in batch:
                    key = json.loads(message.key) if message.key else None
                    value = json.loads(message.value) if message.value else None
                    records.append((key, value, message.partition, message.offset))
            if stop(records):
                return records
        raise AssertionError(f"{topic}: condition not met after {timeout}s with {len(records)} records")
    finally:
        consumer.close()
