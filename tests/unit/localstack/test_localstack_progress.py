"""The local stack's first install and start-up report progress: plain lines when not on a terminal, a rich bar
with rate and ETA on one. Fake components and a fake installer: no packages, jars or servers."""

from __future__ import annotations

import io
import re

from test_localstack_order import FakeComponent, Recorder
from twin_cli.progress import PlainProgress, RichProgress
from twin_localstack import install as installer
from twin_localstack.paths import StackPaths
from twin_localstack.stack import Stack

SPECS = [dict(name="db"), dict(name="broker"), dict(name="connect", after=("broker",))]


def _stack(tmp_path, progress) -> Stack:
    paths = StackPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    return Stack(paths, [FakeComponent(paths, recorder=Recorder(), delay=0.05, **s) for s in SPECS], progress=progress)


def _fresh_machine(monkeypatch, calls: list[str]):
    """Debian packages missing once, every jar profile missing: what a fresh machine has."""
    missing = {"tools": ["mvn"]}

    def install_packages():
        calls.append("apt-get")
        missing["tools"] = []

    def resolve(paths, on_profile=None):
        for profile in installer.JAR_PROFILES:
            calls.append(profile)
            on_profile(profile)

    monkeypatch.setattr(installer, "_missing_tools", lambda: missing["tools"])
    monkeypatch.setattr(installer, "ensure_system_packages", install_packages)
    monkeypatch.setattr(installer, "missing_jar_profiles", lambda paths: list(installer.JAR_PROFILES))
    monkeypatch.setattr(installer, "ensure_jars", resolve)


def test_first_install_and_start_as_plain_lines(tmp_path, monkeypatch):
    calls: list[str] = []
    _fresh_machine(monkeypatch, calls)
    out = io.StringIO()
    stack = _stack(tmp_path, PlainProgress(out, interval_s=0))
    stack.up()
    assert calls == ["apt-get", *installer.JAR_PROFILES]
    lines = out.getvalue().splitlines()
    assert lines[0] == "installing the local stack: started, 4 steps"
    assert any(re.match(r"resolved kafka jars: 2/4 steps \(50%\)", line) for line in lines), lines
    start = lines.index("starting the local stack: started, 3 components")
    assert re.match(r"resolved debezium jars: done, 4 steps in \d+s", lines[start - 1])
    pattern = r"\w+ healthy: 1/3 components \(33%\), [\d.]+ components/s, elapsed \d+s, ETA \d+s"
    assert any(re.match(pattern, line) for line in lines[start:]), lines
    assert re.match(r"connect healthy: done, 3 components in \d+s", lines[-1])
    assert stack.healthy()


def test_nothing_to_install_shows_only_the_start(tmp_path, monkeypatch):
    monkeypatch.setattr(installer, "_missing_tools", lambda: [])
    monkeypatch.setattr(installer, "missing_jar_profiles", lambda paths: [])
    out = io.StringIO()
    _stack(tmp_path, PlainProgress(out, interval_s=3600)).up()
    assert "installing" not in out.getvalue()
    assert out.getvalue().splitlines()[0] == "starting the local stack: started, 3 components"


def test_first_install_on_a_terminal_draws_bars(tmp_path, monkeypatch):
    _fresh_machine(monkeypatch, [])
    out = io.StringIO()
    _stack(tmp_path, RichProgress(out, force_terminal=True, width=150)).up()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "\x1b[" in out.getvalue()
    assert re.search(r"4/4 +100%", text) and re.search(r"3/3 +100%", text), text[-1500:]
    assert re.search(r"[\d.]+ components/s", text) and "ETA" in text
