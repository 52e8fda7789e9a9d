"""The local stack as a whole: install, start in dependency order, stop exactly what was started, report health."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from twin_common.settings import TelemetrySettings

from twin_localstack.components import Component
from twin_localstack.credentials import ensure_credentials
from twin_localstack.install import install
from twin_localstack.observability import telemetry_summary
from twin_localstack.paths import StackPaths
from twin_localstack.ports import ListeningSocket, listening_sockets
from twin_localstack.registry import GROUPS, all_components

log = logging.getLogger("twin.stack")


@dataclass(frozen=True)
class ComponentStatus:
    name: str  # the server or service
    process: str  # the component (process) it runs in: "node" hosts embedder and gateway
    group: str
    pid: int | None
    running: bool
    healthy: bool
    endpoint: str
    note: str | None = None  # e.g. why an optional component is unavailable here


class Stack:
    def __init__(self, paths: StackPaths | None = None, components: Iterable[Component] | None = None):
        self.paths = paths or StackPaths.default()
        made = list(components) if components is not None else all_components(self.paths)
        self.components: dict[str, Component] = {c.name: c for c in made}

    def component(self, name: str) -> Component:
        try:
            return self.components[name]
        except KeyError:
            raise SystemExit(f"unknown component {name!r}; known: {', '.join(self.components)}") from None

    def select(self, names: Iterable[str] | None = None, groups: Iterable[str] | None = None) -> list[Component]:
        """The named components (or those of the groups; default all), in dependency order."""
        groups = set(groups or GROUPS)
        if names:
            wanted = {self.component(n).name for n in names}
        else:
            wanted = {c.name for c in self.components.values() if c.group in groups}
        return [c for c in self.ordered() if c.name in wanted]

    def with_dependencies(self, components: Iterable[Component]) -> list[Component]:
        needed: set[str] = set()
        todo = [c.name for c in components]
        while todo:
            name = todo.pop()
            if name in needed or name not in self.components:
                continue
            needed.add(name)
            todo.extend(self.components[name].after)
        return [c for c in self.ordered() if c.name in needed]

    def ordered(self) -> list[Component]:
        """Every component after the ones it depends on (registry order breaks ties)."""
        order: list[Component] = []
        placed: set[str] = set()
        remaining = list(self.components.values())
        while remaining:
            ready = next((c for c in remaining if all(d in placed or d not in self.components for d in c.after)), None)
            if ready is None:
                raise RuntimeError(f"dependency cycle among {[c.name for c in remaining]}")
            order.append(ready)
            placed.add(ready.name)
            remaining.remove(ready)
        return order

    def install(self) -> None:
        install(self.paths)
        for component in self.components.values():  # Go programs built once into the cache (telemetry)
            if hasattr(component, "binary"):
                component.binary()

    def up(self, names: list[str] | None = None, groups: Iterable[str] | None = None) -> None:
        """Start the named components or groups (default: everything) and whatever they depend on; each
        starts as soon as its dependencies are healthy, independent ones in parallel."""
        targets = self.with_dependencies(self.select(names, groups))
        self.install()
        ensure_credentials(self.paths)
        self._start_in_order(targets)

    def _start_in_order(self, targets: list[Component]) -> None:
        pending = {c.name: c for c in targets}
        names = set(pending)
        done: set[str] = set()
        failures: list[tuple[str, BaseException]] = []
        with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
            in_flight: dict[Future, Component] = {}
            while pending or in_flight:
                if not failures:
                    for name, component in list(pending.items()):
                        if all(d in done or d not in names for d in component.after):
                            in_flight[pool.submit(component.start)] = component
                            del pending[name]
                else:
                    pending.clear()
                if not in_flight:
                    break
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    component = in_flight.pop(future)
                    try:
                        future.result()
                    except BaseException as exc:  # noqa: BLE001 - reported below, after the others finish
                        failures.append((component.name, exc))
                    else:
                        done.add(component.name)
                        log.info("%s healthy at %s", component.name, component.endpoint())
        if failures:
            name, first = failures[0]
            others = ", ".join(n for n, _ in failures[1:])
            raise RuntimeError(f"{first}" + (f"\n(also failed: {others})" if others else "")) from first

    def down(self, names: list[str] | None = None, groups: Iterable[str] | None = None) -> None:
        """Stop the named components or groups (default: everything), dependents first."""
        for component in reversed(self.select(names, groups)):
            component.stop()

    def restart(self, name: str) -> None:
        component = self.component(name)
        component.stop()
        component.start()

    def kill(self, name: str) -> None:
        self.component(name).kill()

    def healthy(self, groups: Iterable[str] | None = None) -> bool:
        return all(c.healthy() for c in self.select(groups=groups))

    def status(self, groups: Iterable[str] | None = None) -> list[ComponentStatus]:
        rows = []
        for c in self.select(groups=groups):
            pid, running = c.pid(), c.running()
            for row in c.status_rows():
                note = getattr(c, "state", lambda: None)()
                rows.append(ComponentStatus(row.name, c.name, c.group, pid, running, row.healthy, row.endpoint, note))
        return rows

    def listening_sockets(self, groups: Iterable[str] | None = None) -> list[ListeningSocket]:
        """What the running components' processes (and their children) listen on."""
        return listening_sockets(pid for c in self.select(groups=groups) for pid in c.pids())

    def telemetry_target(self) -> str:
        settings = TelemetrySettings()
        if settings.otlp_endpoint:
            return f"OTLP collector at {settings.otlp_endpoint}"
        return telemetry_summary(self.paths)
