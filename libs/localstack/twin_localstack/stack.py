"""The local stack as a whole: install, start in dependency order, stop exactly what was started, report health."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from twin_common.settings import TelemetrySettings

from twin_localstack.components import Component, all_components
from twin_localstack.install import install
from twin_localstack.observability import telemetry_summary
from twin_localstack.paths import StackPaths

log = logging.getLogger("twin.stack")

# Components in the same phase start together; a phase starts when the one before it is healthy.
START_PHASES = (("jaeger", "otelcol", "postgres", "redis", "kafka"), ("connect", "mlflow"))


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    endpoint: str
    note: str | None = None  # e.g. why an optional component is unavailable here


class Stack:
    def __init__(self, paths: StackPaths | None = None):
        self.paths = paths or StackPaths.default()
        self.components: dict[str, Component] = {c.name: c for c in all_components(self.paths)}

    def component(self, name: str) -> Component:
        try:
            return self.components[name]
        except KeyError:
            raise SystemExit(f"unknown component {name!r}; known: {', '.join(self.components)}") from None

    def install(self) -> None:
        install(self.paths)
        for component in self.components.values():  # Go programs built once into the cache (telemetry)
            if hasattr(component, "binary"):
                component.binary()

    def up(self, names: list[str] | None = None) -> None:
        self.install()
        wanted = set(names or self.components)
        for phase in START_PHASES:
            batch = [self.components[n] for n in phase if n in wanted]
            with ThreadPoolExecutor(max_workers=max(1, len(batch))) as pool:
                for component, future in [(c, pool.submit(c.start)) for c in batch]:
                    future.result()
                    log.info("%s healthy at %s", component.name, component.endpoint())

    def down(self, names: list[str] | None = None) -> None:
        for component in reversed(list(self.components.values())):
            if names is None or component.name in names:
                component.stop()

    def restart(self, name: str) -> None:
        component = self.component(name)
        component.stop()
        component.start()

    def kill(self, name: str) -> None:
        self.component(name).kill()

    def healthy(self) -> bool:
        return all(c.healthy() for c in self.components.values())

    def status(self) -> list[ComponentStatus]:
        return [
            ComponentStatus(
                c.name, c.pid(), c.running(), c.healthy(), c.endpoint(), getattr(c, "state", lambda: None)()
            )
            for c in self.components.values()
        ]

    def telemetry_target(self) -> str:
        settings = TelemetrySettings()
        if settings.otlp_endpoint:
            return f"OTLP collector at {settings.otlp_endpoint}"
        return telemetry_summary(self.paths)
