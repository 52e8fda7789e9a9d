"""Stage `request_log`: one RequestLogged event per answered (or refused) question on `twin.requests`, queued
for Kafka without waiting (twin_gateway/events.py), and the record feedback needs, in Redis. Runs after early
answers and after errors too; a request refused before its key was known has no tenant and is not logged (it
is counted in the metrics)."""

from __future__ import annotations

import asyncio
import logging
import re

from twin_common.events import RequestLogged

from twin_gateway.errors import GatewayError
from twin_gateway.pipeline.context import Operation, RequestContext
from twin_gateway.pipeline.stage import Stage
from twin_gateway.request_records import RequestRecord

log = logging.getLogger(__name__)

CITATION_MARK = re.compile(r"\[(\d{1,3})\]")
RECORD_TIMEOUT_S = 0.5


def cited_numbers(text: str) -> set[int]:
    return {int(n) for n in CITATION_MARK.findall(text)}


class RequestLogStage(Stage):
    name = "request_log"
    runs_after_early_answer = True
    runs_on_error = True

    def __init__(self, resources):
        self.resources = resources
        self.settings = resources.settings.request_log

    @classmethod
    def build(cls, resources) -> RequestLogStage | None:
        return cls(resources) if resources.settings.request_log.enabled else None

    async def run(self, ctx: RequestContext) -> None:
        if ctx.request.operation is not Operation.ASK or ctx.caller is None:
            return
        event = self.event(ctx)
        self.resources.events.publish(self.settings.requests_topic, event, key=ctx.caller.tenant_id)
        if ctx.error is None and ctx.answer_text:
            record = RequestRecord(
                request_id=ctx.request_id,
                tenant_id=ctx.caller.tenant_id,
                key_id=ctx.caller.key_id,
                question=ctx.prompt_text,
                answer=ctx.answer_text,
                model=ctx.model,
                model_version=ctx.model_version,
            )
            try:
                await asyncio.wait_for(self.resources.records.save(record), RECORD_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - feedback on this answer will say "unknown request"
                log.warning("could not keep request %s for feedback: %r", ctx.request_id, exc)

    def event(self, ctx: RequestContext) -> RequestLogged:
        numbers = cited_numbers(ctx.answer_text)
        error = ctx.error if isinstance(ctx.error, GatewayError) else None
        return RequestLogged(
            request_id=ctx.request_id,
            tenant_id=ctx.caller.tenant_id,
            key_id=ctx.caller.key_id,
            surface=ctx.request.surface.value,
            route=ctx.route or ctx.request.route or "",
            intent=ctx.intent,
            model=ctx.model,
            model_version=ctx.model_version,
            template_version=ctx.template_version,
            status=ctx.status.value,
            error_code=error.code.value if error else None,
            prompt=ctx.prompt_text,
            response=ctx.answer_text or None,
            streamed=ctx.request.stream,
            latency_ms=ctx.elapsed_ms(),
            stage_latencies_ms=dict(ctx.stage_latencies_ms),
            ttft_ms=ctx.ttft_ms,
            tpot_ms=ctx.tpot_ms,
            prompt_tokens=ctx.prompt_tokens,
            completion_tokens=ctx.completion_tokens,
            cache_hit=ctx.cache_hit,
            cache_similarity=ctx.cache_similarity,
            fallbacks=ctx.fallbacks,
            retrieved_document_ids=list(dict.fromkeys(h.document_id for h in ctx.hits)),
            cited_document_ids=list(dict.fromkeys(c.document_id for c in ctx.citations if c.number in numbers)),
            query_embedding=ctx.query_embedding if self.settings.include_query_embedding else None,
            embedding_model=ctx.embedding_model,
            guardrails=list(ctx.guardrails),
            blocked_by=ctx.blocked_by,
            traceparent=ctx.traceparent,
        )
