import sys
import time

from twin_localstack.paths import StackPaths
from twin_localstack.process import kill_pid, pid_alive, read_pid, spawn, stop_pid, wait_until


def test_stack_paths_respect_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TWIN_STACK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TWIN_CACHE_DIR", str(tmp_path / "cache"))
    paths = StackPaths.default()
    paths.ensure()
    assert paths.data == tmp_path / "home" / "data" and paths.data.is_dir()
    assert paths.jars == tmp_path / "cache" / "jars" and paths.jars.is_dir()


def test_spawned_process_is_tracked_and_stopped(tmp_path):
    pidfile, logfile = tmp_path / "p.pid", tmp_path / "p.log"
    pid = spawn([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"], pidfile, logfile)
    assert read_pid(pidfile) == pid and pid_alive(pid)
    assert wait_until(lambda: "up" in logfile.read_text(), timeout=10, interval=0.1)
    stop_pid(pid, timeout=5)
    assert not pid_alive(pid)


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path):
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('r', flush=True); time.sleep(60)"
    pid = spawn([sys.executable, "-c", code], tmp_path / "p.pid", tmp_path / "p.log")
    assert wait_until(lambda: "r" in (tmp_path / "p.log").read_text(), timeout=10, interval=0.1)
    started = time.monotonic()
    stop_pid(pid, timeout=1)
    assert not pid_alive(pid) and time.monotonic() - started < 10


def test_kill_is_immediate(tmp_path):
    pid = spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "p.pid", tmp_path / "p.log")
    kill_pid(pid)
    assert not pid_alive(pid)
