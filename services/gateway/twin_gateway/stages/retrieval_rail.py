"""Stage `retrieval_rail`: every retrieved chunk through the injection detector before the generate stage builds
the prompt from `ctx.hits`. A flagged chunk is dropped (default) or quoted as data, per the tenant's policy; each
decision is an outcome `retrieval.injection` naming the document and chunk (never its text).

The detector's score is a pure function of a chunk's text, and the same passages are retrieved request after
request: the stage remembers the scores of the last chunks it checked (`MemoInjectionDetector`). Scoring the
retrieved chunks was the largest CPU cost of an answer (about a quarter of the gateway's CPU per request on the
instant route, `benchmarks/gateway_bench.py`); a remembered chunk costs a dictionary lookup."""

from __future__ import annotations

import dataclasses

from opentelemetry import trace
from twin_guardrails.injection import InjectionDetector, InjectionScore
from twin_guardrails.rails import Guardrails
from twin_guardrails.retrieval_rail import ChunkRef

from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage
from twin_gateway.rag.memo import TextMemo
from twin_gateway.stages.input_rails import guardrails_for


class MemoInjectionDetector:
    """An InjectionDetector that remembers the scores of the last texts it scored (the retrieval rail calls
    `score_many` only). The texts it has not seen are scored together, by the detector it wraps."""

    def __init__(self, inner: InjectionDetector, size: int = 4096):
        self.inner = inner
        self.classifier = inner.classifier
        self._scores: TextMemo[InjectionScore] = TextMemo(size)

    def score(self, text: str) -> InjectionScore:
        return self.score_many([text])[0]

    def score_many(self, texts: list[str]) -> list[InjectionScore]:
        return self._scores.many(texts, self.inner.score_many)


class RetrievalRailStage(Stage):
    name = "retrieval_rail"

    def __init__(self, resources, rails: Guardrails):
        self.resources = resources
        self.rails = rails

    @classmethod
    def build(cls, resources) -> RetrievalRailStage | None:
        rails = guardrails_for(resources)
        if rails is None:
            return None
        if not isinstance(rails.retrieval.injection, MemoInjectionDetector):  # the input rails keep the plain one
            rails.retrieval.injection = MemoInjectionDetector(rails.retrieval.injection)
        return cls(resources, rails)

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
