"""Stage `quota`: the key's request and token buckets and its concurrency limit, in Redis (shared by replicas).
Refused: 429 / RESOURCE_EXHAUSTED with Retry-After. The slot is given back, and the tokens the request used are
charged, when the request ends (however it ends)."""

from __future__ import annotations

import logging

from opentelemetry import trace

from twin_gateway.errors import Code, GatewayError
from twin_gateway.metrics import GatewayMetrics
from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage
from twin_gateway.quotas.limiter import QuotaLimiter

log = logging.getLogger(__name__)

_MESSAGES = {
    "requests_per_minute": "request rate limit of API key {key} reached ({limit} requests per minute)",
    "tokens_per_minute": "token rate limit of API key {key} reached ({limit} tokens per minute)",
    "max_concurrent": "API key {key} already has {limit} requests running",
}


class QuotaStage(Stage):
    name = "quota"

    def __init__(self, limiter: QuotaLimiter, metrics: GatewayMetrics):
        self.limiter = limiter
        self.metrics = metrics

    @classmethod
    def build(cls, resources) -> QuotaStage:
        return cls(resources.quotas, resources.metrics)

    async def run(self, ctx: RequestContext) -> None:
        caller = ctx.caller
        assert caller is not None, "the auth stage runs first"
        limits = self.limiter.limits(caller.requests_per_minute, caller.tokens_per_minute, caller.max_concurrent)
        try:
            decision = await self.limiter.admit(caller.key_id, ctx.request_id, limits)
        except Exception as exc:  # Redis down: refuse rather than serve unmetered
            log.warning("quota store unreachable: %r", exc)
            raise GatewayError(
                Code.UNAVAILABLE,
                "the quota store is unreachable, try again",
                reason="quota_store_down",
                retry_after_s=1,
            ) from None
        trace.get_current_span().set_attribute("twin.quota.admitted", decision.admitted)
        if not decision.admitted:
            self.metrics.quota_rejections.labels(decision.limit).inc()
            limit = getattr(limits, decision.limit, None)
            raise GatewayError(
                Code.RESOURCE_EXHAUSTED,
                _MESSAGES[decision.limit].format(key=caller.key_id, limit=limit)
                + f"; retry after {decision.retry_after_s:.1f} s",
                retry_after_s=decision.retry_after_s,
                reason=decision.limit,
            )

        async def release(ctx: RequestContext) -> None:
            await self.limiter.release(caller.key_id, ctx.request_id, limits, ctx.prompt_tokens + ctx.completion_tokens)

        ctx.add_cleanup(release)
