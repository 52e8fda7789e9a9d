"""Stage `generate`: the numbered context from the (possibly railed) hits, the versioned prompt, and the
answer streamed from the route's first endpoint able to start it (fallbacks, breakers and retries in
`router/router.py`). It opens `ctx.token_stream`; the pipeline runner drains it through the later stages."""

from __future__ import annotations

from opentelemetry import trace

from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage
from twin_gateway.rag.prompt import TEMPLATES
from twin_gateway.router.intent import Intent


class GenerateStage(Stage):
    name = "generate"

    def __init__(self, resources):
        self.resources = resources

    @classmethod
    def build(cls, resources) -> GenerateStage:
        return cls(resources)

    async def run(self, ctx: RequestContext) -> None:
        r = self.resources
        request = ctx.request
        template = TEMPLATES[Intent(ctx.intent)]
        if ctx.use_retrieval:
            top_k = min(request.top_k or r.settings.rag.top_k, r.settings.rag.max_top_k)
            built = r.retriever.context(ctx.hits, top_k)
            ctx.citations = built.citations
            ctx.context_text = built.text
        ctx.messages = template.messages(ctx.prompt_text, ctx.context_text, request.history)
        sampling = r.router.sampling(ctx.route, request.generation)
        ctx.token_stream = await r.router.open(ctx, ctx.route, ctx.messages, sampling)
        span = trace.get_current_span()
        span.set_attribute("twin.endpoint", ctx.endpoint or "")
        span.set_attribute("twin.model", ctx.model or "")
        span.set_attribute("twin.fallbacks", ctx.fallbacks)
        span.set_attribute("twin.citations", len(ctx.citations))
