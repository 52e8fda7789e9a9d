"""Stage `route`: which model route answers (the request's `model`, else the default; the key must allow it),
the intent of the question (small talk, grounded question, write in my voice, out of scope) and with it the
prompt template and its version, and whether retrieval runs. Out of scope is answered here with a fixed reply.

The question is embedded once here (the classifier's input); the retrieve stage reuses that vector."""

from __future__ import annotations

import time

from opentelemetry import trace

from twin_gateway.errors import Code, GatewayError
from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage
from twin_gateway.rag.prompt import TEMPLATES


class RouteStage(Stage):
    name = "route"

    def __init__(self, resources):
        self.resources = resources

    @classmethod
    def build(cls, resources) -> RouteStage:
        return cls(resources)

    async def run(self, ctx: RequestContext) -> None:
        r = self.resources
        route = r.router.resolve(ctx.request.route)
        if not ctx.caller.may_use_route(route):
            raise GatewayError(
                Code.PERMISSION_DENIED,
                f"API key {ctx.caller.key_id} may not use route {route!r} "
                f"(allowed: {', '.join(sorted(ctx.caller.routes))})",
                field="model",
                reason="route_not_allowed",
            )
        ctx.route = route
        started = time.perf_counter()
        vector = await r.run_blocking(r.retriever.embed_query, ctx.prompt_text)
        # retrieval work done early (the retrieve stage reuses the vector): timed apart from the routing itself
        ctx.stage_latencies_ms["embed"] = (time.perf_counter() - started) * 1000
        intent, confidence = r.intents.classify_vector(vector)
        template = TEMPLATES[intent]
        ctx.intent = intent.value
        ctx.template_version = template.version
        ctx.use_retrieval = template.retrieval
        ctx.query_embedding = [float(x) for x in vector]
        ctx.embedding_model = r.retriever.embedder.model_version
        span = trace.get_current_span()
        span.set_attribute("twin.route", route)
        span.set_attribute("twin.intent", intent.value)
        span.set_attribute("twin.intent.confidence", confidence)
        span.set_attribute("twin.template_version", template.version)
        if template.fixed_reply is not None:
            ctx.answer_early(template.fixed_reply, citations=[], model="twin-gateway", model_version=template.version)
