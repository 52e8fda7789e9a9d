"""The gateway's test rig on the real local stack: a private database with the Debezium connector, and the
services as real processes on free ports (the inference server, the ingest service, the gateway with the
embedder in the same process over one embedded store: tests/gateway_node.py, what `twin node` does).

Used by tests/integration/gateway and tests/e2e. Every name is unique per rig, so rigs never share topics,
groups, databases, stores or quota keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from stack_support import delete_kafka_resources, drop_test_database, free_port, wait_for
from stack_support import read_topic as _read_topic
from twin_common.settings import ConnectSettings, InternalAuthSettings, KafkaSettings, PostgresSettings

NODE_SCRIPT = Path(__file__).with_name("gateway_node.py")
INFERENCE_START_S = 420  # a loaded machine; a fresh one converts SmolLM2 first (~40 s)
GATEWAY_START_S = 240


# --- the private world of one test module ------------------------------------------------------------


def run_service_token() -> str:
    """The run's service token (tests/conftest.py makes sure there is one): the processes a rig starts and a
    gateway built in this process (the fuzz tests' app) must agree on it."""
    token = InternalAuthSettings().service_token
    return token.get_secret_value() if token is not None else secrets.token_urlsafe(24)


@dataclass
class Rig:
    suffix: str
    database: str
    dsn: str
    home: Path
    service_token: str = field(default_factory=lambda: run_service_token())
    connect_url: str = field(default_factory=lambda: ConnectSettings().url)

    @property
    def connector(self) -> str:
        return f"twin-test-gw-{self.suffix}"

    @property
    def slot(self) -> str:
        return f"twin_test_gw_{self.suffix}"

    @property
    def topic_prefix(self) -> str:
        return f"twintestgw{self.suffix}"

    @property
    def documents_topic(self) -> str:
        return f"{self.topic_prefix}.public.documents"

    @property
    def indexed_topic(self) -> str:
        return f"{self.topic_prefix}.indexed"

    @property
    def requests_topic(self) -> str:
        return f"{self.topic_prefix}.requests"

    @property
    def feedback_topic(self) -> str:
        return f"{self.topic_prefix}.feedback"

    @property
    def group(self) -> str:
        return f"twin-test-gw-{self.suffix}"


def new_suffix() -> str:
    return uuid.uuid4().hex[:10]


def rig_database(suffix: str) -> str:
    return f"twin_test_gw_{suffix}"


def create_rig(home: Path, *, connector: bool = True, suffix: str | None = None) -> Rig:
    from twin_cdc import connector as cdc
    from twin_ingest.db import migrate

    pg = PostgresSettings()
    suffix = suffix or new_suffix()
    database = rig_database(suffix)
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    migrate(pg.dsn(database))
    rig = Rig(suffix=suffix, database=database, dsn=pg.dsn(database), home=home)
    admin = KafkaAdminClient(bootstrap_servers=KafkaSettings().bootstrap_servers)
    try:
        admin.create_topics(
            [NewTopic(t, num_partitions=1, replication_factor=1) for t in (rig.requests_topic, rig.feedback_topic)]
        )
    finally:
        admin.close()
    if connector:
        config = cdc.connector_config(
            database=database, topic_prefix=rig.topic_prefix, slot_name=rig.slot, publication_name=rig.slot
        )
        cdc.register(rig.connect_url, rig.connector, config)
        assert cdc.wait_running(rig.connect_url, rig.connector, timeout=120).running
    return rig


def drop_rig(rig: Rig) -> None:
    from twin_cdc import connector as cdc
    from twin_cdc.replication import drop_slot_and_publication

    cdc.delete(rig.connect_url, rig.connector)
    try:
        drop_slot_and_publication(rig.dsn, rig.slot, rig.slot)
    except Exception:  # noqa: BLE001 - the database goes anyway
        pass
    drop_test_database(rig.database)
    delete_kafka_resources(rig.topic_prefix, [rig.group, f"{rig.group}-journey"])


def make_key(rig: Rig, tenant: str, **options) -> str:
    """A clear API key for `tenant` in the rig's database (tenant created on the way)."""
    from twin_gateway.keys.store import create_key
    from twin_gateway.settings import KeySettings

    _, clear = create_key(rig.dsn, KeySettings().pepper.get_secret_value().encode(), tenant, **options)
    return clear


# --- processes ------------------------------------------------------------------------------------------


class Service:
    """One service process with its log; stopped with SIGTERM (SIGKILL when it will not go)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_http_ok(self, url: str, timeout: float) -> None:
        def ok() -> bool:
            if not self.running():
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ok, timeout, f"{self.name} at {url}\n{self.tail()}", interval=0.5)

    def tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def _base_env(rig: Rig) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TWIN_LOG_JSON": "false",
        "TWIN_HTTP_HOST": "127.0.0.1",
        "TWIN_PG_DATABASE": rig.database,
        "TWIN_SERVICE_TOKEN": rig.service_token,
        "TWIN_OTEL_SPANS_FILE": str(rig.home / "spans.jsonl"),
    }


@dataclass
class Inference:
    service: Service
    http_url: str
    grpc_url: str
    llm_name: str


def start_inference(
    rig: Rig, *, llm_name: str | None = None, http_port: int | None = None, grpc_port: int | None = None
) -> Inference:
    """The model server with twin-llm only (the gateway embeds in process). It serves the model as `twin-llm`;
    `llm_name` is the MLflow name it would load a registered version from (unique, so it keeps the bundled one)."""
    http_port, grpc_port = http_port or free_port(), grpc_port or free_port()
    llm_name = llm_name or f"test-gw-llm-{rig.suffix}"
    env = {
        **_base_env(rig),
        "TWIN_HTTP_PORT": str(http_port),
        "TWIN_GRPC_PORT": str(grpc_port),
        "TWIN_SERVE_EMBED": "false",
        "TWIN_SERVE_RERANK": "false",
        "TWIN_LLM_REGISTERED_NAME": llm_name,
        "TWIN_WATCH_KAFKA": "false",
        "TWIN_POLL_INTERVAL_S": "3600",
        "TWIN_MAX_PROMPT_TOKENS": "1536",
        "TWIN_MAX_NEW_TOKENS": "64",
        "TWIN_DOWNLOAD_CACHE": str(rig.home / "inference-downloads"),
    }
    service = Service("inference", [sys.executable, "-m", "twin_inference"], env, rig.home)
    inference = Inference(service, f"127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", llm_name)
    service.wait_http_ok(f"http://{inference.http_url}/v2/health/ready", INFERENCE_START_S)
    return inference


def start_ingest(rig: Rig, port: int | None = None) -> tuple[Service, str]:
    port = port or free_port()
    env = {**_base_env(rig), "TWIN_HTTP_PORT": str(port), "TWIN_MIGRATE_ON_START": "false"}
    service = Service("ingest", [sys.executable, "-m", "twin_ingest"], env, rig.home)
    url = f"http://127.0.0.1:{port}"
    service.wait_http_ok(f"{url}/healthz", 120)
    return service, url


@dataclass
class Gateway:
    service: Service
    rest_url: str
    grpc_url: str

    def metric(self, name: str, **labels) -> float | None:
        """The value of one Prometheus sample on /metrics (None when absent)."""
        text = httpx.get(f"{self.rest_url}/metrics", timeout=10).text
        for line in text.splitlines():
            sample, _, value = line.rpartition(" ")
            if sample.split("{", 1)[0] == name and all(f'{k}="{v}"' in sample for k, v in labels.items()):
                return float(value)
        return None


def start_gateway(
    rig: Rig,
    *,
    inference_url: str | None,
    ingest_url: str | None,
    embedder: bool = True,
    store_path: Path | None = None,
    routes_file: Path | None = None,
    **extra_env: str,
) -> Gateway:
    """The gateway process (with the embedder's CDC consumer in it unless `embedder=False`)."""
    http_port, grpc_port = free_port(), free_port()
    env = {
        **_base_env(rig),
        "TWIN_HTTP_PORT": str(http_port),
        "TWIN_GRPC_PORT": str(grpc_port),
        "TWIN_STORE_PATH": str(store_path or rig.home / "store"),
        "TWIN_NODE_EMBEDDER": "true" if embedder else "false",
        # the embedder's consumer
        "TWIN_TOPIC": rig.documents_topic,
        "TWIN_GROUP_ID": rig.group,
        "TWIN_INDEXED_TOPIC": rig.indexed_topic,
        "TWIN_BATCH_TIMEOUT_MS": "20",
        # the gateway
        "TWIN_INGEST_URL": ingest_url or "http://127.0.0.1:9",
        "TWIN_INFERENCE_URL": inference_url or "127.0.0.1:9",
        "TWIN_REQUEST_LOG_REQUESTS_TOPIC": rig.requests_topic,
        "TWIN_REQUEST_LOG_FEEDBACK_TOPIC": rig.feedback_topic,
        "TWIN_QUOTA_KEY_PREFIX": f"twin:test:{rig.suffix}:quota",
        # the web app's document journeys: the rig's own topics, group and Redis keys
        "TWIN_WEBAPP_CDC_TOPIC": rig.documents_topic,
        "TWIN_WEBAPP_INDEXED_TOPIC": rig.indexed_topic,
        "TWIN_WEBAPP_JOURNEY_GROUP": f"{rig.group}-journey",
        "TWIN_WEBAPP_JOURNEY_KEY_PREFIX": f"twin:test:{rig.suffix}:journey",
        **extra_env,
    }
    if routes_file is not None:
        env["TWIN_ROUTES_FILE"] = str(routes_file)
    service = Service("gateway", [sys.executable, str(NODE_SCRIPT)], env, rig.home)
    gateway = Gateway(service, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}")
    service.wait_http_ok(f"{gateway.rest_url}/readyz", GATEWAY_START_S)
    return gateway


@dataclass
class Platform:
    """A rig with every service the gateway needs, as processes."""

    rig: Rig
    inference: Inference
    ingest_url: str
    gateway: Gateway
    services: list[Service]

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


@contextlib.contextmanager
def running_platform(home: Path):
    """The inference server, the ingest service and the gateway (with the embedder) over a private rig."""
    rig = create_rig(home)
    services: list[Service] = []
    try:
        inference = start_inference(rig)
        services.append(inference.service)
        ingest, ingest_url = start_ingest(rig)
        services.append(ingest)
        gateway = start_gateway(rig, inference_url=inference.grpc_url, ingest_url=ingest_url)
        services.append(gateway.service)
        yield Platform(rig, inference, ingest_url, gateway, services)
    finally:
        for service in reversed(services):
            service.stop()
        drop_rig(rig)


# --- Kafka ------------------------------------------------------------------------------------------------


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.25):
    """Poll until `condition()` is truthy (returned) or fail after `timeout` seconds."""
    return wait_for(condition, timeout, what, interval)


def read_topic(topic: str, timeout_s: float | None = None) -> list:
    """Every record of `topic` from its beginning (what arrived within `timeout_s`, when given)."""
    return _read_topic(topic, timeout_s)


def events_of(topic: str, timeout_s: float | None = None) -> list[tuple[dict, dict]]:
    """(event as a dict, headers as a dict) of every record of the topic."""
    records = read_topic(topic, timeout_s)
    return [(json.loads(r.value), {k: v.decode() for k, v in (r.headers or [])}) for r in records if r.value]
