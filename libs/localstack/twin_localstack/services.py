"""The platform's own processes in the local stack: schema migrations, cdc, inference, ingest, the node
(embedder + gateway sharing one embedded vector store), monitor and trainer (continuous training, runs in process).

Each is a Component like the servers: started once its dependencies are healthy, its health read from the
service's own endpoints (/readyz; inference: /v2/health/ready), its output in <home>/logs/<name>.log, stopped
by `twin-stack down`, SIGKILL-able for failure tests. Ports are the services' own defaults from
twin_common.settings (LOCAL_*_PORT, shifted by TWIN_LOCAL_PORT_OFFSET), so the stack and the services agree
without passing ports around.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass

from twin_common.settings import (
    LOCAL_CDC_PORT,
    LOCAL_EMBEDDER_PORT,
    LOCAL_GATEWAY_GRPC_PORT,
    LOCAL_GATEWAY_PORT,
    LOCAL_INFERENCE_GRPC_PORT,
    LOCAL_INFERENCE_PORT,
    LOCAL_INGEST_PORT,
    LOCAL_MONITOR_PORT,
    LOCAL_TRAINER_PORT,
    PostgresSettings,
)

from twin_localstack.components import Component, HealthRow, http_ok
from twin_localstack.paths import StackPaths
from twin_localstack.process import spawn

HOST = "127.0.0.1"
# Settings the stack decides per service: inherited from the caller's shell they would put every service
# of a node (one environment) on the same port, or mislabel its logs.
PER_SERVICE_VARIABLES = ("TWIN_HTTP_PORT", "TWIN_GRPC_PORT", "TWIN_HTTP_HOST", "TWIN_SERVICE_NAME")


@dataclass(frozen=True)
class Probe:
    """One service inside a process: the name `twin-stack status` shows, its readiness URL, its endpoint."""

    name: str
    ready_url: str
    endpoint: str
    ports: tuple[int, ...]

    @classmethod
    def http(cls, name: str, port: int, ready_path: str = "/readyz", grpc_port: int | None = None) -> Probe:
        endpoint = f"http://{HOST}:{port}"
        if grpc_port is not None:
            endpoint += f" (gRPC {HOST}:{grpc_port})"
        ports = (port,) if grpc_port is None else (port, grpc_port)
        return cls(name, f"http://{HOST}:{port}{ready_path}", endpoint, ports)

    def ready(self) -> bool:
        return http_ok(self.ready_url, timeout=3.0)


class ServiceProcess(Component):
    """A platform process: a Python entry point running one service, or several (`twin node`)."""

    group = "services"

    def __init__(
        self,
        paths: StackPaths,
        name: str,
        argv: list[str],
        probes: list[Probe],
        *,
        after: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        start_timeout: float = 180.0,
    ):
        super().__init__(paths)
        self.name = name
        self.argv = argv
        self.probes = probes
        # every service starts after the collector: twin_common.telemetry looks for it once, at start
        self.after = (*after, "otelcol")
        self.env = env or {}
        self.start_timeout = start_timeout

    def endpoint(self) -> str:
        return ", ".join(p.endpoint for p in self.probes)

    def ports(self) -> list[tuple[str, int]]:
        return [(HOST, port) for probe in self.probes for port in probe.ports]

    def healthy(self) -> bool:
        return self.running() and all(p.ready() for p in self.probes)

    def status_rows(self) -> list[HealthRow]:
        running = self.running()
        return [HealthRow(p.name, running and p.ready(), p.endpoint) for p in self.probes]

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in PER_SERVICE_VARIABLES}
        env.update(
            {
                "TWIN_STACK_HOME": str(self.paths.home),  # where the services read stack.env
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env)
        return env

    def fingerprint(self) -> str:
        """The command, the stack's settings for it and the generated credentials: a change restarts it."""
        stack_env = self.paths.env_file.read_bytes() if self.paths.env_file.exists() else b""
        material = json.dumps([self.argv, self.env, os.environ.get("TWIN_LOCAL_PORT_OFFSET", "")]).encode()
        return hashlib.sha256(material + b"\n" + stack_env).hexdigest()

    def _launch(self) -> None:
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        spawn(self.argv, self.pidfile, self.logfile, env=self._environment(), cwd=self.paths.home, inherit_env=False)


class Migrations(Component):
    """`twin migrate`: the source schema migrations, run once PostgreSQL is up (a job, not a server).

    Healthy when every migration the code ships is recorded as applied in the database."""

    name = "migrate"
    group = "services"
    after = ("postgres",)
    start_timeout = 120.0

    def endpoint(self) -> str:
        pg = self.paths.settings(PostgresSettings)
        return f"schema of {pg.database} at {pg.host}:{pg.port}"

    def running(self) -> bool:
        return False  # a job: nothing stays running

    def _versions(self) -> tuple[set[str], set[str]]:
        import psycopg
        from twin_ingest.db import migration_files

        shipped = {version for version, _ in migration_files()}
        with psycopg.connect(self.paths.settings(PostgresSettings).dsn(), connect_timeout=3) as conn:
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        return shipped, applied

    def healthy(self) -> bool:
        try:
            shipped, applied = self._versions()
        except Exception:
            return False
        return shipped <= applied

    def start(self) -> None:
        self._launch()
        if not self.healthy():
            raise RuntimeError(f"migrate: migrations still pending after `twin migrate`:\n{self.log_tail()}")

    def _launch(self) -> None:
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as out:
            result = subprocess.run(
                [sys.executable, "-m", "twin_cli.main", "migrate"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TWIN_STACK_HOME": str(self.paths.home)},
                timeout=self.start_timeout,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"migrate: `twin migrate` failed (exit {result.returncode}):\n{self.log_tail()}")

    def stop(self) -> None:
        return None

    def kill(self) -> None:
        return None


# A run the local trainer starts on a trigger fits a laptop: a CPU budget (64 rows, one epoch, 8 preference pairs,
# a small evaluation) and one torch thread, so the rest of the platform keeps a core. The caller's environment wins.
TRAINER_LOCAL_DEFAULTS = {
    "TWIN_RUN_ARGS": json.dumps(
        "--max-sft-rows 64 --sft-epochs 1 --max-length 512 --preference-pairs 8 --eval-heldout-passages 16 "
        "--eval-generations 4 --eval-max-new-tokens 48".split()
    ),
    "TWIN_TORCH_THREADS": "1",
}


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def qdrant_url(paths: StackPaths) -> str | None:
    """TWIN_QDRANT_URL from the environment or stack.env: with a Qdrant server the store is not embedded."""
    from twin_localstack.credentials import read_env_file

    return os.environ.get("TWIN_QDRANT_URL") or read_env_file(paths.env_file).get("TWIN_QDRANT_URL") or None


def platform_services(paths: StackPaths) -> list[Component]:
    """The platform's processes in the local stack, in start order (each also names what it waits for)."""
    embedder = Probe.http("embedder", LOCAL_EMBEDDER_PORT)
    gateway = Probe.http("gateway", LOCAL_GATEWAY_PORT, grpc_port=LOCAL_GATEWAY_GRPC_PORT)
    store_env = {
        # the embedded vector store and the embedder's Feast repository live with the stack's other state
        "TWIN_STORE_PATH": str(paths.data / "qdrant"),
        "TWIN_FEAST_PROJECT": "twin",
        "TWIN_FEAST_DATA_DIR": str(paths.data / "feast"),
    }
    vector_readers_and_writers: list[Component]
    if qdrant_url(paths):  # a Qdrant server admits many processes: each service runs apart
        vector_readers_and_writers = [
            ServiceProcess(
                paths,
                "embedder",
                _python("twin_embedder"),
                [embedder],
                after=("kafka", "redis", "cdc"),
                env=store_env,
            ),
            ServiceProcess(
                paths,
                "gateway",
                _python("twin_gateway"),
                [gateway],
                after=("migrate", "redis", "kafka"),
            ),
        ]
    else:  # the embedded engine admits one process per store: embedder and gateway share one (twin node)
        vector_readers_and_writers = [
            ServiceProcess(
                paths,
                "node",
                _python("twin_node", "embedder", "gateway"),
                [embedder, gateway],
                # not after inference: the gateway reaches it per request (its readiness is keys + Redis), so the
                # two heaviest starts overlap
                after=("kafka", "redis", "cdc", "migrate"),
                env=store_env,
            )
        ]
    return [
        Migrations(paths),
        ServiceProcess(
            paths, "cdc", _python("twin_cdc"), [Probe.http("cdc", LOCAL_CDC_PORT)], after=("connect", "migrate")
        ),
        ServiceProcess(
            paths,
            "inference",
            _python("twin_inference"),
            [Probe.http("inference", LOCAL_INFERENCE_PORT, "/v2/health/ready", grpc_port=LOCAL_INFERENCE_GRPC_PORT)],
            after=("mlflow", "kafka"),
            start_timeout=600.0,  # the first start converts SmolLM2 from GGUF (cached afterwards)
        ),
        ServiceProcess(
            paths, "ingest", _python("twin_ingest"), [Probe.http("ingest", LOCAL_INGEST_PORT)], after=("migrate",)
        ),
        *vector_readers_and_writers,
        ServiceProcess(
            paths, "monitor", _python("twin_monitor"), [Probe.http("monitor", LOCAL_MONITOR_PORT)], after=("kafka",)
        ),
        ServiceProcess(
            paths,
            "trainer",
            _python("twin_trainer"),
            [Probe.http("trainer", LOCAL_TRAINER_PORT)],
            after=("kafka", "mlflow", "migrate"),
            env={name: os.environ.get(name, value) for name, value in TRAINER_LOCAL_DEFAULTS.items()},
        ),
    ]
