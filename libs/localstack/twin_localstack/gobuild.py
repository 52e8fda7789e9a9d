"""Building the stack's Go programs (the OpenTelemetry Collector distribution, Jaeger) once into the cache folder.

Go modules come from the Go module proxy; the module and build caches live under <cache>/go, so a second build
(or a rebuild after a manifest change) compiles only what changed. A build that cannot run at all (no Go
toolchain, the module proxy unreachable) raises BuildImpossible with the reason; the stack then falls back to
writing telemetry to files and says why.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("twin.stack")

OTEL_DIR = Path(__file__).resolve().parents[1] / "otel"
BUILDER_MANIFEST = OTEL_DIR / "builder-config.yaml"
BUILDER_MODULE = "go.opentelemetry.io/collector/cmd/builder"
BUILDER_VERSION = "v0.165.0"  # the builder of the same release as the manifest's core modules
JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_VERSION = "v1.76.0"  # Jaeger v2.13: its own collector distribution with a trace store and query API
LDFLAGS = "-s -w"


class BuildImpossible(RuntimeError):
    """The build cannot run here (no toolchain, no module proxy); the message says why."""


class BuildFailed(RuntimeError):
    """The build ran and failed: a bug to fix, not a reason to fall back quietly."""


def go_binary() -> str | None:
    return shutil.which("go") or (str(Path("/usr/local/go/bin/go")) if Path("/usr/local/go/bin/go").exists() else None)


def go_env(cache: Path) -> dict[str, str]:
    """The environment of every go command: caches under <cache>/go, modules resolved as needed (-mod=mod:
    the builder's own `go mod tidy` fails on a test-only dependency the proxy refuses), no cgo, local toolchain."""
    go_root = cache / "go"
    return {
        **os.environ,
        "GOPATH": str(go_root),
        "GOMODCACHE": str(go_root / "mod"),
        "GOCACHE": str(go_root / "build"),
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }


def manifest_digest() -> str:
    return hashlib.sha256(BUILDER_MANIFEST.read_bytes()).hexdigest()[:12]


def collector_binary(cache: Path) -> Path:
    """Where the collector built from this manifest lives (a manifest change gives a new file)."""
    return cache / "otel" / "bin" / f"twin-otelcol-{manifest_digest()}"


def jaeger_binary(cache: Path) -> Path:
    return cache / "otel" / "bin" / f"jaeger-{JAEGER_VERSION}"


@contextmanager
def _build_lock(cache: Path) -> Iterator[None]:
    """One build at a time across processes (several checkouts share the cache folder)."""
    lockfile = cache / "otel" / ".build.lock"
    lockfile.parent.mkdir(parents=True, exist_ok=True)
    with lockfile.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_UNREACHABLE_HINTS = (
    "dial tcp",
    "no such host",
    "connection refused",
    "i/o timeout",
    "TLS handshake timeout",
    "network is unreachable",
    "proxyconnect",
)


def _go(argv: list[str], cwd: Path, cache: Path, what: str) -> None:
    started = time.monotonic()
    result = subprocess.run(argv, cwd=cwd, env=go_env(cache), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        if any(hint in output for hint in _UNREACHABLE_HINTS):
            raise BuildImpossible(f"{what}: the Go module proxy is unreachable ({output.splitlines()[-1][:300]})")
        raise BuildFailed(f"{what} failed (exit {result.returncode}):\n{output[-3000:]}")
    log.info("%s: %.0f s", what, time.monotonic() - started)


def _require_go() -> str:
    go = go_binary()
    if go is None:
        raise BuildImpossible("no Go toolchain on PATH (the collector and Jaeger are built from Go modules)")
    return go


def _ensure(cache: Path, target: Path, build: Callable[[Path, str, Path], None]) -> Path:
    """`target` if it exists, else built now (once across processes) by build(cache, go, partial file)."""
    if target.exists():
        return target
    go = _require_go()
    with _build_lock(cache):
        if not target.exists():
            partial = target.with_suffix(".partial")
            target.parent.mkdir(parents=True, exist_ok=True)
            build(cache, go, partial)
            partial.rename(target)
    return target


def ensure_collector(cache: Path) -> Path:
    """The collector binary built from libs/localstack/otel/builder-config.yaml (built now if missing)."""
    target = collector_binary(cache)

    def build(cache: Path, go: str, partial: Path) -> None:
        log.info("building the OpenTelemetry Collector distribution into %s (once; a few minutes cold)", target)
        builder = cache / "otel" / "bin" / f"builder-{BUILDER_VERSION}"
        if not builder.exists():
            _go(
                [go, "install", f"{BUILDER_MODULE}@{BUILDER_VERSION}"],
                cache,
                cache,
                f"go install builder@{BUILDER_VERSION}",
            )
            installed = cache / "go" / "bin" / "builder"
            builder.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(installed), builder)
        workdir = cache / "otel" / f"collector-{manifest_digest()}"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        shutil.copy(BUILDER_MANIFEST, workdir / "builder-config.yaml")
        # Generate the sources and go.mod. The builder then runs `go mod tidy`, which fails: a test-only
        # dependency of fileexporter is refused by the module proxy. Its go.mod is written by then, and
        # `go build -mod=mod` below resolves what the binary needs, so only a missing go.mod is an error.
        try:
            _go(
                [str(builder), "--config", "builder-config.yaml", "--skip-compilation"],
                workdir,
                cache,
                "collector builder (generate sources)",
            )
        except BuildFailed as exc:
            if not (workdir / "src" / "go.mod").exists() or not (workdir / "src" / "components.go").exists():
                raise
            log.debug("collector builder: tidy step failed as expected: %s", str(exc)[-300:])
        _go(
            [go, "build", "-trimpath", f"-ldflags={LDFLAGS}", "-o", str(partial), "."],
            workdir / "src",
            cache,
            "go build collector",
        )

    return _ensure(cache, target, build)


JAEGER_GO_MOD = "module twin-jaeger-build\n\ngo 1.24\n"


def ensure_jaeger(cache: Path) -> Path:
    """Jaeger v2 (`cmd/jaeger`) built from its module: `go install` refuses it (replace directives in its
    go.mod), so it is added as a tool of a scratch module and built from there."""
    target = jaeger_binary(cache)

    def build(cache: Path, go: str, partial: Path) -> None:
        log.info("building Jaeger %s into %s (once; several minutes cold)", JAEGER_VERSION, target)
        workdir = cache / "otel" / f"jaeger-{JAEGER_VERSION}"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "go.mod").write_text(JAEGER_GO_MOD)
        (workdir / "go.sum").unlink(missing_ok=True)
        _go(
            [go, "get", "-tool", f"{JAEGER_MODULE}/cmd/jaeger@{JAEGER_VERSION}"],
            workdir,
            cache,
            f"go get jaeger@{JAEGER_VERSION}",
        )
        _go(
            [go, "build", "-trimpath", f"-ldflags={LDFLAGS}", "-o", str(partial), f"{JAEGER_MODULE}/cmd/jaeger"],
            workdir,
            cache,
            "go build jaeger",
        )

    return _ensure(cache, target, build)
