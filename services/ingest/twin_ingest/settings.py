"""Settings of the ingest service (environment variables TWIN_*; defaults fit the local stack)."""

from pydantic import Field
from twin_common.settings import LOCAL_INGEST_PORT, PostgresSettings, ServiceSettings


class IngestSettings(ServiceSettings):
    service_name: str = "twin-ingest"
    http_port: int = LOCAL_INGEST_PORT
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    max_document_bytes: int = 1_000_000
    fetch_timeout_s: float = 20.0
    migrate_on_start: bool = True

    def dsn(self) -> str:
        return self.postgres.dsn()
