"""Settings of the trainer service (environment variables TWIN_*; defaults fit the local stack)."""

from twin_common.settings import ServiceSettings


class TrainerSettings(ServiceSettings):
    service_name: str = "twin-trainer"
    http_port: int = 8104
