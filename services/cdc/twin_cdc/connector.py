"""The Debezium PostgreSQL connector: its configuration and its life cycle on Kafka Connect's REST API.

`connector_config(...)` builds the configuration (pgoutput, a publication limited to the source tables,
snapshot on first start then streaming, tombstones after deletes, low-latency polling, JSON without
schemas). `register(connect_url, name, config)` creates or updates it idempotently; `status` reads
its state; `restart_failed` restarts only the failed connector/tasks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from twin_common.settings import PostgresSettings
from twin_common.topics import CDC_SCHEMA, CDC_TOPIC_PREFIX

SOURCE_TABLES: tuple[str, ...] = ("tenants", "authors", "documents")
DEFAULT_SLOT = "twin_cdc"
DEFAULT_PUBLICATION = "twin_cdc"
CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


class ConnectError(RuntimeError):
    """Kafka Connect refused a request or did not answer as expected."""


def connector_config(
    *,
    database: str | None = None,
    pg: PostgresSettings | None = None,
    topic_prefix: str = CDC_TOPIC_PREFIX,
    slot_name: str = DEFAULT_SLOT,
    publication_name: str = DEFAULT_PUBLICATION,
    tables: tuple[str, ...] = SOURCE_TABLES,
    schema: str = CDC_SCHEMA,
    poll_interval_ms: int = 10,
    snapshot_mode: str = "initial",
    heartbeat_interval_ms: int = 10_000,
) -> dict[str, str]:
    """The Debezium PostgreSQL connector configuration (all values strings, as Connect stores them).

    Topics are `<topic_prefix>.<schema>.<table>`; the defaults give `twin.cdc.public.documents`.
    """
    pg = pg or PostgresSettings()
    return {
        "connector.class": CONNECTOR_CLASS,
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": pg.host,
        "database.port": str(pg.port),
        "database.user": pg.user,
        "database.password": pg.password,
        "database.dbname": database or pg.database,
        "topic.prefix": topic_prefix,
        "slot.name": slot_name,
        "publication.name": publication_name,
        # Debezium creates the publication for exactly the included tables if it does not exist yet.
        "publication.autocreate.mode": "filtered",
        "table.include.list": ",".join(f"{schema}.{table}" for table in tables),
        "snapshot.mode": snapshot_mode,  # initial: snapshot on first start, then stream from the slot
        "tombstones.on.delete": "true",
        # The topic contract: JSON key and value without embedded schemas, whatever the worker defaults.
        "key.converter": JSON_CONVERTER,
        "key.converter.schemas.enable": "false",
        "value.converter": JSON_CONVERTER,
        "value.converter.schemas.enable": "false",
        # Low latency: poll the change queue every few ms, send batches at once.
        "poll.interval.ms": str(poll_interval_ms),
        "producer.override.linger.ms": "0",
        # Heartbeats let the slot's confirmed position advance while the source database is idle.
        "heartbeat.interval.ms": str(heartbeat_interval_ms),
        # -1: the broker's default.replication.factor, which the chart derives from the cluster size (min(3, brokers))
        # and the local stack leaves at 1 (connect-runtime 4.1 accepts -1 for "the broker's default")
        "topic.creation.default.replication.factor": "-1",
        "topic.creation.default.partitions": "3",
    }


@dataclass
class ConnectorStatus:
    name: str
    connector_state: str
    task_states: list[str] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return (
            self.connector_state == "RUNNING"
            and bool(self.task_states)
            and all(state == "RUNNING" for state in self.task_states)
        )

    @property
    def failed(self) -> bool:
        return self.connector_state == "FAILED" or "FAILED" in self.task_states


@dataclass
class RegisterResult:
    name: str
    action: str  # "created", "updated" or "unchanged"


def _rebalancing(response: httpx.Response) -> bool:
    """Connect is rebalancing its workers: 409, or 500 "a rebalance is expected" right after a connector change."""
    return response.status_code == 409 or (response.status_code == 500 and "rebalance" in response.text)


def _request(method: str, url: str, *, retries: int = 20, **kwargs: Any) -> httpx.Response:
    """One REST call; answers during a rebalance and connection errors are retried for a while."""
    last: Exception | httpx.Response | None = None
    for _ in range(retries):
        try:
            response = httpx.request(method, url, timeout=30, **kwargs)
        except httpx.TransportError as exc:
            last = exc
        else:
            if not _rebalancing(response):
                return response
            last = response
        time.sleep(0.5)
    if isinstance(last, httpx.Response):
        return last
    raise ConnectError(f"Kafka Connect at {url} did not answer: {last}")


def get_config(connect_url: str, name: str) -> dict[str, str] | None:
    response = _request("GET", f"{connect_url}/connectors/{name}/config")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise ConnectError(f"GET config of {name}: HTTP {response.status_code} {response.text}")
    return response.json()


def register(connect_url: str, name: str, config: dict[str, str]) -> RegisterResult:
    """Create the connector, or update it when its config differs; nothing happens when it is equal."""
    config = {key: str(value) for key, value in config.items()}
    current = get_config(connect_url, name)
    if current is not None:
        current = {key: value for key, value in current.items() if key != "name"}
        if current == config:
            return RegisterResult(name, "unchanged")
    response = _request("PUT", f"{connect_url}/connectors/{name}/config", json=config)
    if response.status_code not in (200, 201):
        raise ConnectError(f"PUT config of {name}: HTTP {response.status_code} {response.text}")
    return RegisterResult(name, "created" if current is None else "updated")


def status(connect_url: str, name: str) -> ConnectorStatus | None:
    """The connector's state and its tasks' states; None when no such connector exists."""
    response = _request("GET", f"{connect_url}/connectors/{name}/status")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise ConnectError(f"GET status of {name}: HTTP {response.status_code} {response.text}")
    body = response.json()
    tasks = sorted(body.get("tasks", []), key=lambda t: t.get("id", 0))
    traces = [t["trace"] for t in [body["connector"], *tasks] if t.get("trace")]
    return ConnectorStatus(name, body["connector"]["state"], [t["state"] for t in tasks], traces)


def restart_failed(connect_url: str, name: str) -> bool:
    """Restart the connector and its tasks that are FAILED (only those); True if a restart was asked."""
    current = status(connect_url, name)
    if current is None:
        raise ConnectError(f"connector {name} does not exist")
    if not current.failed:
        return False
    response = _request(
        "POST", f"{connect_url}/connectors/{name}/restart", params={"includeTasks": "true", "onlyFailed": "true"}
    )
    if response.status_code not in (200, 202, 204):
        raise ConnectError(f"restart of {name}: HTTP {response.status_code} {response.text}")
    return True


def wait_running(connect_url: str, name: str, timeout: float = 60.0, failed_grace: float = 10.0) -> ConnectorStatus:
    """Poll until the connector and all its tasks run; raise ConnectError with the last state otherwise.

    A FAILED state must last `failed_grace` seconds before it counts: right after a config update or a
    restart, the status still shows the old task's failure for a moment.
    """
    deadline = time.monotonic() + timeout
    current, failed_since = None, None
    while time.monotonic() < deadline:
        current = status(connect_url, name)
        if current is not None and current.running:
            return current
        if current is not None and current.failed:
            failed_since = failed_since or time.monotonic()
            if time.monotonic() - failed_since >= failed_grace:
                raise ConnectError(f"connector {name} failed: {current.traces[:1]}")
        else:
            failed_since = None
        time.sleep(0.25)
    raise ConnectError(f"connector {name} not running after {timeout}s: {current}")


def delete(connect_url: str, name: str) -> bool:
    """Remove the connector (its replication slot stays in PostgreSQL); True if it existed."""
    response = _request("DELETE", f"{connect_url}/connectors/{name}")
    if response.status_code == 404:
        return False
    if response.status_code not in (200, 204):
        raise ConnectError(f"DELETE {name}: HTTP {response.status_code} {response.text}")
    return True
