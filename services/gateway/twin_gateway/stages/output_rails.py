"""Stage `output_rails`: the answer through twin_guardrails' output rails as it streams, then unmasked for its caller.

Per piece (`on_delta`): the guard decides what may go out now (it holds back a partial word or digit run until it
is complete, masks PII the caller did not send, and retracts on toxicity, a malformed answer or, when the tenant
says so, a citation outside the context); what goes out has the caller's own placeholders put back. A retraction
ends the stream with a retracted final chunk (OpenAI: finish_reason "content_filter").

Once the answer is complete (`run`), `ctx.answer_text` becomes what was released, still masked: that is what the
cache and the request log keep. The `caller_answer` stage, after the request log, unmasks it for a non-streamed
response.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from twin_guardrails.masking import StreamUnmasker, unmask
from twin_guardrails.output_rails import OutputGuard
from twin_guardrails.rails import Guardrails

from twin_gateway.pipeline.context import RequestContext
from twin_gateway.pipeline.stage import Stage
from twin_gateway.stages.input_rails import guardrails_for


@dataclass
class _Answer:
    guard: OutputGuard | None
    unmasker: StreamUnmasker


class OutputRailsStage(Stage):
    name = "output_rails"

    def __init__(self, resources, rails: Guardrails):
        self.resources = resources
        self.rails = rails
        self._answers: dict[str, _Answer] = {}

    @classmethod
    def build(cls, resources) -> OutputRailsStage | None:
        rails = guardrails_for(resources)
        return cls(resources, rails) if rails is not None else None

    def _answer(self, ctx: RequestContext) -> _Answer:
        state = self._answers.get(ctx.request_id)
        if state is None:
            guard = self.rails.output.guard(
                ctx.tenant_id,
                caller_values=list(ctx.reverse_map.values()),
                citation_count=len(ctx.citations) if ctx.use_retrieval else None,
            )
            state = self._answers[ctx.request_id] = _Answer(guard, StreamUnmasker(ctx.reverse_map))

            async def forget(ctx: RequestContext) -> None:
                self._answers.pop(ctx.request_id, None)

            ctx.add_cleanup(forget)
        return state

    async def on_delta(self, ctx: RequestContext, delta: str) -> str:
        state = self._answer(ctx)
        if state.guard is None:
            return state.unmasker.feed(delta)
        step = await self.resources.run_blocking(state.guard.feed, delta)
        if step.retract is not None:
            ctx.retract(step.retract)
            return ""
        return state.unmasker.feed(step.release)

    async def on_stream_end(self, ctx: RequestContext) -> str:
        state = self._answer(ctx)
        if state.guard is None:
            return state.unmasker.flush()
        step = await self.resources.run_blocking(state.guard.finish)
        if step.retract is not None:
            ctx.retract(step.retract)
            return ""
        return state.unmasker.feed(step.release) + state.unmasker.flush()

    async def run(self, ctx: RequestContext) -> None:
        state = self._answers.get(ctx.request_id)
        if state is None or state.guard is None:
            return
        guard = state.guard
        retract = ctx.guardrails[-1] if ctx.retracted and ctx.guardrails else None
        for outcome in guard.outcomes:
            if outcome is not retract:
                ctx.record_guardrail(outcome)
        ctx.answer_text = guard.answer  # released text, leaked values masked: what the cache and the log keep
        span = trace.get_current_span()
        span.set_attribute("twin.guardrails.retracted", ctx.retracted)


class CallerAnswerStage(Stage):
    """Stage `caller_answer`, after the request log: the caller's own values back into the answer of a non-streamed
    response (a stream was unmasked piece by piece already)."""

    name = "caller_answer"

    @classmethod
    def build(cls, resources) -> CallerAnswerStage | None:
        return cls() if guardrails_for(resources) is not None else None

    async def run(self, ctx: RequestContext) -> None:
        if ctx.reverse_map and ctx.answer_text:
            ctx.answer_text = unmask(ctx.answer_text, ctx.reverse_map)
