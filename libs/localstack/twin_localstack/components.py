"""The servers of the local stack, each with start, stop, kill and a health check.

All bind to 127.0.0.1 on the ports in twin_common.settings and keep their state under the stack home.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import pwd
import shutil
import socket
import subprocess
import sys
import urllib.request
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from twin_common.settings import (
    LOCAL_KAFKA_CONTROLLER_PORT,
    ConnectSettings,
    KafkaSettings,
    MlflowSettings,
    PostgresSettings,
    RedisSettings,
)

from twin_localstack.install import postgres_bin_dir
from twin_localstack.paths import StackPaths
from twin_localstack.ports import ensure_ports_free, process_tree
from twin_localstack.process import kill_pid, pid_alive, read_pid, spawn, stop_pid, wait_until

log = logging.getLogger("twin.stack")


def new_kafka_cluster_id() -> str:
    """A random Kafka cluster id: 16 bytes in URL-safe base64 without padding (22 characters).

    Like Kafka's own Uuid.randomUuid, ids that start with '-' are drawn again: the storage tool's
    argument parser reads such an id as an option and refuses to format (one draw in 64).
    """
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if is_valid_kafka_cluster_id(candidate):
            return candidate


def is_valid_kafka_cluster_id(value: str) -> bool:
    return len(value) == 22 and not value.startswith("-") and all(c.isalnum() or c in "-_" for c in value)


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether a GET of url answers 2xx within timeout."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except Exception:
        return False


def _host_port(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


@dataclass(frozen=True)
class HealthRow:
    """One line of `twin-stack status`: a server, or one service inside a process."""

    name: str
    healthy: bool
    endpoint: str


class Component(ABC):
    """One process of the stack (a server, or a platform service), with start, stop, kill and a health check.

    `after` names the components that must be healthy before this one starts; `group` says which set it
    belongs to ("servers": the backing servers integration tests need; "services": the platform's own).
    """

    name: str
    group: str = "servers"
    after: tuple[str, ...] = ()
    start_timeout: float = 120.0

    def __init__(self, paths: StackPaths):
        self.paths = paths

    @property
    def pidfile(self) -> Path:
        return self.paths.run / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.paths.logs / f"{self.name}.log"

    @property
    def _fingerprint_file(self) -> Path:
        return self.paths.run / f"{self.name}.fingerprint"

    def pid(self) -> int | None:
        return read_pid(self.pidfile)

    def pids(self) -> list[int]:
        """The component's process and all its descendants."""
        return [p.pid for p in process_tree(self.pid())]

    def running(self) -> bool:
        return pid_alive(self.pid())

    @abstractmethod
    def healthy(self) -> bool: ...

    @abstractmethod
    def endpoint(self) -> str: ...

    @abstractmethod
    def _launch(self) -> None: ...

    def ports(self) -> list[tuple[str, int]]:
        """The (host, port) pairs it listens on: checked free before it starts."""
        return []

    def fingerprint(self) -> str | None:
        """A digest of the configuration it is launched with (credentials included); when it changes, a running
        instance is restarted by the next start. None: no such check."""
        return None

    def status_rows(self) -> list[HealthRow]:
        return [HealthRow(self.name, self.healthy(), self.endpoint())]

    def _stale(self) -> bool:
        current = self.fingerprint()
        if current is None:
            return False
        stored = self._fingerprint_file.read_text() if self._fingerprint_file.exists() else None
        return stored != current

    def start(self) -> None:
        if self.running() and self._stale():
            log.info("%s: configuration changed since it started, restarting", self.name)
            self.stop()
        if self.running() and self.healthy():
            return
        if self.running():  # started earlier but not answering yet
            if self._wait_healthy():
                return
            raise RuntimeError(f"{self.name} is running but not healthy; see {self.logfile}")
        ensure_ports_free(self.name, self.ports())
        self._launch()
        fingerprint = self.fingerprint()
        if fingerprint is not None:
            self._fingerprint_file.write_text(fingerprint)
        if not self._wait_healthy():
            state = "did not become healthy" if self.running() else "exited"
            raise RuntimeError(f"{self.name} {state} in {self.start_timeout}s:\n{self.log_tail()}")

    def _wait_healthy(self) -> bool:
        """Poll until healthy; give up early when the process has died."""
        wait_until(lambda: self.healthy() or not self.running(), self.start_timeout)
        return self.healthy()

    def log_tail(self, chars: int = 3000) -> str:
        return self.logfile.read_text(errors="replace")[-chars:] if self.logfile.exists() else ""

    def stop(self) -> None:
        stop_pid(self.pid())
        self.pidfile.unlink(missing_ok=True)

    def kill(self) -> None:
        """Crash it (SIGKILL), as a failure test wants."""
        kill_pid(self.pid())
        self.pidfile.unlink(missing_ok=True)


def _postgres_home(paths: StackPaths) -> Path | None:
    """None when the postgres system user can reach the stack home (data then lives there); else a folder
    under /var/tmp for this stack. Only matters when the stack runs as root and hands PostgreSQL to `postgres`."""
    if os.geteuid() != 0:
        return None
    uid = pwd.getpwnam("postgres").pw_uid
    paths.home.mkdir(parents=True, exist_ok=True)
    for folder in [paths.home, *paths.home.parents]:
        info = folder.stat()
        if info.st_uid != uid and not info.st_mode & 0o001:
            digest = hashlib.sha1(str(paths.home).encode()).hexdigest()[:12]
            home = Path("/var/tmp") / f"twin-stack-{digest}"
            home.mkdir(parents=True, exist_ok=True)
            os.chown(home, uid, pwd.getpwnam("postgres").pw_gid)
            return home
    return None


class Postgres(Component):
    """PostgreSQL with wal_level=logical, the source of truth and MLflow's backend store."""

    name = "postgres"
    start_timeout = 60.0

    def __init__(self, paths: StackPaths):
        super().__init__(paths)
        self.bindir = postgres_bin_dir()
        home = _postgres_home(paths)
        if home is None:
            self.datadir, self.socketdir, self._logfile = paths.data / "postgres", paths.run, None
        else:  # the stack home is not reachable by the postgres user (e.g. a clone inside a 0700 folder)
            self.datadir, self.socketdir, self._logfile = home / "data", home / "run", home / "postgres.log"

    @property
    def logfile(self) -> Path:
        return self._logfile or super().logfile

    @property
    def settings(self) -> PostgresSettings:
        """Read at each use: the stack draws the password (stack.env) after its components are made."""
        return self.paths.settings(PostgresSettings)

    def endpoint(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def ports(self) -> list[tuple[str, int]]:
        return [(self.settings.host, self.settings.port)]

    def _as_postgres_user(self, argv: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root: hand the server to the `postgres` system user.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def _bin(self, tool: str) -> str:
        if self.bindir is None:
            raise RuntimeError("PostgreSQL is not installed: run `twin-stack install`")
        return str(self.bindir / tool)

    def _initdb(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.socketdir.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        pwfile = self.socketdir / "pg.pw"
        pwfile.write_text(self.settings.password + "\n")
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            for path in (self.datadir, pwfile, self.socketdir, self.logfile.parent):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            self._as_postgres_user(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    self.settings.user,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        pwfile.unlink()
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# twin local stack\n"
                "wal_level = logical\nmax_wal_senders = 10\nmax_replication_slots = 10\n"
                f"listen_addresses = '{self.settings.host}'\nport = {self.settings.port}\n"
                f"unix_socket_directories = '{self.socketdir}'\n"
                "shared_buffers = 128MB\nmax_connections = 200\n"
            )
        with (self.datadir / "pg_hba.conf").open("a") as hba:
            hba.write(f"host replication {self.settings.user} 127.0.0.1/32 scram-sha-256\n")

    def _launch(self) -> None:
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb()
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            self.socketdir.mkdir(parents=True, exist_ok=True)
            os.chown(self.socketdir, entry.pw_uid, entry.pw_gid)
            self.logfile.touch()
            os.chown(self.logfile, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            self._as_postgres_user(
                [
                    *[self._bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60"],
                    # the address from settings on every start, not only the one written at initdb: a data
                    # folder made before a port change (or under another TWIN_LOCAL_PORT_OFFSET) follows it
                    *["-o", f"-p {self.settings.port} -c listen_addresses={self.settings.host}", "start"],
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        pid = (self.datadir / "postmaster.pid").read_text().splitlines()[0]
        self.pidfile.write_text(pid)
        if wait_until(self._accepts_connections, 30):
            self.sync_password()
            self._ensure_databases()

    def start(self) -> None:
        if self.running() and self._accepts_connections():
            self.sync_password()  # a stack started before its password was generated (or changed)
        super().start()

    def _password_accepted(self) -> bool:
        try:
            return self._psql("SELECT 1") == "1"
        except subprocess.CalledProcessError:
            return False

    def sync_password(self) -> bool:
        """Make the role's password the configured one (stack.env, or TWIN_PG_PASSWORD); True if it changed.

        A stack created before passwords were generated has the role password `twin`: the local socket
        (trust authentication, reachable only by this machine's users who can read the socket folder) sets
        the generated one, so the data stays and every client uses the new password from then on."""
        if self._password_accepted():
            return False
        password = self.settings.password.replace("'", "''")
        subprocess.run(
            [
                self._bin("psql"),
                "-h",
                str(self.socketdir),
                "-p",
                str(self.settings.port),
                "-U",
                self.settings.user,
                "-d",
                "postgres",
                "-qtA",
                "-v",
                "ON_ERROR_STOP=1",
            ],
            input=f"ALTER ROLE \"{self.settings.user}\" PASSWORD '{password}';\n",  # stdin: not on a command line
            check=True,
            capture_output=True,
            text=True,
        )
        log.info("postgres: role %s now uses the configured password", self.settings.user)
        return True

    def _psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                self._bin("psql"),
                "-h",
                self.settings.host,
                "-p",
                str(self.settings.port),
                "-U",
                self.settings.user,
                "-d",
                database,
                "-tAc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": self.settings.password},
        )
        return result.stdout.strip()

    def _ensure_databases(self) -> None:
        for database in (self.settings.database, "mlflow"):
            if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'") != "1":
                self._psql(f'CREATE DATABASE "{database}"')

    def _accepts_connections(self) -> bool:
        result = subprocess.run(
            [self._bin("pg_isready"), "-h", self.settings.host, "-p", str(self.settings.port), "-q"],
            check=False,
        )
        return result.returncode == 0

    def healthy(self) -> bool:
        if not self._accepts_connections():
            return False
        try:
            return self._psql("SHOW wal_level") == "logical"
        except subprocess.CalledProcessError:
            return False

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            subprocess.run(
                self._as_postgres_user([self._bin("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"]),
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        super().stop()


class Redis(Component):
    """Redis: Feast's online store and the gateway's cache and rate limits."""

    name = "redis"
    start_timeout = 30.0

    def __init__(self, paths: StackPaths):
        super().__init__(paths)
        url = paths.settings(RedisSettings).url
        hostport = url.split("//", 1)[1].split("/", 1)[0]
        self.host, self.port = _host_port(hostport)

    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def ports(self) -> list[tuple[str, int]]:
        return [(self.host, self.port)]

    def _launch(self) -> None:
        datadir = self.paths.data / "redis"
        datadir.mkdir(parents=True, exist_ok=True)
        spawn(
            [
                "redis-server",
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--dir",
                str(datadir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "yes",
            ],
            self.pidfile,
            self.logfile,
        )

    def healthy(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = org.apache.kafka
logger.kafka.level = warn
logger.kafkaserver.name = kafka
logger.kafkaserver.level = warn
logger.debezium.name = io.debezium
logger.debezium.level = info
logger.reflections.name = org.reflections
logger.reflections.level = error
"""


class _JavaComponent(Component):
    heap = "512m"
    main_class: str
    jar_profile: str

    def _log4j(self) -> Path:
        path = self.paths.conf / "log4j2.properties"
        path.write_text(LOG4J2)
        return path

    def _java(self, config: Path) -> list[str]:
        java = shutil.which("java") or "java"
        return [
            java,
            "-Xms128m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self._log4j()}",
            "-cp",
            str(self.paths.jars / self.jar_profile / "*"),
            self.main_class,
            str(config),
        ]


class Kafka(_JavaComponent):
    """Apache Kafka, one KRaft node (broker and controller), from Maven Central jars."""

    name = "kafka"
    main_class = "kafka.Kafka"
    jar_profile = "kafka"
    start_timeout = 90.0

    def __init__(self, paths: StackPaths):
        super().__init__(paths)
        self.bootstrap = paths.settings(KafkaSettings).bootstrap_servers
        self.host, self.port = _host_port(self.bootstrap.split(",")[0])
        self.datadir = paths.data / "kafka"
        self.controller_port = int(os.environ.get("TWIN_STACK_KAFKA_CONTROLLER_PORT", LOCAL_KAFKA_CONTROLLER_PORT))

    def endpoint(self) -> str:
        return self.bootstrap

    def ports(self) -> list[tuple[str, int]]:
        return [(self.host, self.port), (self.host, self.controller_port)]

    def _config(self) -> Path:
        path = self.paths.conf / "kafka.properties"
        path.write_text(
            "process.roles=broker,controller\nnode.id=1\n"
            f"controller.quorum.voters=1@{self.host}:{self.controller_port}\n"
            f"listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}\n"
            f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}\n"
            "controller.listener.names=CONTROLLER\n"
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            f"log.dirs={self.datadir}\n"
            "num.partitions=3\n"
            "offsets.topic.replication.factor=1\noffsets.topic.num.partitions=10\n"
            "transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n"
            "share.coordinator.state.topic.replication.factor=1\nshare.coordinator.state.topic.min.isr=1\n"
            "group.initial.rebalance.delay.ms=0\nauto.create.topics.enable=true\n"
            "log.retention.hours=168\n"
        )
        return path

    def _launch(self) -> None:
        config = self._config()
        if not (self.datadir / "meta.properties").exists():
            cluster_id = self._cluster_id()
            formatted = subprocess.run(
                [
                    shutil.which("java") or "java",
                    "-cp",
                    str(self.paths.jars / "kafka" / "*"),
                    f"-Dlog4j2.configurationFile={self._log4j()}",
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    cluster_id,
                    "--config",
                    str(config),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            if formatted.returncode != 0:
                raise RuntimeError(
                    f"kafka: formatting {self.datadir} with cluster id {cluster_id} failed "
                    f"(exit {formatted.returncode}): {formatted.stderr.strip()[-2000:]}"
                )
        spawn(self._java(config), self.pidfile, self.logfile)

    def _cluster_id(self) -> str:
        idfile = self.paths.conf / "kafka-cluster-id"
        if not idfile.exists() or not is_valid_kafka_cluster_id(idfile.read_text().strip()):
            idfile.write_text(new_kafka_cluster_id())
        return idfile.read_text().strip()

    def healthy(self) -> bool:
        if not _port_open(self.host, self.port):
            return False
        try:
            from kafka import KafkaAdminClient

            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
            try:
                return bool(admin.describe_cluster().get("brokers"))
            finally:
                admin.close()
        except Exception:
            return False


class KafkaConnect(_JavaComponent):
    """Kafka Connect (distributed mode, state in Kafka topics) with the Debezium PostgreSQL connector."""

    name = "connect"
    after = ("kafka",)
    main_class = "org.apache.kafka.connect.cli.ConnectDistributed"
    jar_profile = "connect"
    heap = "768m"
    start_timeout = 120.0

    def __init__(
        self,
        paths: StackPaths,
        *,
        name: str | None = None,
        url: str | None = None,
        group_id: str = "twin-connect",
        storage_topic_prefix: str = "_twin-connect",
        heap: str | None = None,
    ):
        """Defaults describe the shared worker; a test can run a private one beside it by giving its own
        name (pid, log and config file names), url (REST listener), group id and storage topics."""
        super().__init__(paths)
        if name is not None:
            self.name = name
        if heap is not None:
            self.heap = heap
        self.url = url or paths.settings(ConnectSettings).url
        self.bootstrap = paths.settings(KafkaSettings).bootstrap_servers
        self.group_id = group_id
        self.storage_topic_prefix = storage_topic_prefix

    def endpoint(self) -> str:
        return self.url

    def ports(self) -> list[tuple[str, int]]:
        return [_host_port(self.url.split("//", 1)[1].rstrip("/").replace("localhost", "127.0.0.1"))]

    def _config(self) -> Path:
        listener = self.url.replace("localhost", "127.0.0.1")
        path = self.paths.conf / f"{self.name}.properties"
        topics = self.storage_topic_prefix
        path.write_text(
            f"bootstrap.servers={self.bootstrap}\n"
            f"group.id={self.group_id}\n"
            "key.converter=org.apache.kafka.connect.json.JsonConverter\n"
            "value.converter=org.apache.kafka.connect.json.JsonConverter\n"
            "key.converter.schemas.enable=false\nvalue.converter.schemas.enable=false\n"
            f"offset.storage.topic={topics}-offsets\nconfig.storage.topic={topics}-configs\n"
            f"status.storage.topic={topics}-status\n"
            "offset.storage.replication.factor=1\nconfig.storage.replication.factor=1\n"
            "status.storage.replication.factor=1\n"
            "offset.flush.interval.ms=1000\n"
            "connector.client.config.override.policy=All\n"
            f"listeners={listener}\n"
            f"plugin.path={self.paths.jars / 'plugins'}\n"
            "plugin.discovery=only_scan\n"
        )
        return path

    def _launch(self) -> None:
        spawn(self._java(self._config()), self.pidfile, self.logfile)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/connector-plugins", timeout=3) as response:
                plugins = json.load(response)
            return any(p.get("class", "").endswith("PostgresConnector") for p in plugins)
        except Exception:
            return False


class Mlflow(Component):
    """MLflow tracking server and model registry: PostgreSQL backend store, local artifact store."""

    name = "mlflow"
    after = ("postgres",)
    start_timeout = 180.0

    def __init__(self, paths: StackPaths):
        super().__init__(paths)
        self.uri = paths.settings(MlflowSettings).tracking_uri
        self.host, self.port = _host_port(self.uri.split("//", 1)[1].rstrip("/"))

    def endpoint(self) -> str:
        return self.uri

    def ports(self) -> list[tuple[str, int]]:
        return [(self.host, self.port)]

    def _backend(self) -> tuple[str, str]:
        """The backend store URI (no password in it: it would show in the process list) and the password,
        handed to libpq as PGPASSWORD."""
        pg = self.paths.settings(PostgresSettings)
        return f"postgresql+psycopg://{pg.user}@{pg.host}:{pg.port}/mlflow", pg.password

    def fingerprint(self) -> str:
        uri, password = self._backend()
        return hashlib.sha256(f"{uri}\n{password}\n{self.uri}".encode()).hexdigest()

    def _launch(self) -> None:
        artifacts = self.paths.data / "mlflow" / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        backend, password = self._backend()
        spawn(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                backend,
                "--artifacts-destination",
                artifacts.as_uri(),
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            self.pidfile,
            self.logfile,
            # the GenAI job runner (huey consumers, ~2 GB) serves nothing the platform uses
            env={"MLFLOW_TRACKING_URI": "", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PGPASSWORD": password},
        )

    def healthy(self) -> bool:
        return http_ok(f"{self.uri}/health")
