"""Run several services' `run` coroutines in one event loop with one shared vector store, and stop them
together: on SIGTERM/SIGINT, or as soon as one of them ends (a node is healthy only whole)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from twin_common.settings import ServiceSettings
from twin_search.vectorstore.base import VectorStore

from twin_node.catalogue import NodeError, NodeService

log = logging.getLogger("twin.node")

STOP_GRACE_S = 20.0


def open_vector_store(settings: ServiceSettings) -> VectorStore:
    """The store a service's settings point at: a Qdrant server (`qdrant_url`) or the embedded engine at
    `store_path`."""
    qdrant_url = getattr(settings, "qdrant_url", None)
    if qdrant_url:
        from twin_search.vectorstore.qdrant_server import QdrantServerStore

        return QdrantServerStore.connect(url=qdrant_url)
    store_path = getattr(settings, "store_path", None)
    if store_path is None:
        raise NodeError(f"{settings.service_name}: its settings name no vector store (store_path or qdrant_url)")
    from twin_search.vectorstore.edge import EdgeVectorStore

    Path(store_path).parent.mkdir(parents=True, exist_ok=True)
    return EdgeVectorStore(store_path)


async def serve_health_only(settings: ServiceSettings) -> None:
    """What a scaffold service's entry point serves today: /healthz and /readyz."""
    import uvicorn
    from twin_common.health import HealthRegistry
    from twin_common.service import build_http_app

    app = build_http_app(settings, HealthRegistry())
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_config=None)
    await uvicorn.Server(config).serve()


def _coroutine(service: NodeService, settings: ServiceSettings, store: VectorStore | None) -> Coroutine[Any, Any, None]:
    run = service.run_function()
    if run is None:
        if service.scaffold:
            log.info("%s has no run coroutine yet: serving its health endpoints", service.name)
            return serve_health_only(settings)
        raise NodeError(f"{service.name}: {service.module} has no `async def run(settings)`")
    if store is not None and service.takes_vector_store():
        return run(settings, vector_store=store)
    return run(settings)


async def run_node(
    services: list[NodeService],
    settings: dict[str, ServiceSettings],
    vector_store: VectorStore | None = None,
) -> int:
    """Serve until a signal or until one service ends; return 1 if a service failed, else 0."""
    sharing = [s for s in services if s.takes_vector_store()]
    store, own_store = vector_store, False
    if store is None and sharing:
        store, own_store = open_vector_store(settings[sharing[0].name]), True
        log.info("one vector store for %s: %s", [s.name for s in sharing], type(store).__name__)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop(signum: int, frame: object) -> None:
        loop.call_soon_threadsafe(stop.set)

    # installed before the services' HTTP servers start: uvicorn chains to it when it hands a signal back
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    tasks = {asyncio.create_task(_coroutine(s, settings[s.name], store), name=s.name): s.name for s in services}
    stopping = asyncio.create_task(stop.wait())
    failed: list[str] = []
    try:
        done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is stopping or task.cancelled():
                continue
            if task.exception() is not None:
                failed.append(tasks[task])
                log.error("service %s failed; stopping the node", tasks[task], exc_info=task.exception())
            elif not stop.is_set():
                log.info("service %s ended; stopping the node", tasks[task])
    finally:
        stopping.cancel()
        for task in tasks:
            task.cancel()
        finished, unfinished = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        for task in finished:
            if not task.cancelled() and task.exception() is not None and tasks[task] not in failed:
                log.warning("service %s raised while stopping", tasks[task], exc_info=task.exception())
        if unfinished:
            log.warning("services %s did not stop in %ss", [tasks[t] for t in unfinished], STOP_GRACE_S)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if own_store and store is not None:
            store.close()
    return 1 if failed else 0
