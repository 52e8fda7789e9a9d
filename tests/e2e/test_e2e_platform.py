"""The whole platform as `make up` starts it: every server and service healthy and listed by `twin-stack status`,
nothing listening beyond 127.0.0.1, a document written through ingest indexed by the embedder inside the node,
and a SIGKILLed service shown down and brought back by `twin-stack up`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pytest
from twin_common.settings import (
    LOCAL_EMBEDDER_PORT,
    LOCAL_INGEST_PORT,
    SERVICE_TOKEN_HEADER,
    InternalAuthSettings,
)
from twin_localstack.ports import exposed
from twin_localstack.process import wait_until

pytestmark = pytest.mark.usefixtures("platform_stack")

SERVICES = ("migrate", "cdc", "inference", "ingest", "embedder", "gateway", "monitor", "trainer")


def _headers() -> dict[str, str]:
    token = InternalAuthSettings().service_token
    return {SERVICE_TOKEN_HEADER: token.get_secret_value()} if token else {}


def test_status_lists_every_server_and_service_healthy(platform_stack):
    result = subprocess.run(
        [sys.executable, "-m", "twin_localstack.cli", "status"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    for name in ("postgres", "redis", "kafka", "connect", "mlflow", *SERVICES):
        assert name in lines and " healthy " in lines[name], result.stdout
    assert lines["embedder"].split()[1] == lines["gateway"].split()[1] == "node"  # one process for both


def test_nothing_listens_beyond_loopback(platform_stack):
    sockets = platform_stack.listening_sockets()
    ports = {s.port for s in sockets}
    for component in platform_stack.select(groups=["services"]):
        for probe in getattr(component, "probes", []):
            assert probe.ports[0] in ports, f"{probe.name} does not listen on its HTTP port {probe.ports[0]}"
    assert exposed(sockets) == [], "\n".join(map(str, exposed(sockets)))


def test_document_through_ingest_is_indexed_by_the_node(platform_stack):
    tenant = f"e2e-{uuid.uuid4().hex[:8]}"
    body = {
        "author": "e2e",
        "documents": [{"id": "note-1", "kind": "note", "title": "Platform check", "content": "Bees " * 80}],
    }
    response = httpx.post(
        f"http://127.0.0.1:{LOCAL_INGEST_PORT}/v1/tenants/{tenant}/documents", json=body, headers=_headers(), timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1

    def indexed() -> int:
        points = httpx.get(
            f"http://127.0.0.1:{LOCAL_EMBEDDER_PORT}/v1/tenants/{tenant}/points", headers=_headers(), timeout=10
        )
        return points.json()["count"] if points.status_code == 200 else 0

    assert wait_until(
        lambda: indexed() >= 1, timeout=120, interval=1.0
    )  # ingest -> PostgreSQL -> Debezium (cdc service) -> Kafka -> node


def test_killed_node_shows_down_and_comes_back(platform_stack):
    node = platform_stack.component("node")
    old_pid = node.pid()
    platform_stack.kill("node")
    rows = {row.name: row for row in platform_stack.status(groups=["services"])}
    assert not rows["embedder"].healthy and not rows["gateway"].healthy
    assert not node.running()
    result = subprocess.run(
        [sys.executable, "-m", "twin_localstack.cli", "status"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert result.returncode == 1  # an unhealthy service fails `make status`
    platform_stack.up(["node"])
    assert node.healthy() and node.pid() != old_pid
