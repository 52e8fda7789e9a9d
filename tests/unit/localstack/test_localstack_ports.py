"""A component whose port is taken fails its start with the port, the holder's pid and its command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from twin_localstack.components import Redis
from twin_localstack.paths import StackPaths
from twin_localstack.ports import PortInUseError, ensure_ports_free, exposed, listening_sockets

HOLDER = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
    "print(s.getsockname()[1], flush=True)\n"
    "time.sleep(120)  # port-holder-marker\n"
)


@pytest.fixture
def held_port():
    """A port listened on by another process (which the test started); yields (port, pid)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(holder.stdout.readline())
        yield port, holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_start_names_the_port_and_the_process_holding_it(held_port, tmp_path, monkeypatch):
    port, pid = held_port
    monkeypatch.setenv("TWIN_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    paths = StackPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    paths.ensure()
    redis = Redis(paths)
    started = time.monotonic()
    with pytest.raises(PortInUseError) as error:
        redis.start()
    message = str(error.value)
    assert f"port {port} on 127.0.0.1" in message
    assert f"pid {pid}" in message and "port-holder-marker" in message  # the holder's command line
    assert message.startswith("redis cannot start")
    assert time.monotonic() - started < 20  # after a short grace for a port being released, not the start timeout
    assert not redis.pidfile.exists()  # nothing was launched


def test_free_ports_pass_the_check(held_port):
    port, _ = held_port
    ensure_ports_free("test", [])
    with pytest.raises(PortInUseError):
        ensure_ports_free("test", [("127.0.0.1", port)])


def test_listening_sockets_of_a_process_and_which_are_exposed(held_port):
    port, pid = held_port
    sockets = listening_sockets([pid])
    assert [(s.address, s.port, s.kind) for s in sockets] == [("127.0.0.1", port, "tcp")]
    assert exposed(sockets) == []
    wide = subprocess.Popen(
        [sys.executable, "-c", HOLDER.replace("'127.0.0.1'", "'0.0.0.0'")], stdout=subprocess.PIPE, text=True
    )
    try:
        wide_port = int(wide.stdout.readline())
        assert [(s.address, s.port) for s in exposed(listening_sockets([wide.pid, os.getpid()]))] == [
            ("0.0.0.0", wide_port)
        ]
    finally:
        wide.kill()
        wide.wait()
