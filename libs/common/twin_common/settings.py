"""Typed settings shared by every service.

Each backing server has one settings class with its own environment prefix; a service composes the
ones it needs into its own settings object (a subclass of ServiceSettings). The defaults are the
addresses of the local stack (local/stack.py), so a service started next to `make up` needs no
configuration; in Kubernetes the chart sets the TWIN_* variables.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Ports of the local stack; unusual numbers so they do not collide with servers a developer already runs.
LOCAL_PG_PORT = 55432
LOCAL_KAFKA_PORT = 59092
LOCAL_KAFKA_CONTROLLER_PORT = 59093
LOCAL_CONNECT_PORT = 58083
LOCAL_REDIS_PORT = 56379
LOCAL_MLFLOW_PORT = 55000


def repo_root() -> Path:
    """The repository root (three levels above libs/common/twin_common)."""
    return Path(__file__).resolve().parents[3]


class PostgresSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWIN_PG_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = LOCAL_PG_PORT
    user: str = "twin"
    password: str = "twin"
    database: str = "twin"

    def dsn(self, database: str | None = None) -> str:
        return (
            f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database or self.database}"
        )


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWIN_KAFKA_", extra="ignore")

    bootstrap_servers: str = f"127.0.0.1:{LOCAL_KAFKA_PORT}"


class ConnectSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWIN_CONNECT_", extra="ignore")

    url: str = f"http://127.0.0.1:{LOCAL_CONNECT_PORT}"


class RedisSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWIN_REDIS_", extra="ignore")

    url: str = f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0"


class MlflowSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWIN_MLFLOW_", extra="ignore")

    tracking_uri: str = f"http://127.0.0.1:{LOCAL_MLFLOW_PORT}"


class TelemetrySettings(BaseSettings):
    """Where traces go: an OTLP collector when one is configured, else a JSON-lines file."""

    model_config = SettingsConfigDict(env_prefix="TWIN_OTEL_", extra="ignore")

    otlp_endpoint: str | None = None
    spans_file: Path | None = Field(default_factory=lambda: repo_root() / ".local" / "telemetry" / "spans.jsonl")
    enabled: bool = True


class ServiceSettings(BaseSettings):
    """Base of every service's settings object: identity, where it listens, logging, telemetry."""

    model_config = SettingsConfigDict(env_prefix="TWIN_", extra="ignore")

    service_name: str = "twin"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
