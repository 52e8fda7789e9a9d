"""Check a service image without a Docker engine: replay the build stage of docker/service.Dockerfile (with
the service's build arguments from skaffold.yaml) into a throwaway venv, start its ENTRYPOINT with the image's
ENV, and poll the path its HEALTHCHECK probes.

    python docker/dry_build.py ingest [--keep]

What it replays: the build stage's COPY lines (from the repository root) and its `uv pip install` lines, with a
venv in place of /opt/venv. What it cannot replay: the base image, the non-root user, and the torch step from a
separate wheel index (not reachable from every machine): there torch comes from the lock like any dependency.
Exit status 0 when the HEALTHCHECK path answers 200.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the pinned uv, run as a module of the interpreter that runs make (as the Makefile does)
UV = [shutil.which(os.environ.get("PYTHON", "python3")) or "python3", "-m", "uv"]


def logical_lines(text: str) -> list[str]:
    """Dockerfile instructions with backslash continuations joined and comments dropped."""
    out, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        out.append(buf + line)
        buf = ""
    return out


def stages(lines: list[str]) -> list[list[str]]:
    result: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            result.append([])
        elif result:
            result[-1].append(line)
    return result


def parse_env(instruction: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in instruction.split()[1:] if "=" in pair)


def expand(line: str, args: dict[str, str]) -> str:
    """${NAME} and $NAME of build arguments replaced by their values (other $ forms left to the shell)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), line)


def stage_args(stage: list[str], build_args: dict[str, str]) -> dict[str, str]:
    """The ARGs a stage declares: their defaults, overridden by the build arguments given."""
    values: dict[str, str] = {}
    for line in stage:
        if line.upper().startswith("ARG "):
            name, _, default = line[4:].strip().partition("=")
            values[name] = build_args.get(name, default)
    return values


def build_args_of(service: str) -> tuple[Path, dict[str, str]]:
    """The Dockerfile and build arguments skaffold.yaml gives the service's image."""
    import yaml

    config = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    artifact = next(a for a in config["build"]["artifacts"] if a["image"] == f"twin-{service}")
    return REPO / artifact["context"] / artifact["docker"]["dockerfile"], artifact["docker"].get("buildArgs", {})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service")
    parser.add_argument("--keep", action="store_true", help="keep the temporary build folder")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the health path (inference converts and loads models first)",
    )
    args = parser.parse_args()

    dockerfile, build_args = build_args_of(args.service)
    build, final = stages(logical_lines(dockerfile.read_text()))
    build = [expand(line, stage_args(build, build_args)) for line in build]
    final = [expand(line, stage_args(final, build_args)) for line in final]

    work = Path(tempfile.mkdtemp(prefix=f"dry-build-{args.service}-"))
    venv = work / "venv"
    started = time.monotonic()
    try:
        subprocess.run([*UV, "venv", "-q", str(venv), "--python", "3.11"], check=True)
        src = work / "src"
        src.mkdir()
        shell_env = {**os.environ, "PATH": f"{venv}/bin:{os.environ.get('PATH', '')}"}
        for line in build:
            word = line.split()[0].upper()
            if word == "COPY":
                *sources, dest = line.split()[1:]
                for source in sources:
                    target = src / dest if not dest.endswith("/") and len(sources) == 1 else src / dest / source
                    if dest in ("./", "."):
                        target = src / Path(source).name
                    origin = REPO / source
                    if origin.is_dir():
                        shutil.copytree(origin, target, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
                    else:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(origin, target)
            elif word == "RUN" and "--index-url" in line:
                if build_args.get("TORCH_INDEX_URL"):
                    print(f"{args.service}: torch step skipped (separate wheel index); torch comes from the lock")
            elif word == "RUN" and "uv pip install" in line:
                command = line[4:].replace("/opt/venv", str(venv))
                command = command.replace("uv pip install", " ".join(UV) + " pip install -q", 1)
                subprocess.run(command, shell=True, check=True, cwd=src, env=shell_env)
        installed_s = time.monotonic() - started

        env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
        for line in final:
            if line.upper().startswith("ENV "):
                env.update(parse_env(line))
        port = free_port()
        env.update(
            TWIN_HTTP_HOST="127.0.0.1",
            TWIN_HTTP_PORT=str(port),
            HOME=str(work),
            TWIN_OTEL_SPANS_FILE=str(work / "spans.jsonl"),
            PATH=f"{venv}/bin:{env.get('PATH', '')}",
        )
        entrypoint = next(
            json.loads(line[len("ENTRYPOINT") :]) for line in final if line.upper().startswith("ENTRYPOINT")
        )
        health = next(line for line in final if line.upper().startswith("HEALTHCHECK"))
        literal = re.search(r"'(/[^']*)'", health)
        path = literal.group(1) if literal else env["IMAGE_HEALTH_PATH"]

        process = subprocess.Popen(
            [str(venv / "bin" / entrypoint[0]), *entrypoint[1:]],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    print(process.stdout.read()[-3000:])
                    print(f"{args.service}: entrypoint {entrypoint} exited with {process.returncode}")
                    return 1
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
                        print(
                            f"{args.service}: installed in {installed_s:.1f} s; {entrypoint[0]} answered "
                            f"{reply.status} on {path} after {time.monotonic() - started - installed_s:.1f} s"
                        )
                        return 0
                except OSError:
                    time.sleep(0.3)
            print(f"{args.service}: no answer on {path} within {args.timeout:.0f} s")
            return 1
        finally:
            process.terminate()
            process.wait(timeout=10)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
