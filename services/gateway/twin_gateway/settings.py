"""Settings of the gateway service (environment variables TWIN_*; defaults fit the local stack)."""

from twin_common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "twin-gateway"
    http_port: int = 8106
