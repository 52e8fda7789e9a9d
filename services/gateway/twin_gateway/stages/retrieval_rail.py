"""Stage `retrieval_rail`: every retrieved chunk through the injection detector before the generate stage builds
the prompt from `ctx.hits`. A flagged chunk is dropped (default) or quoted as data, per the tenant's policy; each
decision is an outcome `retrieval.injection` naming the document and chunk (never its text)."""

from __future__ import annotations

import dataclasses

from opentelemetry import trace
from twin_guardrails.rails import Guardrails
from twin_guardrails.retrieval_rail import ChunkRef

from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage
from twin_gateway.stages.input_rails import guardrails_for


class RetrievalRailStage(Stage):
    name = "retrieval_rail"

    def __init__(self, resources, rails: Guardrails):
        self.resources = resources
        self.rails = rails

    @classmethod
    def build(cls, resources) -> RetrievalRailStage | None:
        rails = guardrails_for(resources)
        return cls(resources, rails) if rails is not None else None

    async def run(self, ctx: RequestContext) -> None:
        if not ctx.hits:
            return
        chunks = [
            ChunkRef(h.payload.get("text", ""), h.document_id, int(h.payload.get("position", 0))) for h in ctx.hits
        ]
        verdict = await self.resources.run_blocking(self.rails.retrieval.check, chunks, ctx.tenant_id)
        hits = []
        for index in verdict.keep:
            hit = ctx.hits[index]
            text = verdict.texts[index]
            if text != chunks[index].text:  # quoted as data
                hit = dataclasses.replace(hit, payload={**hit.payload, "text": text})
            hits.append(hit)
        ctx.hits = hits
        for outcome in verdict.outcomes:
            ctx.record_guardrail(outcome)
        span = trace.get_current_span()
        span.set_attribute("twin.guardrails.chunks_flagged", len(verdict.flagged))
        span.set_attribute("twin.guardrails.chunks_dropped", len(verdict.dropped))
        if verdict.flagged:
            ctx.log_fields["retrieval_rail"] = [o.detail for o in verdict.outcomes if o.decision != "pass"]
