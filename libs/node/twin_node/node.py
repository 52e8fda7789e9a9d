"""Run several services' `run` coroutines in one event loop with one shared vector store, and stop them
together: on SIGTERM/SIGINT, or as soon as one of them ends (a node is healthy only whole)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Coroutine
from typing import Any

from twin_common.settings import ServiceSettings
from twin_search.vectorstore.base import VectorStore
from twin_search.vectorstore.factory import open_vector_store

from twin_node.catalogue import NodeError, NodeService

log = logging.getLogger("twin.node")

STOP_GRACE_S = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def open_shared_store(settings: ServiceSettings) -> VectorStore:
    """The store a service's settings point at (`qdrant_url`, else the embedded engine at `store_path`)."""
    if getattr(settings, "store_path", None) is None and not getattr(settings, "qdrant_url", None):
        raise NodeError(f"{settings.service_name}: its settings name no vector store (store_path or qdrant_url)")
    return open_vector_store(getattr(settings, "qdrant_url", None), settings.store_path)


def _coroutine(service: NodeService, settings: ServiceSettings, store: VectorStore | None) -> Coroutine[Any, Any, None]:
    run = service.run_function()
    if run is None:
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
        store, own_store = open_shared_store(settings[sharing[0].name]), True
        log.info("one vector store for %s: %s", [s.name for s in sharing], type(store).__name__)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop(signum: int, frame: object) -> None:
        loop.call_soon_threadsafe(stop.set)

    # Installed before the services' HTTP servers start. Each uvicorn server puts its own handler in front and,
    # when it has stopped on a signal, restores the one before and raises the signal again: one SIGTERM stops
    # every server gracefully, last started first, and reaches this handler at the end of the chain.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS} if in_main_thread else {}
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
        await _stop_all(tasks, signalled=stop.is_set(), can_signal=in_main_thread)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if own_store and store is not None:
            store.close()
    return 1 if failed else 0


async def _stop_all(tasks: dict[asyncio.Task, str], *, signalled: bool, can_signal: bool) -> None:
    """Let every service stop gracefully (a SIGTERM to this process when none came yet), then cancel what is
    still running after the grace period."""
    pending = {t for t in tasks if not t.done()}
    if pending and can_signal and not signalled:
        signal.raise_signal(signal.SIGTERM)
    if pending:
        _, pending = await asyncio.wait(pending, timeout=STOP_GRACE_S)
    for task in pending:
        log.warning("service %s did not stop within %ss: cancelling it", tasks[task], STOP_GRACE_S)
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=STOP_GRACE_S)
