"""The cdc service as a process (`python -m twin_cdc`): it registers its connector and reports ready."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from twin_cdc import connector


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_service_registers_the_connector_and_becomes_ready(cdc_rig, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "TWIN_HTTP_PORT": str(port),
        "TWIN_PG_DATABASE": cdc_rig.database,
        "TWIN_CONNECTOR_NAME": cdc_rig.name,
        "TWIN_TOPIC_PREFIX": cdc_rig.topic_prefix,
        "TWIN_SLOT_NAME": cdc_rig.slot,
        "TWIN_PUBLICATION_NAME": cdc_rig.publication,
        "TWIN_SUPERVISE_INTERVAL_S": "0.5",
        "TWIN_OTEL_ENABLED": "false",
    }
    log = tmp_path / "cdc.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "twin_cdc"], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 90, None
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                ready = httpx.get(f"{base}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, log.read_text()[-3000:]
        assert ready.json()["checks"] == {"connector": True}
        # the service reports Connect's live status; a rebalance of the shared worker (another test's connector
        # deleted just before) can list no task for a moment, so wait for the steady state
        expected = {"name": cdc_rig.name, "state": "RUNNING", "tasks": ["RUNNING"]}
        deadline, status = time.monotonic() + 30, None
        while time.monotonic() < deadline and status != expected:
            status = httpx.get(f"{base}/v1/connector", timeout=5).json()
            time.sleep(0.3)
        assert status == expected
        stored = connector.get_config(cdc_rig.connect_url, cdc_rig.name)
        assert stored["topic.prefix"] == cdc_rig.topic_prefix and stored["slot.name"] == cdc_rig.slot
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
