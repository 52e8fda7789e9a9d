"""Settings of the ingest service (environment variables TWIN_*; defaults fit the local stack)."""

from twin_common.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    service_name: str = "twin-ingest"
    http_port: int = 8101
