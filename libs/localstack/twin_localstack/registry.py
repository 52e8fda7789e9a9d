"""Which components make up the local stack: the one list to extend.

A component is a class (or function) taking StackPaths and returning a Component, or a function returning
several. Each declares its own dependencies (`after`) and group, so the order here only breaks ties and sets
the display order of `twin-stack status`. To add a server, write its Component in its own module and add one
line to SERVERS; to replace one (e.g. Redis by redis-stack), give the new class the same name ("redis") and
put it in the old one's place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twin_localstack.components import Component, Kafka, KafkaConnect, Mlflow, Postgres, Redis
from twin_localstack.observability import telemetry_components
from twin_localstack.paths import StackPaths
from twin_localstack.services import platform_services

ComponentFactory = Callable[[StackPaths], Component | Iterable[Component]]

# The backing servers: what integration tests need (`twin-stack up --servers`).
SERVERS: list[ComponentFactory] = [
    telemetry_components,  # the OpenTelemetry Collector and Jaeger (observability.py)
    Postgres,
    Redis,
    Kafka,
    KafkaConnect,
    Mlflow,
]

# The platform's own processes: migrations and services (services.py).
SERVICES: list[ComponentFactory] = [
    platform_services,
]

GROUPS = ("servers", "services")


def all_components(paths: StackPaths) -> list[Component]:
    components: list[Component] = []
    for factory in (*SERVERS, *SERVICES):
        made = factory(paths)
        components.extend([made] if isinstance(made, Component) else made)
    names = [c.name for c in components]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RuntimeError(f"two components share a name: {duplicates}")
    return components
