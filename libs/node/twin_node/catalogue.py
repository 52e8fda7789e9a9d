"""The services a node can run: where each one's `run` coroutine and settings class live.

The contract with a service: its module has `async def run(settings, ...)` that serves until cancelled or
until its HTTP server exits on a signal, and cleans up in `finally`; when it also takes `vector_store`, the
node passes the one store it opened for all of them (the service must not close it).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from twin_common.settings import ServiceSettings


class NodeError(RuntimeError):
    """A node cannot run what it was asked to."""


@dataclass(frozen=True)
class NodeService:
    name: str
    module: str  # holds `async def run(settings, ...)`
    settings_class: str  # "module:Class"

    def load_settings(self) -> ServiceSettings:
        module, _, cls = self.settings_class.partition(":")
        return getattr(importlib.import_module(module), cls)()

    def run_function(self) -> Callable[..., Coroutine[Any, Any, None]] | None:
        run = getattr(importlib.import_module(self.module), "run", None)
        return run if run is not None and inspect.iscoroutinefunction(run) else None

    def takes_vector_store(self) -> bool:
        run = self.run_function()
        return run is not None and "vector_store" in inspect.signature(run).parameters


CATALOGUE: dict[str, NodeService] = {
    service.name: service
    for service in (
        NodeService("embedder", "twin_embedder.__main__", "twin_embedder.settings:EmbedderSettings"),
        NodeService("gateway", "twin_gateway.__main__", "twin_gateway.settings:GatewaySettings"),
        NodeService("monitor", "twin_monitor.__main__", "twin_monitor.settings:MonitorSettings"),
    )
}

# What `twin node` runs when no service is named: the two that share the embedded vector store.
DEFAULT_SERVICES = ("embedder", "gateway")


def lookup(names: list[str]) -> list[NodeService]:
    unknown = [n for n in names if n not in CATALOGUE]
    if unknown:
        raise NodeError(f"unknown service(s) {unknown}; a node can run: {', '.join(CATALOGUE)}")
    if len(set(names)) != len(names):
        raise NodeError(f"a service is named twice: {names}")
    return [CATALOGUE[n] for n in names]
