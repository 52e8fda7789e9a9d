"""Helpers of the telemetry suite: the trace store's query API (Jaeger, OTLP JSON through its v3 API) and
service processes that send their telemetry through the stack's collector, tagged with this run's id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from stack_support import free_port  # noqa: F401 (the tests import it from here)
from stack_support import wait_for as shared_wait_for
from twin_common.service_auth import service_token_header
from twin_common.settings import LOCAL_OTLP_GRPC_PORT
from twin_localstack.traces import StoredSpan, TraceStore

__all__ = ["StoredSpan", "TraceStore", "RunTraceStore"]

RUN_ID = uuid.uuid4().hex[:12]  # resource attribute twin.test.run of every process this suite starts


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll until truthy; a server still starting (transport errors) or a check that fails for now counts as not yet."""
    return shared_wait_for(condition, timeout, what, interval, tolerate=(httpx.TransportError, AssertionError))


class RunTraceStore(TraceStore):
    def spans_of(self, service: str, since: float) -> list[StoredSpan]:
        """This run's spans of `service` (processes of other runs may share the trace store)."""
        return [
            s for s in self.search(service, since) if s.service == service and s.resource.get("twin.test.run") == RUN_ID
        ]


# --- service processes ---------------------------------------------------------------------------------------


def telemetry_env() -> dict[str, str]:
    """What every process of the suite gets: OTLP to the stack's collector, this run's id on its resource."""
    return {
        "TWIN_OTEL_OTLP_ENDPOINT": f"http://127.0.0.1:{LOCAL_OTLP_GRPC_PORT}",
        "OTEL_RESOURCE_ATTRIBUTES": f"twin.test.run={RUN_ID}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "HF_HUB_OFFLINE": "1",
        "TWIN_LOG_JSON": "false",
    }


class ServiceProcess:
    """One service started as `python -m <module>` with the telemetry environment."""

    def __init__(self, module: str, log_dir: Path, env: dict[str, str], ready_path: str = "/readyz"):
        self.module = module
        self.port = int(env.get("TWIN_HTTP_PORT") or free_port())
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        self.log_path = log_dir / f"{module}-{self.port}.log"
        self.env = {**os.environ, **telemetry_env(), "TWIN_HTTP_PORT": str(self.port), **env}
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module], env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        # internal services serve tenant data only with the service token (twin_common.service_auth)
        self.http = httpx.Client(base_url=self.base_url, timeout=30, headers=service_token_header())

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float = 180.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited with {self.proc.returncode}:\n{self.tail()}")
            return self.http.get(self.ready_path).status_code == 200

        wait_for(ready, timeout, f"{self.module} ready ({self.tail(1500)})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.http.close()
        self._log.close()
