"""Helpers of the telemetry suite: the trace store's query API (Jaeger, OTLP JSON through its v3 API) and
service processes that send their telemetry through the stack's collector, tagged with this run's id."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from stack_support import ServiceProcess as SharedServiceProcess
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


class ServiceProcess(SharedServiceProcess):
    """One service started as `python -m <module>` with the telemetry environment."""

    def __init__(self, module: str, log_dir: Path, env: dict[str, str], ready_path: str = "/readyz"):
        port = int(env.get("TWIN_HTTP_PORT") or free_port())
        self.ready_path = ready_path
        self.env = {**os.environ, **telemetry_env(), "TWIN_HTTP_PORT": str(port), **env}
        # internal services serve tenant data only with the service token (twin_common.service_auth)
        super().__init__(
            module, self.env, log_dir / f"{module}-{port}.log", port, headers=service_token_header(), http_timeout=30
        )

    def wait_ready(self, timeout: float = 180.0) -> None:
        super().wait_ready(timeout, self.ready_path, interval=0.5)
