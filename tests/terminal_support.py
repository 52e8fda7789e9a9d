"""Running a command as a person at a terminal would: its stdout and stderr on a pseudo-terminal (so `isatty()` is
true and progress is drawn as rich bars), everything it wrote returned as text."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_on_terminal(argv: list[str], env: dict[str, str], timeout: float, cwd=None, columns: int = 160):
    """(exit code, raw output) of `argv` with a pseudo-terminal as stdout and stderr."""
    master, slave = pty.openpty()
    env = {**env, "COLUMNS": str(columns), "LINES": "40", "TERM": "xterm-256color"}
    env.pop("TWIN_PROGRESS", None)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"{argv} still running after {timeout} s:\n{b''.join(chunks)[-3000:]!r}")
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the other end closed: the process is gone
                    data = b""
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")


def plain_text(output: str) -> str:
    """The output without terminal control sequences."""
    return ANSI.sub("", output).replace("\r", "\n")
