"""Settings of the monitor service (environment variables TWIN_*; defaults fit the local stack)."""

from twin_common.settings import LOCAL_MONITOR_PORT, ServiceSettings


class MonitorSettings(ServiceSettings):
    service_name: str = "twin-monitor"
    http_port: int = LOCAL_MONITOR_PORT
