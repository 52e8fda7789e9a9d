"""`twin node` runs several services' run() coroutines in one process with one vector store, and stops them
together: gracefully on SIGTERM, and all of them when one fails."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from twin_node.catalogue import CATALOGUE, DEFAULT_SERVICES, NodeError, lookup

HERE = Path(__file__).parent

DRIVER = textwrap.dedent(
    """
    import asyncio, sys
    from twin_common.service import bootstrap
    from twin_node.catalogue import NodeService
    from twin_node.node import run_node
    import node_fakes

    services = [NodeService("a", "node_fakes", "node_fakes:SettingsA"), NodeService("b", "node_fakes", "node_fakes:SettingsB")]
    settings = {s.name: s.load_settings() for s in services}
    bootstrap(settings["a"].model_copy(update={"service_name": "twin-node"}))
    sys.exit(asyncio.run(run_node(services, settings)))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(path: Path, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.1)
    return False


def _start_node(tmp_path: Path, **extra_env: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "FAKE_A_HTTP_PORT": str(_free_port()),
        "FAKE_B_HTTP_PORT": str(_free_port()),
        "FAKE_A_MARKER_DIR": str(tmp_path),
        "FAKE_B_MARKER_DIR": str(tmp_path),
        "FAKE_A_STORE_PATH": str(tmp_path / "store"),
        "FAKE_A_TELEMETRY__ENABLED": "false",
        "FAKE_A_LOG_JSON": "false",
        **extra_env,
    }
    log = (tmp_path / "node.log").open("wb")
    return subprocess.Popen([sys.executable, "-c", DRIVER], env=env, stdout=log, stderr=subprocess.STDOUT)


def _log(tmp_path: Path) -> str:
    return (tmp_path / "node.log").read_text(errors="replace")


def test_services_share_one_store_and_stop_gracefully_on_sigterm(tmp_path):
    node = _start_node(tmp_path)
    try:
        assert _wait_for(tmp_path / "a.started") and _wait_for(tmp_path / "b.started"), _log(tmp_path)
        # one store object, handed to both services
        store_a, store_b = (tmp_path / "a.store").read_text(), (tmp_path / "b.store").read_text()
        assert store_a == store_b != "none"
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=60) == 0, _log(tmp_path)
    finally:
        node.kill()
    # both HTTP servers shut down on the signal (not cancelled)
    assert (tmp_path / "a.stopped").read_text() == "graceful"
    assert (tmp_path / "b.stopped").read_text() == "graceful", _log(tmp_path)


def test_one_failing_service_stops_the_whole_node(tmp_path):
    node = _start_node(tmp_path, FAKE_B_CRASH_AFTER_S="0.5")
    try:
        assert node.wait(timeout=60) == 1, _log(tmp_path)
    finally:
        node.kill()
    assert "service b failed" in _log(tmp_path) and "b crashed on purpose" in _log(tmp_path)
    assert (tmp_path / "a.stopped").read_text() == "graceful"  # the healthy one was stopped, not left serving


def test_catalogue_names_importable_services_with_a_run():
    assert set(DEFAULT_SERVICES) <= set(CATALOGUE)
    for service in CATALOGUE.values():
        assert service.run_function() is not None, service.name
        assert service.load_settings().http_port > 0
    assert CATALOGUE["embedder"].takes_vector_store()


def test_unknown_or_repeated_services_are_refused():
    with pytest.raises(NodeError, match="unknown service"):
        lookup(["embedder", "nope"])
    with pytest.raises(NodeError, match="named twice"):
        lookup(["embedder", "embedder"])
