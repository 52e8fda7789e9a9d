"""The ingest service as a process (`python -m twin_ingest`): migrates on start, serves the REST API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from ingest_support import private_database
from twin_common.service_auth import service_token_header


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_service_migrates_and_stores_posted_documents(tmp_path):
    with private_database() as dsn:
        database = dsn.rsplit("/", 1)[1]
        port = _free_port()
        env = {**os.environ, "TWIN_HTTP_PORT": str(port), "TWIN_PG_DATABASE": database, "TWIN_OTEL_ENABLED": "false"}
        log = tmp_path / "ingest.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "twin_ingest"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert process.poll() is None, log.read_text()[-3000:]
                try:
                    if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            body = {"author": "Ada", "documents": [{"id": "p1", "content": "hello"}]}
            anonymous = httpx.post(f"{base}/v1/tenants/acme/documents", timeout=10, json=body)
            assert anonymous.status_code == 401 and "x-twin-service-token" in anonymous.text
            wrong = httpx.post(
                f"{base}/v1/tenants/acme/documents", timeout=10, json=body, headers={"x-twin-service-token": "guess"}
            )
            assert wrong.status_code == 401
            assert httpx.get(f"{base}/v1/tenants/acme/documents", timeout=10).status_code == 401
            token = service_token_header()
            report = httpx.post(f"{base}/v1/tenants/acme/documents", timeout=10, json=body, headers=token)
            assert report.status_code == 200 and report.json()["stored"] == 1
            bad = httpx.post(f"{base}/v1/tenants/acme/documents", timeout=10, json={"author": "Ada"}, headers=token)
            assert bad.status_code == 422 and "documents" in bad.text
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
