"""Stage `retrieve`: hybrid retrieval (dense + BM25, RRF) inside the caller's tenant with the caller's filters;
hits of documents deleted since they were indexed are dropped (PostgreSQL is the source of truth), so every
passage later cited exists in the tenant at answer time.

For `ask` it leaves the ranked hits in `ctx.hits` (the generate stage turns them into the numbered context, after
the retrieval rail had its say); for `search` the hits are the answer (`ctx.result`)."""

from __future__ import annotations

from opentelemetry import trace

from twin_gateway.pipeline.context import Operation, RequestContext
from twin_gateway.pipeline.stage import Stage


class RetrieveStage(Stage):
    name = "retrieve"

    def __init__(self, resources):
        self.resources = resources
        self.settings = resources.settings.rag

    @classmethod
    def build(cls, resources) -> RetrieveStage:
        return cls(resources)

    async def run(self, ctx: RequestContext) -> None:
        if ctx.request.operation is Operation.ASK and not ctx.use_retrieval:
            return
        r = self.resources
        request = ctx.request
        top_k = min(request.top_k or self.settings.top_k, self.settings.max_top_k)
        query = ctx.prompt_text if request.operation is Operation.ASK else request.question
        rerank = self.settings.rerank if request.rerank is None else request.rerank
        # a few more than needed: some may belong to documents deleted a moment ago
        hits = await r.run_blocking(
            r.retriever.search, ctx.tenant_id, query, request.filters, top_k + max(2, top_k // 2), rerank
        )
        if self.settings.verify_citations and hits:
            existing = await r.retriever.existing_documents(ctx.tenant_id, list({h.document_id for h in hits}))
            hits = [h for h in hits if h.document_id in existing]
        hits = hits[:top_k]
        span = trace.get_current_span()
        span.set_attribute("twin.retrieval.hits", len(hits))
        span.set_attribute("twin.retrieval.top_k", top_k)
        if request.operation is Operation.ASK:
            ctx.hits = hits
        else:
            ctx.result = hits
