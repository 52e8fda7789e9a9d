"""Helpers of the monitor's integration tests: a private database and topics, the `twin-monitor` process, Kafka."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from kafka import KafkaAdminClient, KafkaProducer
from stack_support import (  # noqa: F401 (the tests import them from here)
    ServiceProcess,
    delete_kafka_resources,
    drop_test_database,
    free_port,
    json_values,
    read_topic,
    wait_for,
)
from twin_common.settings import SERVICE_TOKEN_HEADER, KafkaSettings, PostgresSettings
from twin_ingest.db import migrate
from twin_monitor.auth import gateway_keys_available, static_keys_env

BOOTSTRAP = KafkaSettings().bootstrap_servers
SERVICE_TOKEN = "monitor-test-service-token"
ADMIN = {SERVICE_TOKEN_HEADER: SERVICE_TOKEN}


@dataclass
class Rig:
    """One test's private world: database, topics, consumer group, reports folder."""

    dsn: str
    database: str
    suffix: str
    reports_dir: Path

    @property
    def requests_topic(self) -> str:
        return f"twintestmon{self.suffix}.requests"

    @property
    def feedback_topic(self) -> str:
        return f"twintestmon{self.suffix}.feedback"

    @property
    def models_topic(self) -> str:
        return f"twintestmon{self.suffix}.models"

    @property
    def alerts_topic(self) -> str:
        return f"twintestmon{self.suffix}.alerts"

    @property
    def group(self) -> str:
        return f"twin-test-mon-{self.suffix}"

    def env(self) -> dict[str, str]:
        pg = PostgresSettings()
        return {
            "TWIN_PG_DATABASE": self.database,
            "TWIN_PG_HOST": pg.host,
            "TWIN_PG_PORT": str(pg.port),
            "TWIN_REQUESTS_TOPIC": self.requests_topic,
            "TWIN_FEEDBACK_TOPIC": self.feedback_topic,
            "TWIN_MODELS_TOPIC": self.models_topic,
            "TWIN_ALERTS_TOPIC": self.alerts_topic,
            "TWIN_GROUP_ID": self.group,
            "TWIN_REPORTS_DIR": str(self.reports_dir),
        }


def create_rig(tmp_path: Path, topics: bool = True) -> Rig:
    pg = PostgresSettings()
    suffix = uuid.uuid4().hex[:10]
    name = f"twin_test_mon_{suffix}"
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    migrate(pg.dsn(name))
    rig = Rig(dsn=pg.dsn(name), database=name, suffix=suffix, reports_dir=tmp_path / "reports")
    if not topics:
        return rig
    admin_client = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        from kafka.admin import NewTopic

        # one partition each: the tests read the alert topic in order
        admin_client.create_topics(
            [
                NewTopic(t, num_partitions=1, replication_factor=1)
                for t in (rig.requests_topic, rig.feedback_topic, rig.models_topic, rig.alerts_topic)
            ]
        )
    finally:
        admin_client.close()
    return rig


def teardown_rig(rig: Rig) -> None:
    drop_test_database(rig.database)
    delete_kafka_resources(f"twintestmon{rig.suffix}", [rig.group], BOOTSTRAP)


def make_keys(rig: Rig, tenants: list[str]) -> dict[str, str]:
    """One API key per tenant, {clear key: tenant}: the gateway's keys (api_keys table, created with its own
    create_key) when twin_gateway.keys is installed, else keys the monitor reads from TWIN_MONITOR_KEYS."""
    if gateway_keys_available():
        from twin_gateway.keys.store import create_key
        from twin_gateway.settings import KeySettings

        pepper = KeySettings().pepper.get_secret_value().encode()
        return {create_key(rig.dsn, pepper, tenant, scopes=("search",))[1]: tenant for tenant in tenants}
    return {f"key-{tenant}": tenant for tenant in tenants}


class Monitor(ServiceProcess):
    """The `twin-monitor` process, configured for one rig; tenant keys from TWIN_MONITOR_KEYS."""

    def __init__(self, rig: Rig, log_dir: Path, keys: dict[str, str], **extra_env: str):
        self.rig = rig
        port = free_port()
        env = {
            **os.environ,
            **rig.env(),
            "HF_HUB_OFFLINE": "1",
            "TWIN_HTTP_PORT": str(port),
            "TWIN_SERVICE_TOKEN": SERVICE_TOKEN,
            "TWIN_MONITOR_KEYS": static_keys_env(keys),
            "TWIN_SCHEDULE_INTERVAL_S": "1",
            "TWIN_OTEL_SPANS_FILE": str(log_dir / "spans.jsonl"),
            **extra_env,
        }
        super().__init__("twin_monitor", env, log_dir / f"monitor-{port}.log", port, http_timeout=60)

    def wait_ready(self, timeout: float = 120.0) -> None:
        super().wait_ready(timeout)

    def get(self, path: str, headers: dict | None = None, **params) -> httpx.Response:
        return self.http.get(path, headers=headers or ADMIN, params=params)

    def json(self, path: str, **params) -> dict:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def stats(self) -> dict:
        return self.json("/v1/stats")["consumer"]

    def tail(self) -> str:
        return super().tail(4000)


def producer() -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5)


def produce(rig: Rig, generated: Iterable, extra: Iterable[tuple[str, bytes]] = ()) -> int:
    """Send requests (and their feedback) keyed by tenant, plus any raw (topic, value) records; returns requests."""
    sent = 0
    p = producer()
    try:
        for g in generated:
            key = g.request.tenant_id.encode()
            p.send(rig.requests_topic, g.request.to_bytes(), key=key)
            if g.feedback is not None:
                p.send(rig.feedback_topic, g.feedback.to_bytes(), key=key)
            sent += 1
        for topic, value in extra:
            p.send(topic, value)
        p.flush()
    finally:
        p.close()
    return sent
