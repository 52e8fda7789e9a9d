"""Installing what the local stack needs on a fresh machine: Debian packages and Maven Central jars.

Jars are resolved by Maven from libs/localstack/pom.xml into the cache folder (outside the repo), one
folder per profile, and re-resolved only when the pom changes.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

from twin_cli.progress import NULL_PROGRESS, ProgressReporter

from twin_localstack.paths import StackPaths

log = logging.getLogger("twin.stack")

POM = Path(__file__).resolve().parents[1] / "pom.xml"
JAR_PROFILES = ("kafka", "connect", "debezium")
DEBIAN_PACKAGES = {
    "postgres": ["postgresql"],
    "java": ["openjdk-17-jre-headless"],
    "mvn": ["maven"],
}


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout), or the one on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _missing_tools() -> list[str]:
    missing = []
    if postgres_bin_dir() is None:
        missing.append("postgres")
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            missing.append(tool)
    return missing


def ensure_system_packages() -> None:
    missing = _missing_tools()
    if not missing:
        return
    packages = sorted({pkg for tool in missing for pkg in DEBIAN_PACKAGES[tool]})
    if os.geteuid() != 0:
        raise SystemExit(f"missing {missing}: install the Debian packages {packages} (needs root)")
    log.info("installing Debian packages %s", packages)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)
    still_missing = _missing_tools()
    if still_missing:
        raise SystemExit(f"still missing after apt-get install: {still_missing}")


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def missing_jar_profiles(paths: StackPaths) -> list[str]:
    digest = _pom_digest()
    return [p for p in JAR_PROFILES if not _jars_current(paths, p, digest)]


def _jars_current(paths: StackPaths, profile: str, digest: str) -> bool:
    marker = paths.jars / profile / ".pom-sha256"
    return marker.exists() and marker.read_text() == digest


def ensure_jars(paths: StackPaths, on_profile=None) -> None:
    """Resolve each jar profile into <cache>/jars/<profile> unless it is already there for this pom;
    `on_profile(profile)` is called after each one resolved."""
    digest = _pom_digest()
    for profile in JAR_PROFILES:
        target = paths.jars / profile
        marker = target / ".pom-sha256"
        if _jars_current(paths, profile, digest):
            continue
        log.info("resolving %s jars from Maven Central into %s", profile, target)
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(POM),
                f"-P{profile}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={target}",
                "-DincludeScope=runtime",
            ],
            check=True,
        )
        marker.write_text(digest)
        if on_profile is not None:
            on_profile(profile)
    plugin_dir = paths.jars / "plugins"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    link = plugin_dir / "debezium-connector-postgres"
    if not link.exists():
        link.symlink_to(paths.jars / "debezium", target_is_directory=True)


def install(paths: StackPaths, progress: ProgressReporter = NULL_PROGRESS) -> None:
    """What a fresh machine lacks: Debian packages, then the jars (a progress bar when there is work to do)."""
    paths.ensure()
    steps = (1 if _missing_tools() else 0) + len(missing_jar_profiles(paths))
    if steps:
        with progress.task("installing the local stack", total=steps, unit="steps") as task:
            if _missing_tools():
                task.update(description="installing Debian packages")
                ensure_system_packages()
                task.advance()

            def resolved(profile: str) -> None:
                task.update(description=f"resolved {profile} jars")
                task.advance()

            task.update(description="resolving jars from Maven Central")
            ensure_jars(paths, on_profile=resolved)
    from twin_localstack.redis_stack import ensure_redis_stack  # (it builds on components, which import us)

    ensure_redis_stack(paths)  # redis-stack-server from the lock's wheel + Debian's libssl1.1 beside it
