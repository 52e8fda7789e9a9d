"""Settings of the trainer service (environment variables TWIN_*; defaults fit the local stack)."""

from twin_common.settings import LOCAL_TRAINER_PORT, ServiceSettings


class TrainerSettings(ServiceSettings):
    service_name: str = "twin-trainer"
    http_port: int = LOCAL_TRAINER_PORT
