"""Settings of the inference service (environment variables TWIN_*; defaults fit the local stack)."""

from twin_common.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    service_name: str = "twin-inference"
    http_port: int = 8105
