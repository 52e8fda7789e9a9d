"""Who holds a port, and what a process tree listens on: the local stack's start-up check and binding audit.

A component checks its ports before it starts: a port held by another process fails the start with an error
that names the port, the holder's pid and its command line (rather than a server's own `Address already in
use` deep in its log). The same socket table (psutil) lists what the stack's processes listen on, so a test
can assert that nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


class PortInUseError(RuntimeError):
    """A port a component needs is held by another process."""


@dataclass(frozen=True)
class PortHolder:
    pid: int | None
    command: str
    address: str
    port: int
    status: str

    def describe(self) -> str:
        who = (
            f"pid {self.pid} ({self.command})"
            if self.pid
            else "a process that cannot be identified (another user's, or one that is exiting)"
        )
        return f"{who}, socket {self.address}:{self.port} {self.status}"


@dataclass(frozen=True)
class ListeningSocket:
    pid: int
    command: str
    address: str
    port: int
    kind: str  # "tcp" (LISTEN) or "udp" (bound, unconnected)

    def __str__(self) -> str:
        return f"{self.kind} {self.address}:{self.port} pid {self.pid} ({self.command})"


def _command(pid: int | None) -> str:
    if not pid:
        return "?"
    try:
        cmdline = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "?"
    text = " ".join(cmdline)
    return text if len(text) <= 240 else text[:237] + "..."


def port_holders(port: int) -> list[PortHolder]:
    """Every TCP socket whose local port is `port` (listeners first), with its process when visible."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return []
    holders = [
        PortHolder(c.pid, _command(c.pid), c.laddr.ip, c.laddr.port, c.status)
        for c in connections
        if c.laddr and c.laddr.port == port
    ]
    return sorted(holders, key=lambda h: (h.status != psutil.CONN_LISTEN, h.pid or 0))


def _bindable(host: str, port: int) -> bool:
    """Whether a server could bind host:port now (with SO_REUSEADDR, as the stack's servers do)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def ensure_ports_free(component: str, addresses: Iterable[tuple[str, int]], wait_s: float = 5.0) -> None:
    """Raise PortInUseError naming the port and its holder when one of `addresses` cannot be bound.

    A port is given `wait_s` to come free: a process that has just exited may still be closing its sockets."""
    for host, port in addresses:
        deadline = time.monotonic() + wait_s
        while not _bindable(host, port) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _bindable(host, port):
            continue
        holders = port_holders(port)
        listeners = [h for h in holders if h.status == psutil.CONN_LISTEN] or holders
        held_by = "; ".join(h.describe() for h in listeners[:3]) or "a process in another network namespace"
        raise PortInUseError(
            f"{component} cannot start: port {port} on {host} is already in use by {held_by}. "
            f"Stop that process, or move this stack's ports with TWIN_LOCAL_PORT_OFFSET=N (or the TWIN_* port "
            f"setting of {component})."
        )


def process_tree(pid: int | None) -> list[psutil.Process]:
    """The process and all its descendants (empty when it is gone)."""
    if not pid:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


def listening_sockets(pids: Iterable[int]) -> list[ListeningSocket]:
    """TCP listeners and unconnected UDP sockets of the given processes."""
    found: list[ListeningSocket] = []
    for pid in sorted(set(pids)):
        try:
            process = psutil.Process(pid)
            connections = process.connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        for c in connections:
            if c.type == socket.SOCK_STREAM and c.status == psutil.CONN_LISTEN:
                found.append(ListeningSocket(pid, _command(pid), c.laddr.ip, c.laddr.port, "tcp"))
            elif c.type == socket.SOCK_DGRAM and not c.raddr and c.laddr:
                found.append(ListeningSocket(pid, _command(pid), c.laddr.ip, c.laddr.port, "udp"))
    return found


def exposed(sockets: Iterable[ListeningSocket]) -> list[ListeningSocket]:
    """The sockets reachable from beyond this machine's loopback interface."""
    return [s for s in sockets if s.address not in LOOPBACK]
