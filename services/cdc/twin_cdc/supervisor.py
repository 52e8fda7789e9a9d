"""Keeps the connector registered and its failed tasks restarted, one check at a time."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from opentelemetry import trace
from prometheus_client import Counter

from twin_cdc import connector
from twin_cdc.settings import CdcSettings

log = logging.getLogger("twin.cdc")
tracer = trace.get_tracer("twin_cdc")
CHECKS = Counter("twin_cdc_checks", "Supervisor checks of the connector, by the state found", ["state"])


@dataclass
class CheckResult:
    registered: str | None  # register action, when it ran
    state: str
    restarted: bool


class Supervisor:
    def __init__(self, settings: CdcSettings):
        self.settings = settings
        self.last: CheckResult | None = None

    def check(self) -> CheckResult:
        """Register when missing or different, then restart what failed (one span: its Connect calls are children)."""
        with tracer.start_as_current_span(
            "cdc.supervise", attributes={"twin.cdc.connector": self.settings.connector_name}
        ) as span:
            result = self._check()
            span.set_attribute("twin.cdc.connector.state", result.state)
            span.set_attribute("twin.cdc.restarted", result.restarted)
            if result.registered != "unchanged":
                span.set_attribute("twin.cdc.registered", result.registered or "")
        CHECKS.labels(result.state).inc()
        return result

    def _check(self) -> CheckResult:
        url, name = self.settings.connect.url, self.settings.connector_name
        action = connector.register(url, name, self.settings.connector_config()).action
        if action != "unchanged":
            log.info("connector %s %s", name, action)
        current = connector.status(url, name)
        restarted = False
        if current is not None and current.failed:
            log.warning("connector %s failed, restarting: %s", name, current.traces[:1])
            restarted = connector.restart_failed(url, name)
        if current is None:
            state = "MISSING"
        elif current.running:
            state = "RUNNING"
        else:
            state = "FAILED" if current.failed else current.connector_state
        self.last = CheckResult(action, state, restarted)
        return self.last

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.check()
            except connector.ConnectError as exc:
                CHECKS.labels("ERROR").inc()
                log.warning("check failed: %s", exc)
            stop.wait(self.settings.supervise_interval_s)

    def ready(self) -> bool:
        return self.last is not None and self.last.state == "RUNNING"
