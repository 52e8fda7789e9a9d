"""Stage `input_rails`: the user's message (and earlier chat turns) through twin_guardrails' input rails under the
tenant's policy. Masked values become placeholders in `ctx.prompt_text` (what the model, the cache, the request
log and spans see) and the reverse map goes to `ctx.reverse_map` (the `output_rails` stage unmasks the answer for
this caller). A block is FAILED_PRECONDITION / HTTP 422 / OpenAI 400 `content_filter` naming the rail only.

The rails' models are shared with the retrieval and output rail stages (`guardrails_for`)."""

from __future__ import annotations

import dataclasses

from opentelemetry import trace
from twin_guardrails.observe import GuardrailMetrics
from twin_guardrails.rails import Guardrails
from twin_guardrails.settings import GuardrailSettings

from twin_gateway.errors import Code, GatewayError
from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage

PERSONAL = "personal"  # ctx.log_fields key: the message held something personal (the cache stays out)


def guardrails_for(resources) -> Guardrails | None:
    """The process's rails, built on first use (None when switched off by TWIN_GUARDRAILS_ENABLED=false)."""
    if "guardrails" not in resources.extra:
        settings = GuardrailSettings()
        resources.extra["guardrails"] = (
            Guardrails(settings, resources.metrics.component("guardrails", GuardrailMetrics))
            if settings.enabled
            else None
        )
    return resources.extra["guardrails"]


class InputRailsStage(Stage):
    name = "input_rails"

    def __init__(self, resources, rails: Guardrails):
        self.resources = resources
        self.rails = rails

    @classmethod
    def build(cls, resources) -> InputRailsStage | None:
        rails = guardrails_for(resources)
        return cls(resources, rails) if rails is not None else None

    async def run(self, ctx: RequestContext) -> None:
        tenant = ctx.tenant_id
        verdict = await self.resources.run_blocking(self.rails.input.check, ctx.prompt_text, tenant)
        ctx.prompt_text = verdict.text
        ctx.reverse_map = dict(verdict.reverse_map)
        for outcome in verdict.outcomes:
            ctx.record_guardrail(outcome)
        if ctx.request.history and not verdict.blocked:
            ctx.request = dataclasses.replace(ctx.request, history=await self._masked_history(ctx))
        if verdict.personal or ctx.reverse_map:
            ctx.log_fields[PERSONAL] = True
        span = trace.get_current_span()
        span.set_attribute("twin.guardrails.masked", ",".join(sorted(verdict.masked_entities)))
        if verdict.blocked:
            ctx.blocked_by = verdict.blocked_by
            span.set_attribute("twin.guardrails.blocked_by", verdict.blocked_by)
            raise GatewayError(
                Code.FAILED_PRECONDITION,
                f"the request was blocked by the guardrail {verdict.blocked_by}",
                reason="content_filter",
            )

    async def _masked_history(self, ctx: RequestContext) -> tuple[dict[str, str], ...]:
        """Earlier turns go to the model too: their values are masked with the same placeholders."""
        turns = []
        for turn in ctx.request.history:
            text, ctx.reverse_map = await self.resources.run_blocking(
                self.rails.input.mask_text, turn.get("content", ""), ctx.tenant_id, ctx.reverse_map
            )
            turns.append({**turn, "content": text})
        return tuple(turns)
