"""Helpers every test tier shares: a free local port, polling for a condition, reading a Kafka topic whole, a
service process started by a test.

Importable as `stack_support` from any test module (pytest puts `tests/` on sys.path for tests/conftest.py)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from twin_common.settings import KafkaSettings


def free_port() -> int:
    """A port nothing listens on right now, on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    condition: Callable[[], Any],
    timeout: float = 60.0,
    what: str = "condition",
    interval: float = 0.5,
    tolerate: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll `condition` until it returns something truthy (returned), or fail after `timeout` seconds.
    Exceptions of the `tolerate` types count as "not yet" (a server still starting)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except tolerate as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} not met after {timeout:.0f} s (last: {last!r})")


def read_topic(topic: str, timeout_s: float | None = 10.0, bootstrap: str | None = None) -> list:
    """Every record of `topic` from the beginning (empty if the topic does not exist yet); with `timeout_s`, what
    arrived within it, with None up to the end offsets however long that takes."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap or KafkaSettings().bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        records: list = []
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if deadline is not None and time.monotonic() > deadline:
                break
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def delete_consumer_groups(groups: list[str], bootstrap: str | None = None) -> None:
    """Delete consumer groups a test made; one that never committed does not exist and is skipped."""
    delete_kafka_resources(None, groups, bootstrap)


def delete_kafka_resources(topic_prefix: str | None, groups: list[str], bootstrap: str | None = None) -> None:
    """Delete a test's topics (every topic named `<topic_prefix>.*`) and consumer groups; a group that never
    committed does not exist and is skipped."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap or KafkaSettings().bootstrap_servers)
    try:
        if topic_prefix:
            mine = [t for t in admin.list_topics() if t.startswith(topic_prefix + ".")]
            if mine:
                admin.delete_topics(mine)
        for group in groups:
            try:
                admin.delete_consumer_groups([group])
            except Exception:  # noqa: BLE001 - a group that never committed does not exist
                pass
    finally:
        admin.close()


def drop_test_database(database: str) -> None:
    """Drop a test's private database, with any replication slot left in it (a connector's)."""
    import psycopg
    from twin_common.settings import PostgresSettings

    with psycopg.connect(PostgresSettings().dsn("postgres"), autocommit=True) as admin:
        for (slot,) in admin.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (database,)
        ).fetchall():
            admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def json_values(records: list) -> list[dict]:
    """The JSON values of Kafka records, tombstones left out."""
    return [json.loads(r.value) for r in records if r.value]


class ServiceProcess:
    """`python -m <module>` started by a test on `port`: its output in `log_path`, an HTTP client on its port,
    readiness polled, stopped with SIGTERM (SIGKILL when it will not go)."""

    def __init__(
        self,
        module: str,
        env: dict[str, str],
        log_path: Path,
        port: int,
        *,
        headers: dict[str, str] | None = None,
        http_timeout: float = 10.0,
    ):
        self.module = module
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=self.base_url, timeout=http_timeout, headers=headers or {})

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float, path: str = "/readyz", interval: float = 0.3) -> None:
        """Until `path` answers 200; fails at once when the process exits, with its log's tail either way."""

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited with {self.proc.returncode}:\n{self.tail()}")
            return self.http.get(path).status_code == 200

        try:
            wait_for(ready, timeout, f"{self.module} ready", interval, tolerate=(httpx.TransportError,))
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.tail()}") from None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.close()

    def close(self) -> None:
        self.http.close()
        self.log.close()
