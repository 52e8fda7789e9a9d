"""The stack's telemetry components: built once into the cache, unavailable (with the reason) where they cannot
be built, and the collector's traces go to a file when the trace store is unavailable."""

from __future__ import annotations

from pathlib import Path

import pytest
from twin_localstack import gobuild
from twin_localstack.observability import Collector, TraceStore, telemetry_summary
from twin_localstack.paths import StackPaths


@pytest.fixture
def paths(tmp_path) -> StackPaths:
    paths = StackPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    paths.ensure()
    return paths


def test_without_a_go_toolchain_both_are_unavailable_with_the_reason_and_never_unhealthy(paths, monkeypatch):
    monkeypatch.setattr(gobuild, "go_binary", lambda: None)
    store, collector = TraceStore(paths), Collector(paths)
    store.start()
    collector.start()
    assert "no Go toolchain" in store.unavailable and "no Go toolchain" in collector.unavailable
    assert store.healthy() and collector.healthy() and not collector.running()
    assert collector.state().startswith("unavailable: no Go toolchain")
    assert "spans to files" in telemetry_summary(paths)
    assert TraceStore(paths).unavailable == store.unavailable  # remembered for status and the collector


def test_a_build_that_runs_and_fails_is_an_error_not_a_fallback(paths, monkeypatch):
    def failing(argv, cwd, cache, what):
        raise gobuild.BuildFailed(f"{what} failed: syntax error")

    monkeypatch.setattr(gobuild, "_go", failing)
    with pytest.raises(gobuild.BuildFailed):
        Collector(paths).start()


def test_an_unreachable_module_proxy_is_a_reason_to_fall_back(paths, monkeypatch):
    import subprocess

    def offline(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 1, "", "dial tcp: lookup proxy.golang.org: no such host")

    monkeypatch.setattr(gobuild.subprocess, "run", offline)
    monkeypatch.setattr(gobuild, "go_binary", lambda: "/usr/bin/go")
    store = TraceStore(paths)
    store.start()
    assert "unreachable" in store.unavailable


def test_the_collector_sends_traces_to_a_file_when_the_trace_store_is_unavailable(paths):
    collector = Collector(paths)
    assert [p.name for p in collector.config_files()] == ["collector.yaml"]
    (paths.run / "jaeger.unavailable").write_text("no Go toolchain")
    assert [p.name for p in collector.config_files()] == ["collector.yaml", "collector-without-trace-store.yaml"]


def test_binaries_are_named_after_what_they_are_built_from(paths):
    assert gobuild.collector_binary(paths.cache).name == f"twin-otelcol-{gobuild.manifest_digest()}"
    assert gobuild.jaeger_binary(paths.cache).name == f"jaeger-{gobuild.JAEGER_VERSION}"
    manifest = gobuild.BUILDER_MANIFEST.read_text()
    versions = {line.split()[-1] for line in manifest.splitlines() if line.strip().startswith("- gomod:")}
    assert versions <= {"v0.165.0", "v0.165.1"}, "every collector module at one release"


def test_every_address_of_the_configs_is_loopback():
    for name in ("collector.yaml", "jaeger.yaml"):
        text = (Path(gobuild.OTEL_DIR) / name).read_text()
        endpoints = [line.split("endpoint:", 1)[1].strip() for line in text.splitlines() if "endpoint:" in line]
        assert endpoints and all(e.startswith("127.0.0.1:") for e in endpoints), (name, endpoints)
