"""Settings of the embedder service (environment variables TWIN_*; defaults fit the local stack)."""

from twin_common.settings import ServiceSettings


class EmbedderSettings(ServiceSettings):
    service_name: str = "twin-embedder"
    http_port: int = 8103
