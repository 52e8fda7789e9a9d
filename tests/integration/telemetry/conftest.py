"""Fixtures of the telemetry suite: the stack's collector and trace store (required, never faked), and the
platform's services running as processes whose telemetry goes through them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "embedder"))
sys.path.insert(0, str(Path(__file__).parents[1] / "cdc"))

from telemetry_support import RunTraceStore  # noqa: E402


@pytest.fixture(scope="session")
def trace_store(local_stack) -> RunTraceStore:
    """The stack's Jaeger behind its collector. A backend that could not be built here fails the suite with the
    reason (`twin-stack status` shows it too): telemetry is asserted, never assumed."""
    for name in ("jaeger", "otelcol"):
        component = local_stack.component(name)
        if component.unavailable:
            pytest.fail(f"{name} is unavailable here, so telemetry cannot be checked: {component.unavailable}")
        component.start()  # a no-op when it runs; restarts it if a test stopped it
        assert component.healthy(), f"{name} is not healthy: see {component.logfile}"
    return RunTraceStore()
