"""Settings of the monitor service (environment variables TWIN_*; defaults fit the local stack)."""

from twin_common.settings import ServiceSettings


class MonitorSettings(ServiceSettings):
    service_name: str = "twin-monitor"
    http_port: int = 8107
