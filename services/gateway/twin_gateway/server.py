"""Running the gateway: `await run(settings)` serves REST (+ OpenAI routes, /metrics, health) and gRPC until it is
cancelled or the process gets SIGTERM / SIGINT.

    from twin_gateway import run
    await run(settings, vector_store=store, embedder=embedder)

`vector_store` / `embedder`: pass the objects another service of the same process already opened (`twin node`
runs the embedder and the gateway in one process over one embedded Qdrant store, which admits one process);
without them the gateway opens its own (a Qdrant server at TWIN_QDRANT_URL, else the embedded store at
TWIN_STORE_PATH, which then must not be open in another process) and MiniLM in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import redis.asyncio as aioredis
from twin_common.settings import SERVICE_TOKEN_HEADER

from twin_gateway.db import Database
from twin_gateway.events import EventSink
from twin_gateway.keys.store import KeyStore
from twin_gateway.metrics import GatewayMetrics
from twin_gateway.quotas.limiter import QuotaLimiter
from twin_gateway.rag.retrieval import TenantRetriever
from twin_gateway.request_records import RequestRecords
from twin_gateway.resources import Resources
from twin_gateway.router.intent import IntentClassifier
from twin_gateway.router.router import ModelRouter
from twin_gateway.router.routes import RoutesConfig
from twin_gateway.service import GatewayRuntime
from twin_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


def service_headers(settings: GatewaySettings) -> dict[str, str]:
    token = settings.internal.service_token
    return {SERVICE_TOKEN_HEADER: token.get_secret_value()} if token else {}


def instrument_clients() -> None:
    """Trace context on outgoing gRPC (inference) and HTTP (ingest) calls; idempotent."""
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient

    instrumentor = GrpcInstrumentorClient()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


async def build_resources(
    settings: GatewaySettings, vector_store=None, embedder=None, reranker=None, metrics: GatewayMetrics | None = None
) -> Resources:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrument_clients()
    metrics = metrics or GatewayMetrics()
    executor = ThreadPoolExecutor(settings.worker_threads, thread_name_prefix="twin-gateway")
    loop = asyncio.get_running_loop()
    if vector_store is None:
        from twin_search.vectorstore.factory import open_vector_store

        vector_store = open_vector_store(settings.qdrant_url, settings.store_path)
    if embedder is None:
        from twin_search.embedding import LocalEmbedder

        embedder = await loop.run_in_executor(executor, LocalEmbedder)
    db = Database(settings.postgres.dsn())
    redis = aioredis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5)
    retriever = await loop.run_in_executor(
        executor, lambda: TenantRetriever(vector_store, embedder, settings.rag, db, reranker)
    )
    intents = await loop.run_in_executor(executor, IntentClassifier.train, retriever.embedder.embed)
    routes = (
        RoutesConfig.load(settings.routes_file) if settings.routes_file else RoutesConfig.single(settings.inference_url)
    )
    ingest = httpx.AsyncClient(
        base_url=settings.ingest_url,
        headers=service_headers(settings),
        timeout=settings.ingest_timeout_s,
        # idle connections are dropped well before the ingest server's keep-alive timeout (uvicorn: 5 s) closes them
        limits=httpx.Limits(keepalive_expiry=2.0),
    )
    HTTPXClientInstrumentor.instrument_client(ingest)
    resources = Resources(
        settings=settings,
        metrics=metrics,
        executor=executor,
        redis=redis,
        db=db,
        keys=KeyStore(db, settings.keys),
        quotas=QuotaLimiter(redis, settings.quota),
        retriever=retriever,
        intents=intents,
        router=ModelRouter(routes, executor, metrics, service_headers(settings)),
        events=EventSink(settings.kafka, settings.request_log, metrics),
        records=RequestRecords(redis, settings.request_log.record_ttl_s),
        ingest=ingest,
    )
    return resources


async def run(
    settings: GatewaySettings | None = None,
    vector_store=None,
    embedder=None,
    *,
    reranker=None,
    started: asyncio.Event | None = None,
) -> None:
    """Serve REST and gRPC until cancelled or signalled; closes what it opened (not a store it was given)."""
    import uvicorn

    from twin_gateway.surfaces.grpc_api import build_grpc_server, follow_readiness
    from twin_gateway.surfaces.http_app import build_app

    runtime = GatewayRuntime(settings or GatewaySettings())
    settings = runtime.settings
    await runtime.start(vector_store, embedder, reranker)
    app = build_app(runtime)
    host = settings.grpc_host or settings.http_host
    grpc_server, health_servicer, _ = build_grpc_server(
        runtime, f"{host}:{settings.grpc_port}", settings.limits.max_body_bytes
    )
    await grpc_server.start()
    follower = asyncio.create_task(follow_readiness(health_servicer, runtime.ready))
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=settings.http_host, port=settings.http_port, log_config=None, timeout_graceful_shutdown=5
        )
    )
    serving = asyncio.create_task(server.serve())
    log.info(
        "gateway: REST on %s:%d, gRPC on %s:%d, routes %s",
        settings.http_host,
        settings.http_port,
        host,
        settings.grpc_port,
        ", ".join(runtime.gateway.resources.router.route_names),
    )
    try:
        if started is not None:
            while not server.started and not serving.done():
                await asyncio.sleep(0.02)
            started.set()
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await serving
        raise
    finally:
        follower.cancel()
        await grpc_server.stop(grace=2)
        await runtime.close()
