"""What the stages share: clients and stores opened once per gateway process, closed when it stops.

A stage's `build(resources)` picks what it needs from here. New shared things (e.g. the guardrails' models)
may be added as optional attributes; a stage that owns a resource alone opens it in its own `start()`.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis

from twin_gateway.db import Database
from twin_gateway.events import EventSink
from twin_gateway.keys.store import KeyStore
from twin_gateway.metrics import GatewayMetrics
from twin_gateway.quotas.limiter import QuotaLimiter
from twin_gateway.rag.retrieval import TenantRetriever
from twin_gateway.request_records import RequestRecords
from twin_gateway.router.intent import IntentClassifier
from twin_gateway.router.router import ModelRouter
from twin_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


@dataclass
class Resources:
    settings: GatewaySettings
    metrics: GatewayMetrics
    executor: ThreadPoolExecutor  # blocking work (retrieval, inference streams) runs here, never on the loop
    redis: aioredis.Redis
    db: Database
    keys: KeyStore
    quotas: QuotaLimiter
    retriever: TenantRetriever
    intents: IntentClassifier
    router: ModelRouter
    events: EventSink
    records: RequestRecords
    ingest: httpx.AsyncClient  # the ingest service's internal REST API (service token set)
    extra: dict[str, Any] = field(default_factory=dict)  # room for later stages' shared objects

    async def run_blocking(self, fn, *args):
        """Run a blocking call on the gateway's worker threads."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def start(self) -> None:
        await self.events.start()

    async def close(self) -> None:
        for name, closer in (
            ("events", self.events.close),
            ("ingest", self.ingest.aclose),
            ("redis", self.redis.aclose),
            ("database", self.db.close),
            ("router", self.router.close),
        ):
            try:
                await closer()
            except Exception:
                log.exception("closing %s failed", name)
        self.retriever.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
