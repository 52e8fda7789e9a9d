"""Stage `embed`: vectors of the caller's texts with the model retrieval uses (OpenAI /v1/embeddings)."""

from __future__ import annotations

from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage


class EmbedStage(Stage):
    name = "embed"

    def __init__(self, resources):
        self.resources = resources

    @classmethod
    def build(cls, resources) -> EmbedStage:
        return cls(resources)

    async def run(self, ctx: RequestContext) -> None:
        r = self.resources
        inputs = list(ctx.request.inputs)
        vectors = await r.run_blocking(r.retriever.embedder.inner.embed, inputs)
        ctx.prompt_tokens = sum(await r.run_blocking(lambda: [r.retriever.embedder.count_tokens(t) for t in inputs]))
        ctx.model = "twin-embed"
        ctx.model_version = r.retriever.embedder.model_version
        ctx.result = vectors
