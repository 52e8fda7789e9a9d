"""Settings of the cdc service (environment variables TWIN_*; defaults fit the local stack)."""

from twin_common.settings import ServiceSettings


class CdcSettings(ServiceSettings):
    service_name: str = "twin-cdc"
    http_port: int = 8102
