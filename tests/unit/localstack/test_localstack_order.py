"""The stack starts each component once its dependencies are healthy (independent ones together), stops
dependents first, and its registry is consistent: unique names, known dependencies, distinct ports."""

from __future__ import annotations

import threading
import time

import pytest
from twin_localstack.components import Component
from twin_localstack.paths import StackPaths
from twin_localstack.registry import all_components
from twin_localstack.services import ServiceProcess
from twin_localstack.stack import Stack


class Recorder:
    def __init__(self):
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def add(self, kind: str, name: str) -> None:
        with self.lock:
            self.events.append((kind, name))


class FakeComponent(Component):
    def __init__(self, paths, name, after=(), group="servers", recorder=None, fail=False, delay=0.2):
        super().__init__(paths)
        self.name, self.after, self.group = name, tuple(after), group
        self.recorder, self.fail, self.delay, self.up = recorder, fail, delay, False

    def healthy(self) -> bool:
        return self.up

    def endpoint(self) -> str:
        return self.name

    def _launch(self) -> None: ...

    def start(self) -> None:
        self.recorder.add("begin", self.name)
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError(f"{self.name} broke")
        self.up = True
        self.recorder.add("end", self.name)

    def stop(self) -> None:
        self.recorder.add("stop", self.name)
        self.up = False


class OfflineStack(Stack):
    def install(self) -> None:  # no Debian packages or jars in a unit test
        pass


def _stack(tmp_path, specs, recorder):
    paths = StackPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    return OfflineStack(paths, [FakeComponent(paths, recorder=recorder, **spec) for spec in specs])


SPECS = [
    dict(name="db"),
    dict(name="broker"),
    dict(name="connect", after=("broker",)),
    dict(name="migrate", after=("db",), group="services"),
    dict(name="cdc", after=("connect", "migrate"), group="services"),
    dict(name="web", after=("db",), group="services"),
]


def test_each_starts_after_its_dependencies_and_independent_ones_overlap(tmp_path):
    recorder = Recorder()
    stack = _stack(tmp_path, SPECS, recorder)
    stack.up()
    events = recorder.events
    position = {event: i for i, event in enumerate(events)}
    for spec in SPECS:
        for dependency in spec.get("after", ()):
            assert position[("end", dependency)] < position[("begin", spec["name"])]
    # db and broker have no dependencies: both began before either ended
    assert max(position[("begin", "db")], position[("begin", "broker")]) < min(
        position[("end", "db")], position[("end", "broker")]
    )
    assert stack.healthy()


def test_naming_one_component_starts_what_it_needs_and_nothing_else(tmp_path):
    recorder = Recorder()
    stack = _stack(tmp_path, SPECS, recorder)
    stack.up(["cdc"])
    assert {name for kind, name in recorder.events if kind == "end"} == {"db", "broker", "connect", "migrate", "cdc"}


def test_servers_group_alone_and_down_stops_dependents_first(tmp_path):
    recorder = Recorder()
    stack = _stack(tmp_path, SPECS, recorder)
    stack.up(groups=["servers"])
    assert {name for kind, name in recorder.events if kind == "end"} == {"db", "broker", "connect"}
    assert stack.healthy(groups=["servers"]) and not stack.healthy()
    stack.up()
    recorder.events.clear()
    stack.down()
    stops = [name for kind, name in recorder.events if kind == "stop"]
    for spec in SPECS:
        for dependency in spec.get("after", ()):
            assert stops.index(spec["name"]) < stops.index(dependency)


def test_a_failure_stops_its_dependents_from_starting_and_names_the_component(tmp_path):
    recorder = Recorder()
    specs = [dict(spec) for spec in SPECS]
    specs[2]["fail"] = True  # connect
    stack = _stack(tmp_path, specs, recorder)
    with pytest.raises(RuntimeError, match="connect broke"):
        stack.up()
    assert ("begin", "cdc") not in recorder.events


def test_registry_is_consistent_in_both_vector_store_modes(tmp_path, monkeypatch):
    paths = StackPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    for qdrant_url in (None, "http://127.0.0.1:6333"):
        if qdrant_url:
            monkeypatch.setenv("TWIN_QDRANT_URL", qdrant_url)
        components = all_components(paths)
        names = [c.name for c in components]
        assert len(names) == len(set(names))
        for component in components:
            assert set(component.after) <= set(names), component.name
        ordered = [c.name for c in Stack(paths, components).ordered()]
        assert ordered.index("postgres") < ordered.index("migrate") < ordered.index("cdc")
        ports = [port for c in components for _, port in c.ports()]
        assert len(ports) == len(set(ports)), "two components on one port"
        services = {c.name: c for c in components if isinstance(c, ServiceProcess)}
        rows = {row.name for c in services.values() for row in c.status_rows()}
        assert {"cdc", "inference", "ingest", "embedder", "gateway", "monitor", "trainer"} <= rows
        if qdrant_url:  # a Qdrant server: embedder and gateway run apart
            assert {"embedder", "gateway"} <= set(services) and "node" not in services
        else:  # embedded store: one node process hosts both
            assert "node" in services and [p.name for p in services["node"].probes] == ["embedder", "gateway"]
