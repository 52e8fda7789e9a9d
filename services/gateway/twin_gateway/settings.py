"""Settings of the gateway service (environment variables TWIN_*; defaults fit the local stack)."""

from twin_common.settings import LOCAL_GATEWAY_GRPC_PORT, LOCAL_GATEWAY_PORT, ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "twin-gateway"
    http_port: int = LOCAL_GATEWAY_PORT  # REST, the OpenAI-compatible routes and the web app
    grpc_port: int = LOCAL_GATEWAY_GRPC_PORT  # twin.v1.Gateway
