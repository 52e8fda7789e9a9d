"""Settings of the cdc service (environment variables TWIN_*; defaults fit the local stack)."""

from pydantic import Field
from twin_common.settings import LOCAL_CDC_PORT, ConnectSettings, PostgresSettings, ServiceSettings
from twin_common.topics import CDC_TOPIC_PREFIX


class CdcSettings(ServiceSettings):
    service_name: str = "twin-cdc"
    http_port: int = LOCAL_CDC_PORT
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    connect: ConnectSettings = Field(default_factory=ConnectSettings)
    connector_name: str = "twin-documents"
    topic_prefix: str = CDC_TOPIC_PREFIX
    slot_name: str = "twin_cdc"
    publication_name: str = "twin_cdc"
    poll_interval_ms: int = 10
    supervise_interval_s: float = 10.0

    def connector_config(self) -> dict[str, str]:
        from twin_cdc.connector import connector_config

        return connector_config(
            pg=self.postgres,
            topic_prefix=self.topic_prefix,
            slot_name=self.slot_name,
            publication_name=self.publication_name,
            poll_interval_ms=self.poll_interval_ms,
        )
