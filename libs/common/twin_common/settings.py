"""Typed settings shared by every service.

Each backing server has one settings class with its own environment prefix; a service composes the
ones it needs into its own settings object (a subclass of ServiceSettings). The defaults are the
addresses of the local stack (local/stack.py), so a service started next to `make up` needs no
configuration; in Kubernetes the chart sets the TWIN_* variables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Ports of the local stack: unusual numbers so they do not collide with servers a developer already runs, and
# below Linux's ephemeral range (32768-60999), so an outgoing connection or a server bound to "any free port"
# can never hold one. TWIN_LOCAL_PORT_OFFSET shifts every local default (backing servers and services alike),
# so several checkouts can each run their own stack on one machine.
LOCAL_PORT_OFFSET = int(os.environ.get("TWIN_LOCAL_PORT_OFFSET", "0"))


def local_port(port: int) -> int:
    """A default port of the local stack, shifted by TWIN_LOCAL_PORT_OFFSET."""
    return port + LOCAL_PORT_OFFSET


LOCAL_PG_PORT = local_port(15432)
LOCAL_KAFKA_PORT = local_port(19092)
LOCAL_KAFKA_CONTROLLER_PORT = local_port(19093)
LOCAL_CONNECT_PORT = local_port(18083)
LOCAL_REDIS_PORT = local_port(16379)
LOCAL_MLFLOW_PORT = local_port(15000)
# Telemetry: the stack's OpenTelemetry Collector (OTLP gRPC / HTTP in) and the trace store's query API and UI.
LOCAL_OTLP_GRPC_PORT = local_port(14317)
LOCAL_OTLP_HTTP_PORT = local_port(14318)
LOCAL_TRACE_QUERY_PORT = local_port(16686)
# Default ports of the platform's own services (TWIN_HTTP_PORT / TWIN_GRPC_PORT override each).
LOCAL_INGEST_PORT = local_port(8101)
LOCAL_CDC_PORT = local_port(8102)
LOCAL_EMBEDDER_PORT = local_port(8103)
LOCAL_TRAINER_PORT = local_port(8104)
LOCAL_INFERENCE_PORT = local_port(8105)
LOCAL_INFERENCE_GRPC_PORT = local_port(8106)
LOCAL_MONITOR_PORT = local_port(8107)
LOCAL_GATEWAY_PORT = local_port(8100)
LOCAL_GATEWAY_GRPC_PORT = local_port(50051)


def repo_root() -> Path:
    """The repository root (three levels above libs/common/twin_common)."""
    return Path(__file__).resolve().parents[3]


def local_env_file() -> Path:
    """The local stack's generated settings (credentials drawn on its first start), read by every settings
    object after the process environment; absent in containers, where the environment says everything."""
    return Path(os.environ.get("TWIN_STACK_HOME", repo_root() / ".local")) / "stack.env"


def _config(env_prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=env_prefix, extra="ignore", env_file=local_env_file())


class PostgresSettings(BaseSettings):
    model_config = _config("TWIN_PG_")

    host: str = "127.0.0.1"
    port: int = LOCAL_PG_PORT
    user: str = "twin"
    password: str = "twin"
    database: str = "twin"

    def dsn(self, database: str | None = None) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database or self.database}"


class KafkaSettings(BaseSettings):
    model_config = _config("TWIN_KAFKA_")

    bootstrap_servers: str = f"127.0.0.1:{LOCAL_KAFKA_PORT}"


class ConnectSettings(BaseSettings):
    model_config = _config("TWIN_CONNECT_")

    url: str = f"http://127.0.0.1:{LOCAL_CONNECT_PORT}"


class RedisSettings(BaseSettings):
    model_config = _config("TWIN_REDIS_")

    url: str = f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0"


class MlflowSettings(BaseSettings):
    model_config = _config("TWIN_MLFLOW_")

    tracking_uri: str = f"http://127.0.0.1:{LOCAL_MLFLOW_PORT}"


class TelemetrySettings(BaseSettings):
    """Where traces and logs go (twin_common.telemetry resolves it; the standard OTEL_* variables count too):
    the OTLP endpoint configured here or by OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT; else the local stack's
    collector when it answers; else a JSON-lines file of spans."""

    model_config = _config("TWIN_OTEL_")

    otlp_endpoint: str | None = None
    otlp_protocol: Literal["grpc", "http/protobuf"] | None = None  # default: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc
    spans_file: Path | None = Field(default_factory=lambda: repo_root() / ".local" / "telemetry" / "spans.jsonl")
    enabled: bool = True
    logs: bool = True  # also send log records as OTLP logs when spans go to an OTLP endpoint
    local_collector: str | None = f"127.0.0.1:{LOCAL_OTLP_GRPC_PORT}"  # probed when no endpoint is configured
    trace_query_url: str = f"http://127.0.0.1:{LOCAL_TRACE_QUERY_PORT}"  # the trace store's API and UI


class InternalAuthSettings(BaseSettings):
    """The shared service token that internal APIs (ingest, the embedder's read view, inference) require from
    their callers (the gateway and operators), sent as the SERVICE_TOKEN_HEADER header / gRPC metadata."""

    model_config = _config("TWIN_")

    service_token: SecretStr | None = None


SERVICE_TOKEN_HEADER = "x-twin-service-token"


class ServiceSettings(BaseSettings):
    """Base of every service's settings object: identity, where it listens, logging, telemetry."""

    model_config = _config("TWIN_")

    service_name: str = "twin"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
