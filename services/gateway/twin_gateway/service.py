"""The gateway's one implementation behind its three surfaces: a request in, the pipeline of its operation
run, the context (and, for `ask`, the answer's text as it streams) out. Surfaces hold no logic beyond
translating their messages to `GatewayRequest` and the context back."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from twin_common.health import HealthRegistry

from twin_gateway.errors import Code, GatewayError
from twin_gateway.metrics import GatewayMetrics
from twin_gateway.pipeline.context import GatewayRequest, Operation, RequestContext
from twin_gateway.pipeline.order import ORDER
from twin_gateway.pipeline.runner import Pipeline
from twin_gateway.resources import Resources
from twin_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, resources: Resources):
        self.resources = resources
        self.metrics = resources.metrics
        self.pipelines: dict[Operation, Pipeline] = {}
        for operation, stage_classes in ORDER.items():
            stages = [stage for cls in stage_classes if (stage := cls.build(resources)) is not None]
            self.pipelines[operation] = Pipeline(operation.value, stages, resources.metrics)

    @property
    def stages(self):
        return [stage for pipeline in self.pipelines.values() for stage in pipeline.stages]

    async def start(self) -> None:
        await self.resources.start()
        for stage in self.stages:
            await stage.start()

    async def close(self) -> None:
        for stage in self.stages:
            try:
                await stage.close()
            except Exception:
                log.exception("closing stage %s failed", stage.name)
        await self.resources.close()

    def context(self, request: GatewayRequest, credentials: str | None) -> RequestContext:
        return RequestContext(request=request, credentials=credentials, prompt_text=request.question)

    async def call(self, ctx: RequestContext) -> RequestContext:
        """Run the request to its end; raises GatewayError."""
        try:
            await self.pipelines[ctx.request.operation].call(ctx)
        finally:
            self._observe(ctx)
        return ctx

    async def stream(self, ctx: RequestContext) -> AsyncIterator[str]:
        """The answer's text as it is generated; afterwards ctx holds the final state. Raises GatewayError."""
        try:
            async for text in self.pipelines[ctx.request.operation].stream(ctx):
                yield text
        finally:
            self._observe(ctx)

    def _observe(self, ctx: RequestContext) -> None:
        request = ctx.request
        surface, operation = request.surface.value, request.operation.value
        error = ctx.error
        code = error.code.value if isinstance(error, GatewayError) else ("OK" if error is None else Code.INTERNAL.value)
        m = self.metrics
        m.requests.labels(surface, operation, code).inc()
        if code != "OK":
            m.errors.labels(surface, operation, code).inc()
        m.latency.labels(surface, operation).observe(ctx.elapsed_ms() / 1000)
        if request.operation is Operation.ASK and ctx.route:
            if ctx.ttft_ms is not None:
                m.ttft.labels(ctx.route).observe(ctx.ttft_ms / 1000)
            if ctx.tpot_ms is not None:
                m.tpot.labels(ctx.route).observe(ctx.tpot_ms / 1000)
            m.tokens.labels("prompt", ctx.route).inc(ctx.prompt_tokens)
            m.tokens.labels("completion", ctx.route).inc(ctx.completion_tokens)
            if ctx.completion_tokens:
                m.tokens_per_request.labels(ctx.route).observe(ctx.completion_tokens)
            m.cache.labels(ctx.cache_hit.value).inc()
            for outcome in ctx.guardrails:
                m.guardrails.labels(outcome.rail, outcome.decision).inc()


class GatewayRuntime:
    """A gateway that can be served before it is started: the surfaces hold the runtime, `start()` opens the
    resources and builds the pipelines (in the event loop that will serve them), `close()` releases them.
    Readiness (/readyz, grpc.health.v1) needs the key table and Redis; the dependency view (/v1/health, Health)
    adds Kafka, the ingest service and the model endpoints, which do not gate readiness."""

    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self.gateway: Gateway | None = None
        self.ready = HealthRegistry()
        self.dependencies = HealthRegistry()
        # exists before start(): /metrics (built with the app) serves this registry from the first request on
        self.metrics = GatewayMetrics()
        self._own_store = None

    async def start(self, vector_store=None, embedder=None, reranker=None) -> None:
        from twin_gateway.server import build_resources

        resources = await build_resources(self.settings, vector_store, embedder, reranker, metrics=self.metrics)
        if vector_store is None:
            self._own_store = resources.retriever.store
        self.gateway = Gateway(resources)
        await self.gateway.start()
        for registry in (self.ready, self.dependencies):
            registry.add("postgres", resources.keys.ready)
            registry.add("redis", resources.redis.ping)
        self.dependencies.add("kafka", lambda: resources.events.connected or not self.settings.request_log.enabled)

        async def ingest() -> bool:
            response = await resources.ingest.get("/healthz", timeout=2)
            return response.status_code == 200

        self.dependencies.add("ingest", ingest)
        for name, endpoint in resources.router.endpoints.items():
            client = getattr(endpoint, "client", None)
            if client is not None and hasattr(client, "is_ready"):
                self.dependencies.add(f"model:{name}", lambda c=client: resources.run_blocking(c.is_ready))

    async def close(self) -> None:
        if self.gateway is not None:
            await self.gateway.close()
            self.gateway = None
        if self._own_store is not None:
            self._own_store.close()
            self._own_store = None

    def _started(self) -> Gateway:
        if self.gateway is None:
            raise GatewayError(Code.UNAVAILABLE, "the gateway is starting, try again", retry_after_s=1)
        return self.gateway

    def context(self, request: GatewayRequest, credentials: str | None) -> RequestContext:
        return self._started().context(request, credentials)

    async def call(self, ctx: RequestContext) -> RequestContext:
        return await self._started().call(ctx)

    def stream(self, ctx: RequestContext) -> AsyncIterator[str]:
        return self._started().stream(ctx)
